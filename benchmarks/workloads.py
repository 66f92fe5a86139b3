"""The same work done with pledgepy and with each peer, as ``python -c`` programs.

Shared by callgrind_counts.py (instructions, deterministic) and compare.py (timings), so
both measure exactly the same programs.  Every program does the whole job of its row:
import, build, apply; the peers build libseccomp's filter of pledgepy's own policy for
"stdio rpath" (peer_filters.py; rules precomputed here, so the peer is not charged for
pledgepy's planning) and Landlock rules for the same ten directories.

A program that measures itself prints ``ns=<int>`` (perf_counter_ns around the apply).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"

_CANDIDATES = ["/usr/lib", "/usr/share", "/usr/include", "/etc", "/tmp", "/var/tmp",
               "/usr/bin", "/usr/sbin", "/usr/local", "/opt", "/var/lib", "/srv", "/var"]
PATHS = [p for p in _CANDIDATES if os.path.isdir(p)][:10]


def _rows() -> str:
    sys.path.insert(0, str(HERE))
    import peer_filters

    return json.dumps(peer_filters.policy_rows("stdio rpath")[0])


def _libseccomp(module: str, tree: bool) -> str:
    """Build and load libseccomp's filter of the policy with *module* (its own Python)."""
    optimize = "f.set_attr(m.Attr.CTL_OPTIMIZE, 2)\n" if tree else ""
    return f"""
import json, time
t0 = time.perf_counter_ns()
import {module} as m
t1 = time.perf_counter_ns()
f = m.SyscallFilter(m.ERRNO(1))
{optimize}for action, name, tests in json.loads(ROWS):
    act = m.ALLOW if action == "allow" else m.ERRNO(int(action))
    try:
        f.add_rule(act, name, *[m.Arg(i, m.MASKED_EQ, k, v) for i, k, v in tests])
    except Exception:
        pass
f.load()
t2 = time.perf_counter_ns()
"""


PLEDGEPY_UNVEIL = "".join(f"pledgepy.unveil({p!r}, 'r')\n" for p in PATHS)


def _directories(count: int) -> list[str]:
    """*count* existing directories (none a symlink), the same on each run here: none
    of them holds the standard library or /proc, so the lock prepares the exec wrappers
    (as bench_startup.py's temporary directories)."""
    found: list[str] = []
    for top in ("/usr/share", "/usr/lib", "/usr/include", "/etc"):
        try:
            names = sorted(os.listdir(top))
        except OSError:
            continue
        found += [p for p in (os.path.join(top, n) for n in names)
                  if os.path.isdir(p) and not os.path.islink(p)]
    return found[:count]


PATHS_100 = _directories(100)
PLEDGEPY_UNVEIL_100 = "".join(f"pledgepy.unveil({p!r}, 'r')\n" for p in PATHS_100)
#: The backend loaded, the plans of "stdio rpath" and of its narrowing to "stdio" built,
#: and each compiled once (the compiler warm): the baseline of the compile measures.
PLEDGEPY_COMPILE = (
    "import pledgepy\nfrom pledgepy.backends.linux import LinuxBackend\nLinuxBackend()\n"
    "from pledgepy.backends.linux.seccomp import filter, kernel, plan\n"
    "full = plan.build(frozenset({'stdio', 'rpath'}), kernel.arch())\n"
    "delta = plan.narrow(full, frozenset({'stdio'})).delta(full)\n"
    "filter.compile_plan(full)\nfilter.compile_plan(delta)\n")

#: name -> (interpreter: "venv" (this one) or "system", program).  ``t0``/``t1``/``t2``
#: when set: start, after import/build, after apply (for the in-process apply time).
PROGRAMS: dict[str, tuple[str, str]] = {
    "pass": ("venv", "pass"),
    "system pass": ("system", "pass"),
    "pledgepy import": ("venv", "import pledgepy"),
    "pledgepy pledge": ("venv", "import time\nt0 = time.perf_counter_ns()\nimport pledgepy\n"
                        "t1 = time.perf_counter_ns()\npledgepy.pledge('stdio rpath')\n"
                        "t2 = time.perf_counter_ns()\n"),
    "pledgepy narrow": ("venv", "import pledgepy\npledgepy.pledge('stdio rpath')\n"
                        "import time\nt1 = time.perf_counter_ns()\npledgepy.pledge('stdio')\n"
                        "t2 = time.perf_counter_ns()\n"),
    "pledgepy backend": ("venv", "import pledgepy\nfrom pledgepy.backends.linux import "
                         "LinuxBackend\nLinuxBackend()\n"),
    # the pledge command's parent: its imports, then the backend it loads for every run
    "pledgepy cli import": ("venv", "import pledgepy.cli"),
    "pledgepy cli backend": ("venv", "import pledgepy.cli\nfrom pledgepy import api\n"
                             "api.backend()\n"),
    # ...and what its parent adds on every run: the shim's build check (before the fork),
    # the supervisor's modules with its answers (after it, before the program runs)
    "pledgepy cli parent": ("venv", "import pledgepy.cli\nfrom pledgepy import api\n"
                            "api.backend()\nfrom pledgepy.backends.linux.exec import shim\n"
                            "shim.library()\nfrom pledgepy.backends.linux.exec import "
                            "supervise, answer, ttyopen\n"),
    "pledgepy compile": ("venv", PLEDGEPY_COMPILE),
    "pledgepy compile full x10": ("venv", PLEDGEPY_COMPILE
                                  + "for _ in range(10):\n    filter.compile_plan(full)\n"),
    "pledgepy compile delta x10": ("venv", PLEDGEPY_COMPILE
                                   + "for _ in range(10):\n    filter.compile_plan(delta)\n"),
    "pledgepy unveil": ("venv", "import time\nimport pledgepy\nt1 = time.perf_counter_ns()\n"
                        + PLEDGEPY_UNVEIL + "pledgepy.unveil(None, None)\n"
                        "t2 = time.perf_counter_ns()\n"),
    "pledgepy unveil 100": ("venv", "import pledgepy\n" + PLEDGEPY_UNVEIL_100
                            + "pledgepy.unveil(None, None)\n"),
    "pyseccomp tree": ("venv", "__ROWS__" + _libseccomp("pyseccomp", True)),
    "pyseccomp default": ("venv", "__ROWS__" + _libseccomp("pyseccomp", False)),
    "python3-seccomp tree": ("system", "__ROWS__" + _libseccomp("seccomp", True)),
    "landlock": ("venv", "import time\nt0 = time.perf_counter_ns()\nimport landlock\n"
                 "t1 = time.perf_counter_ns()\nr = landlock.Ruleset()\n"
                 f"r.allow(*{PATHS!r})\nr.apply()\nt2 = time.perf_counter_ns()\n"),
    "sandlock": ("venv", "import time\nt0 = time.perf_counter_ns()\nimport sandlock\n"
                 "t1 = time.perf_counter_ns()\n"
                 f"sandlock.confine(sandlock.Sandbox(fs_readable={PATHS!r}))\n"
                 "t2 = time.perf_counter_ns()\n"),
}
REPORT = "if 't2' in dir(): print(f'ns={t2 - t1}')\n"


def env(pycache: str) -> dict[str, str]:
    """The environment to run programs in: bytecode cached (under *pycache*), as in an
    installed copy, even where PYTHONDONTWRITEBYTECODE is set."""
    out = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out["PYTHONPYCACHEPREFIX"] = pycache
    return out


def interpreter(kind: str) -> str:
    return sys.executable if kind == "venv" else SYSTEM_PYTHON


def available(name: str) -> str | None:
    """Why *name* cannot run here, or None."""
    kind, code = PROGRAMS[name]
    if name == "pledgepy unveil 100" and len(PATHS_100) < 100:
        return f"only {len(PATHS_100)} directories found for it"
    if kind == "system" and not os.path.exists(SYSTEM_PYTHON):
        return "no system python3"
    module = {"pyseccomp": "pyseccomp", "python3-seccomp": "seccomp", "landlock": "landlock",
              "sandlock": "sandlock", "pledgepy": "pledgepy"}.get(name.split()[0])
    if module is None:
        return None
    import subprocess
    ok = subprocess.run([interpreter(kind), "-c", f"import {module}"],
                        capture_output=True).returncode == 0
    return None if ok else f"{module} is not importable by {interpreter(kind)}"


def program(name: str, report: bool = False) -> list[str]:
    """argv running *name* (with ``ns=`` printed when *report*)."""
    kind, code = PROGRAMS[name]
    if code.startswith("__ROWS__"):
        code = f"ROWS = {_rows()!r}\n" + code[len("__ROWS__"):]
    return [interpreter(kind), "-W", "ignore", "-c", code + "\n" + (REPORT if report else "")]
