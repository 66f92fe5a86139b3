"""Strict pledge("stdio rpath wpath cpath") without unveil: the pledge keeps procfs from
being written (/proc/self/mem would rewrite code without prot_exec), so an unprivileged
program can use strict mode; root still cannot (it can write the code files it maps)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.childproc import NOBODY, ROOT, run
from tests.pledged import PRELUDE

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

#: An interpreter uid 65534 can start (the test venv's may live under /root).
SYSTEM_PYTHON = "/usr/bin/python3"
ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
PROMISES = "stdio rpath wpath cpath"
MEM_GAP = "/proc/self/mem"
CODE_GAP = "file(s) of code mapped in this process can be written"


def _nobody_can_run() -> str | None:
    if os.geteuid() != 0:
        return "needs root to start a child as uid 65534"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"needs {SYSTEM_PYTHON}"
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import pledgepy.backends.linux.landlock.ruleset"],
                       env=ENV, user=NOBODY, group=NOBODY, extra_groups=[],
                       capture_output=True, text=True)
    return None if r.returncode == 0 else f"{SYSTEM_PYTHON} cannot load pledgepy: {r.stderr}"


NOBODY_SKIP = _nobody_can_run()
as_nobody_only = pytest.mark.skipif(NOBODY_SKIP is not None, reason=str(NOBODY_SKIP))


def as_nobody(code: str, *, env: dict[str, str] | None = None,
              wrap: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run *code* with the system interpreter started as uid/gid 65534 from the start
    (no root before: nothing of root's is loaded or open); *wrap* prefixes the command
    (run as root) and must end by becoming 65534 itself."""
    cmd = [SYSTEM_PYTHON, "-c", PRELUDE + textwrap.dedent(code)]
    user = {} if wrap else {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    return subprocess.run([*(wrap or []), *cmd], env={**ENV, **(env or {})},
                          capture_output=True, text=True, timeout=60, **user)  # type: ignore[call-overload]


def explain(r: subprocess.CompletedProcess[str]) -> str:
    return f"rc={r.returncode}\n--- stdout\n{r.stdout}\n--- stderr\n{r.stderr}"


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory of uid 65534's in /var/tmp (a normal place to write, not /tmp)."""
    d = Path(tempfile.mkdtemp(prefix="pledgepy-procwrite-", dir="/var/tmp"))
    os.chown(d, NOBODY, NOBODY)
    yield d
    shutil.rmtree(d, ignore_errors=True)


STRICT_BODY = """
pledgepy.pledge(PROMISES, strict=True)
st = pledgepy.status()
print(st.level, len(st.not_enforced), any("procfs" in n for n in st.notes), flush=True)
attempt(os.open, "/proc/self/mem", os.O_RDWR)
attempt(os.open, "/proc/self/mem", os.O_WRONLY)
attempt(os.open, f"/proc/self/task/{os.getpid()}/mem", os.O_RDWR)
fd = attempt(os.open, "/proc/self/mem", os.O_RDONLY)
attempt(os.open, f"/proc/self/fd/{fd}", os.O_RDWR)
attempt(os.open, "/proc/self/root/proc/self/mem", os.O_RDWR)
def write(path):
    with open(path, "w") as f:
        f.write("x")
    with open(path) as f:
        return f.read()
attempt(write, DIR + "/f")
attempt(write, f"/tmp/pledgepy-procwrite-{os.getpid()}")
os.unlink(f"/tmp/pledgepy-procwrite-{os.getpid()}")
attempt(write, "/dev/null")
r, w = os.pipe()
attempt(os.open, f"/proc/self/fd/{w}", os.O_WRONLY)
attempt(write, "/proc/self/oom_score_adj")  # lost: no procfs on OpenBSD either
"""

STRICT_OUT = ["full", "0", "True",
              "ERR", "EACCES", "ERR", "EACCES", "ERR", "EACCES",  # mem, its task's mem
              "OK", "ERR", "EACCES", "ERR", "EACCES",  # read-only still; re-opens refused
              "OK", "OK", "OK", "OK",  # a normal directory, /tmp, /dev/null, a pipe
              "ERR", "EACCES"]


@as_nobody_only
def test_strict_pledge_without_unveil_works_as_nobody(shared: Path) -> None:
    code = f"PROMISES, DIR = {PROMISES!r}, {str(shared)!r}\n" + STRICT_BODY
    r = as_nobody(code)
    assert r.returncode == 0 and r.stdout.split() == STRICT_OUT, explain(r)
    assert (shared / "f").read_text() == "x"


@as_nobody_only
def test_without_rpath_the_allowance_layer_carries_the_block(shared: Path) -> None:
    # no rpath: the layer for stdio's read allowances is entered instead of the plain
    # domain, and it must keep procfs from being written too
    code = f"""
pledgepy.pledge("stdio wpath cpath", strict=True)
print(pledgepy.status().level, flush=True)
attempt(os.open, "/proc/self/mem", os.O_WRONLY)
fd = attempt(os.open, {str(shared / "g")!r}, os.O_WRONLY | os.O_CREAT, 0o644)
attempt(os.write, fd, b"y")
"""
    r = as_nobody(code)
    assert r.returncode == 0 and r.stdout.split() == ["full", "ERR", "EACCES", "OK", "OK"], \
        explain(r)


@as_nobody_only
def test_a_narrowing_that_drops_prot_exec_enters_the_block() -> None:
    code = f"""
pledgepy.pledge({PROMISES + " prot_exec"!r}, strict=True)
# prot_exec: the block would stop nothing (closed: kept open, it writes code, and strict
# refuses the narrowing)
os.close(attempt(os.open, "/proc/self/mem", os.O_RDWR))
pledgepy.pledge({PROMISES!r}, strict=True)
print(pledgepy.status().level, flush=True)
attempt(os.open, "/proc/self/mem", os.O_RDWR)
"""
    r = as_nobody(code)
    assert r.returncode == 0 and r.stdout.split() == ["OK", "full", "ERR", "EACCES"], explain(r)


@as_nobody_only
def test_without_rpath_a_later_narrowing_cannot_build_it_and_strict_says_so() -> None:
    code = """
pledgepy.pledge("stdio wpath cpath prot_exec")
try:
    pledgepy.pledge("stdio wpath cpath", strict=True)
except pledgepy.UnsupportedError as e:
    print("refused", "/proc/self/mem" in str(e), "not here: without rpath" in str(e), flush=True)
attempt(os.open, "/proc/self/mem", os.O_WRONLY)  # unchanged: still prot_exec
"""
    r = as_nobody(code)
    assert r.returncode == 0 and r.stdout.split() == ["refused", "True", "True", "OK"], \
        explain(r)


@as_nobody_only
def test_later_unveil_rules_stack_below_the_block(shared: Path) -> None:
    # the rules committed later are a nested layer: they cannot make procfs writable again
    code = f"""
pledgepy.pledge({PROMISES + " unveil"!r}, strict=True)
print(pledgepy.status().level, flush=True)
pledgepy.unveil({str(shared)!r}, "rwc")
pledgepy.unveil("/proc", "rw")
pledgepy.pledge({PROMISES!r}, strict=True)  # locks: the rules take effect
print(pledgepy.status().level, flush=True)
attempt(os.open, "/proc/self/mem", os.O_RDWR)
attempt(os.open, "/proc/self/mem", os.O_RDONLY)
fd = attempt(os.open, {str(shared / "h")!r}, os.O_WRONLY | os.O_CREAT, 0o644)
attempt(os.open, "/tmp", os.O_RDONLY)  # hidden by the rules now
"""
    r = as_nobody(code)
    assert r.returncode == 0 and r.stdout.split() == ["full", "full", "ERR", "EACCES", "OK",
                                                      "OK", "ERR", "EACCES"], explain(r)


@as_nobody_only
def test_the_readme_example_under_pledgepy_strict_as_nobody(shared: Path) -> None:
    code = f"""
pledgepy.unveil({str(shared)!r}, "r")      # the rest of the filesystem disappears
pledgepy.pledge("stdio rpath inet")   # and only these kinds of syscalls remain
print(pledgepy.status().level, pledgepy.status().unveil.level, flush=True)
"""
    r = as_nobody(code, env={"PLEDGEPY_STRICT": "1"})
    assert r.returncode == 0 and r.stdout.split() == ["full", "full"], explain(r)


@as_nobody_only
def test_a_procfs_mounted_elsewhere_is_not_writable_either(shared: Path) -> None:
    if not shutil.which("unshare") or not shutil.which("setpriv"):
        pytest.skip("needs unshare(1) and setpriv(1)")
    elsewhere = shared / "deep" / "proc"
    elsewhere.mkdir(parents=True)
    (shared / "deep" / "sibling").mkdir()
    os.chown(shared / "deep" / "sibling", NOBODY, NOBODY)
    code = f"""
pledgepy.pledge({PROMISES!r}, strict=True)
print(pledgepy.status().level, flush=True)
attempt(os.open, {str(elsewhere)!r} + "/self/mem", os.O_RDWR)
attempt(os.open, {str(elsewhere)!r} + "/self/mem", os.O_RDONLY)
fd = attempt(os.open, {str(shared / "deep" / "sibling" / "f")!r}, os.O_WRONLY | os.O_CREAT)
attempt(os.open, "/proc/self/mem", os.O_RDWR)
"""
    # a private mount namespace with a second procfs beneath a normal directory; then
    # the program starts as 65534
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            f'mount -t proc proc "{elsewhere}" && exec "$@"', "sh",
            "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    r = as_nobody(code, wrap=wrap)
    if r.returncode != 0 and "mount" in r.stderr and "pledge" not in r.stderr:
        pytest.skip(f"cannot mount procfs here: {r.stderr.strip()}")
    assert r.returncode == 0 and r.stdout.split() == ["full", "ERR", "EACCES", "OK", "OK",
                                                      "ERR", "EACCES"], explain(r)


def test_as_root_strict_refuses_with_the_code_files_reason_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = run(PRELUDE + f"""
try:
    pledgepy.pledge({PROMISES!r}, strict=True)
except pledgepy.UnsupportedError as e:
    print(str(e).count("wpath:"), {CODE_GAP!r} in str(e), {MEM_GAP!r} in str(e),
          "run as a user that cannot write them" in str(e), flush=True)
""")
    assert r.returncode == 0 and r.stdout.split() == ["1", "True", "False", "True"], r.explain()


def test_best_effort_enters_the_same_block_as_root() -> None:
    # best effort enforces what strict would: only the report differs
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = run(PRELUDE + f"""
import warnings
warnings.simplefilter("ignore")
pledgepy.pledge({PROMISES!r})
gaps = pledgepy.status().not_enforced
print(len(gaps), {CODE_GAP!r} in gaps[0], flush=True)
attempt(os.open, "/proc/self/mem", os.O_RDWR)
attempt(os.open, "/proc/sys/kernel/hostname", os.O_WRONLY)  # root loses /proc/sys
""")
    assert r.returncode == 0 and r.stdout.split() == ["1", "True", "ERR", "EACCES",
                                                      "ERR", "EACCES"], r.explain()


def test_grants_leave_out_procfs_mounts_and_what_lies_above_them(tmp_path: Path) -> None:
    from pledgepy.backends.linux.landlock import procwrite

    (tmp_path / "a" / "proc").mkdir(parents=True)
    (tmp_path / "a" / "b").mkdir()
    (tmp_path / "a" / "file").write_text("")
    (tmp_path / "a" / "link").symlink_to("/proc")
    got = procwrite.grants(["/proc", str(tmp_path / "a" / "proc")])
    assert "/proc" not in got and "/" not in got
    assert str(tmp_path / "a" / "b") in got and str(tmp_path / "a" / "file") in got
    assert not any(p == str(tmp_path) or str(tmp_path).startswith(p + "/") for p in got)
    assert str(tmp_path / "a" / "proc") not in got and str(tmp_path / "a" / "link") not in got
    assert "/usr" in got or not os.path.isdir("/usr") or os.path.islink("/usr")
    assert procwrite.grants(["/"]) == ()
