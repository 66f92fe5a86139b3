"""The floors under issue 14's in-process targets: what the first pledge() must do
before it can enforce anything, each timed alone in fresh interpreters.

    python3 benchmarks/floors.py [--children 21]     (as root or not; from any directory)

Each row is a step the first ``pledge("stdio rpath")`` cannot skip without giving up
behaviour another issue requires, timed with ``time.perf_counter_ns`` around it alone
in a fresh child of the installed package (medians and 25th-75th percentiles):

* ``import _cffi_backend``: the handler module is a cffi module (the design card's
  package), and cffi's backend is a shared object of its own;
* loading the handler module itself (``_sigsys``, dlopen and cffi's type tables), by
  its file, without pledgepy's build checks;
* the preloads: glibc's NSS modules for the lookups "stdio rpath" keeps working
  (``nss.prepare``) and libgcc_s, which ends threads (``unwind.prepare``): loaded before
  the filter refuses mapping code (the name-lookup and thread-exit faults of round 10);
* a one-instruction filter installed on every thread (``seccomp(SET_MODE_FILTER, TSYNC)``
  of ``ret ALLOW``), the kernel's own cost of a filter, through ctypes.

The sum of the first three is what the first pledge costs before its own work starts;
the target is 1 ms for all of it (issue 14). Prints markdown for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time, os
step = sys.argv[1]
out = {}
if step == "cffi":
    t0 = time.perf_counter_ns(); import _cffi_backend; t1 = time.perf_counter_ns()
elif step == "module":
    import _cffi_backend, glob, importlib.util as u
    # by its file, pledgepy not imported: the package's own loader also checks the digest
    top = u.find_spec("pledgepy").submodule_search_locations[0]
    path = glob.glob(os.path.join(top, "backends", "linux", "native", "_sigsys*.so"))[0]
    spec = u.spec_from_file_location("pledgepy.backends.linux.native._sigsys", path)
    t0 = time.perf_counter_ns()
    mod = u.module_from_spec(spec); spec.loader.exec_module(mod); mod.lib.pp_landlock_probe
    t1 = time.perf_counter_ns()
elif step == "preloads":
    import pledgepy
    from pledgepy import api
    api.backend()
    from pledgepy.backends.linux import nss, unwind
    new = frozenset({"stdio", "rpath"})
    t0 = time.perf_counter_ns(); nss.prepare(None, new); unwind.prepare(None, new)
    t1 = time.perf_counter_ns()
elif step == "filter":
    import ctypes, struct
    libc = ctypes.CDLL(None, use_errno=True)
    prog = struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000)  # BPF_RET|BPF_K, SECCOMP_RET_ALLOW
    buf = ctypes.create_string_buffer(prog)
    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
    fp = Fprog(1, ctypes.cast(buf, ctypes.c_void_p))
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    t0 = time.perf_counter_ns()
    rc = libc.syscall(317, 1, 1, ctypes.byref(fp))  # seccomp(SET_MODE_FILTER, TSYNC)
    t1 = time.perf_counter_ns()
    assert rc == 0, ctypes.get_errno()
print(json.dumps({"ns": t1 - t0}))
"""

STEPS = {
    "cffi": "`import _cffi_backend` (cffi's own shared object)",
    "module": "loading the handler module `_sigsys` by its file (dlopen, cffi's tables)",
    "preloads": "the preloads for `stdio rpath`: NSS modules and libgcc_s (dlopen)",
    "filter": "the kernel installing a 1-instruction filter on every thread (TSYNC)",
}


def _run(step: str) -> float:
    r = subprocess.run([sys.executable, "-c", CHILD, step], capture_output=True, text=True,
                       cwd="/")
    if r.returncode != 0:
        raise SystemExit(f"floors: step {step} failed: {r.stderr.strip()}")
    return float(json.loads(r.stdout)["ns"]) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--children", type=int, default=21)
    opts = ap.parse_args()
    if platform.machine() != "x86_64":
        raise SystemExit("floors: the filter step's syscall number is x86-64's")
    times: dict[str, list[float]] = {s: [] for s in STEPS}
    for _ in range(opts.children):  # interleaved: each round runs every step once
        for step in STEPS:
            times[step].append(_run(step))
    print(f"Command: `python3 benchmarks/floors.py --children {opts.children}`. Machine: "
          f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load {os.getloadavg()[0]:.1f}.\n")
    print("| step the first pledge() cannot skip | median | 25th–75th |")
    print("|---|---|---|")
    total = 0.0
    for step, what in STEPS.items():
        q = statistics.quantiles(times[step], n=4)
        med = statistics.median(times[step])
        if step != "filter":
            total += med
        print(f"| {what} | {med:.2f} ms | {q[0]:.2f}–{q[2]:.2f} ms |")
    print(f"\nThe first three together: {total:.2f} ms (medians summed), against the "
          "target of 1 ms for the whole first pledge(), backend load included.")


if __name__ == "__main__":
    main()
