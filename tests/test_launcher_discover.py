"""The native launcher's discovery (launcher/discover.c) against the Python command's.

For every job discover.c takes (PL_OK) the Python command, run to the same point
(cli._job, cli._after_loader, cli._held_more, the supervisor's gaps, run.default_unveil),
must say nothing and give the same job field by field, rules in the same order; every
job it would say something about must be one discover.c hands back (PL_FALLBACK).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import pledgepy
from pledgepy import api, cli
from pledgepy.backends.base import ExecSupervisor
from pledgepy.command import discover, elf, options, run
from pledgepy.errors import NativeBuildError
from pledgepy.promises import bits
from tests.test_unveil import nobody_can_run

CC = shutil.which("cc") or shutil.which("gcc")
DATA = Path(__file__).parent / "data"
PACKAGE = Path(pledgepy.__file__).resolve().parent
LAUNCHER = PACKAGE / "backends" / "linux" / "native" / "launcher"
PL_OK, PL_FALLBACK = 0, 1
PROMISE_SETS = ("stdio", "stdio rpath", "stdio rpath dns", "stdio inet", "stdio rpath getpw",
                "stdio rpath prot_exec", "stdio rpath prot_exec exec", "stdio exec",
                "stdio tty", "stdio proc", "stdio tmppath", "stdio rpath wpath cpath inet dns")


def build(where: Path) -> Path:
    """The driver, compiled into *where* (mode 755: a nobody run reads it)."""
    out = where / "ldisc_driver"
    subprocess.run([str(CC), "-O2", "-Wall", "-Wextra", "-Werror", f"-I{LAUNCHER}",
                    f'-DPL_PACKAGE_DIR="{PACKAGE}"',
                    f'-DPL_CACHE_TAG="{sys.implementation.cache_tag}"',
                    f'-DDIGEST_C="{PACKAGE / "backends/linux/native/digest.c"}"',
                    "-o", str(out), str(DATA / "ldisc_driver.c"), str(LAUNCHER / "discover.c"),
                    str(LAUNCHER / "lists.c")], check=True)
    return out


@pytest.fixture(scope="module")
def driver() -> Iterator[Path]:
    if CC is None:
        pytest.skip("no C compiler")
    where = Path(tempfile.mkdtemp(prefix="ldisc-"))
    try:
        where.chmod(0o755)
        yield build(where)
    finally:
        shutil.rmtree(where)


Job = tuple[str, str, tuple[tuple[str, str], ...]]  # prog, promises, -v (path, perms)


def native(drv: Path, jobs: list[Job], env: dict[str, str] | None = None) -> list[list[str]]:
    text = "".join("\t".join([f"{bits(frozenset(p.split())):x}", prog,
                              *(f"{w}\x1f{m}" for w, m in vs)]) + "\n" for prog, p, vs in jobs)
    out = subprocess.run([str(drv)], input=text, capture_output=True, text=True, check=True,
                         env=env, errors="surrogateescape").stdout.split("\n")[:-1]
    assert len(out) == len(jobs)
    return [line.split("\t") for line in out]


_SUPERVISOR: list[object] = []


def _supervisor() -> ExecSupervisor:
    """One supervisor for every job (each makes a pipe it keeps)."""
    if not _SUPERVISOR:
        _SUPERVISOR.append(api.backend().exec_supervisor())
    got = _SUPERVISOR[0]
    assert got is not None
    return got  # type: ignore[return-value]


def reference(prog: str, text: str, unveils: tuple[tuple[str, str], ...]) -> dict[str, object] | None:
    """The Python command's job, or None when it would say something (a note, an error)."""
    argv = ["-p", text, *(a for w, m in unveils for a in ("-v", f"{m}:{w}")), prog]
    opts = options.parse(argv)
    elf.remember()
    try:
        job, asked = cli._job(opts)
        supervisor = _supervisor()
        job, why = cli._after_loader(opts, job, asked, supervisor)
        held = job.after or job.promises
        if cli._held_more(opts, asked, held, why, True) or supervisor.gaps(job.promises):
            return None
        if "tmppath" in held:
            return None
        rules, notes = run.default_unveil(job)
        if notes:
            return None
        return {"path": job.path, "dynamic": discover.dynamic(job.path),
                "promises": bits(job.promises), "after": bits(job.after or job.promises),
                "shim": job.shim or "", "load": list(job.load), "rules": rules}
    except (ValueError, LookupError, discover.ProgramError, NativeBuildError):
        return None
    finally:
        elf.forget()


def compare(drv: Path, jobs: list[Job]) -> tuple[int, int, list[str]]:
    """(jobs, taken by C, differences)"""
    fast, diffs = 0, []
    for (prog, text, vs), got in zip(jobs, native(drv, jobs), strict=True):
        rc = int(got[0])
        assert rc in (PL_OK, PL_FALLBACK), (prog, text, got)
        if rc != PL_OK:
            continue
        fast += 1
        want = reference(prog, text, vs)
        if want is None:
            diffs.append(f"{prog} -p {text!r}: C took a job the Python command says something about")
            continue
        have = {"path": got[1], "dynamic": got[2] == "1", "promises": int(got[3], 16),
                "after": int(got[4], 16), "shim": got[5],
                "load": got[6].split("\x1e") if got[6] else [],
                "rules": [tuple(r.split("\x1f")) for r in got[7].split("\x1e")] if got[7] else []}
        for key in want:
            if have[key] != want[key]:
                diffs.append(f"{prog} -p {text!r}: {key}: C {have[key]!r} != Python {want[key]!r}")
    return len(jobs), fast, diffs


def programs() -> list[str]:
    out: list[str] = []
    for d in ("/usr/bin", "/usr/sbin"):
        out += sorted(os.path.join(d, n) for n in os.listdir(d))
    libs = []
    for top in ("/usr/lib/x86_64-linux-gnu", "/usr/lib"):
        for root, _, files in os.walk(top):
            libs += [os.path.join(root, f) for f in files
                     if os.access(os.path.join(root, f), os.X_OK)]
    out += random.Random(14).sample(sorted(libs), min(400, len(libs)))
    out += [sys.executable, os.path.realpath(sys.executable)]
    pyenv = os.path.expanduser("~/.pyenv/versions")
    if os.path.isdir(pyenv):
        out += [os.path.join(pyenv, v, "bin", "python3") for v in sorted(os.listdir(pyenv))]
    return out


def test_every_program_and_promise_set(driver: Path, tmp_path: Path) -> None:
    static = tmp_path / "static_true"
    src = tmp_path / "t.c"
    src.write_text("int main(void) { return 0; }\n")
    subprocess.run([str(CC), "-static", "-o", str(static), str(src)], check=True)
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o755)
    link = tmp_path / "ls-link"
    link.symlink_to("/usr/bin/ls")
    extra = [str(static), str(script), str(link), str(tmp_path / "missing"), "ls", "true",
             "cat", "no-such-program-here", "python3", "env"]
    progs = programs() + extra
    jobs = [(p, t, ()) for p in progs for t in PROMISE_SETS]
    n, fast, diffs = compare(driver, jobs)
    print(f"jobs {n}, fast {fast}, differences {len(diffs)}")
    assert not diffs, "\n".join(diffs[:20])
    assert fast > n // 4  # most ELF programs are the launcher's
    taken = {p for (p, _, _), got in zip(jobs, native(driver, jobs), strict=True) if got[0] == "0"}
    assert not taken & {str(static), str(script), str(tmp_path / "missing"), "python3", "env",
                        "no-such-program-here"}
    assert {"ls", "true", str(link)} <= taken


def test_unveils_given_keep_the_shims_rule_out(driver: Path) -> None:
    shim = reference("true", "stdio", ())
    assert shim is not None and shim["shim"]
    libc = next(w for w, _ in shim["rules"] if "libc.so" in w)  # type: ignore[attr-defined]
    jobs: list[Job] = [("true", "stdio", ((str(shim["shim"]), "r"),)),
                       ("ls", "stdio rpath", ((str(shim["shim"]), "rw"), (libc, "r")))]
    n, fast, diffs = compare(driver, jobs)
    assert (n, fast, diffs) == (2, 2, [])
    out = native(driver, jobs)
    assert str(shim["shim"]) not in out[0][7]


def test_library_path_and_origin(driver: Path, tmp_path: Path) -> None:
    lib = tmp_path / "sub" / "libpl14.so"
    lib.parent.mkdir()
    (tmp_path / "l.c").write_text("int pl14(void) { return 0; }\n")
    (tmp_path / "m.c").write_text("int pl14(void); int main(void) { return pl14(); }\n")
    subprocess.run([str(CC), "-shared", "-fPIC", "-o", str(lib), str(tmp_path / "l.c")],
                   check=True)
    for flags in (["-Wl,-rpath,$ORIGIN/sub", "-Wl,--disable-new-dtags"],
                  ["-Wl,-rpath,$ORIGIN/sub", "-Wl,--enable-new-dtags"]):
        prog = tmp_path / "m"
        subprocess.run([str(CC), "-o", str(prog), str(tmp_path / "m.c"), f"-L{lib.parent}",
                        "-lpl14", *flags], check=True)
        n, fast, diffs = compare(driver, [(str(prog), "stdio", ())])
        assert (fast, diffs) == (1, [])
        assert str(lib) in native(driver, [(str(prog), "stdio", ())])[0][7]


def test_a_stale_shim_falls_back(tmp_path: Path) -> None:
    if CC is None:
        pytest.skip("no C compiler")
    copy = tmp_path / "pledgepy"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    drv = build_for(copy, tmp_path)
    assert native(drv, [("true", "stdio", ())])[0][0] == "0"
    (copy / "backends/linux/exec/shim.py").write_text("# changed\n")
    assert native(drv, [("true", "stdio", ())])[0][0] == "1"
    for so in (copy / "backends/linux/native").glob("_shim.*.so"):
        so.unlink()
    assert native(drv, [("true", "stdio", ())])[0][0] == "1"


def build_for(package: Path, where: Path) -> Path:
    out = where / "drv"
    subprocess.run([str(CC), "-O2", f"-I{LAUNCHER}", f'-DPL_PACKAGE_DIR="{package}"',
                    f'-DPL_CACHE_TAG="{sys.implementation.cache_tag}"',
                    f'-DDIGEST_C="{PACKAGE / "backends/linux/native/digest.c"}"',
                    "-o", str(out), str(DATA / "ldisc_driver.c"), str(LAUNCHER / "discover.c"),
                    str(LAUNCHER / "lists.c")], check=True)
    return out


def test_as_nobody(driver: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to become nobody")
    if not nobody_can_run(sys.executable):
        pytest.skip("uid 65534 cannot reach this checkout or this interpreter")
    code = ("import sys; from pathlib import Path; import tests.test_launcher_discover as t; "
            "jobs = [(p, s, ()) for p in t.programs()[:1300] if not p.startswith('/root') "
            "for s in ('stdio', 'stdio rpath dns')]; "
            "n, fast, diffs = t.compare(Path(sys.argv[1]), jobs); "
            "print(n, fast, len(diffs)); print('\\n'.join(diffs[:20]))")
    root = Path(__file__).resolve().parent.parent
    got = subprocess.run([sys.executable, "-c", code, str(driver)], capture_output=True,
                         text=True, cwd=root, user=65534, group=65534, extra_groups=[],
                         env={**os.environ, "HOME": "/nonexistent"}, check=False, timeout=600)
    assert got.returncode == 0, got.stderr[-3000:]
    n, fast, diffs = (int(x) for x in got.stdout.split("\n")[0].split())
    print(f"as nobody: jobs {n}, fast {fast}, differences {diffs}")
    assert diffs == 0 and fast > 0, got.stdout


def test_discovery_of_true_is_fast(driver: Path) -> None:
    """Printed, not asserted (no timing assertions): the brief's bound is well under 1 ms."""
    out = subprocess.run([str(driver), "--time", "200", "/bin/true", "1"], capture_output=True,
                         text=True, check=True).stdout
    print(f"pl_discover(/bin/true, stdio): {out.strip()} us a call")
    assert float(out) > 0


