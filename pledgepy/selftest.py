"""Check what pledgepy really enforces on this machine: ``python -m pledgepy.selftest``.

Each check runs a short program in a fresh child process (pledges cannot be
undone), applies a real pledge/unveil and tries something allowed or
forbidden. The table shows what the kernel did. A check fails only when the
outcome contradicts the platform's documented behaviour, or when something
was not enforced although ``pledgepy.status()`` claimed it was. Exit status:
0 if nothing failed, 1 otherwise.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

ENOTCAPABLE, ECAPMODE = 93, 94

PRELUDE = """
import errno, os, socket, sys, warnings
warnings.simplefilter("ignore")
import pledgepy
from pledgepy import bsdpaths
D = sys.argv[1]
FREEBSD = sys.platform.startswith("freebsd")
def level():
    print("LEVEL", pledgepy.status().level, flush=True)
def attempt(fn):
    try:
        fn()
    except OSError as e:
        print("ERRNO", e.errno, flush=True)
    else:
        print("OK", flush=True)
"""


@dataclass
class Outcome:
    """What a child did: return code, markers printed, stderr."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def level(self) -> str | None:
        for line in self.stdout.splitlines():
            if line.startswith("LEVEL "):
                return line.split()[1]
        return None

    @property
    def result(self) -> str:
        """``killed:SIG``, ``errno:N``, ``ok`` or ``exit:N``."""
        if self.returncode in (-signal.SIGABRT, 128 + signal.SIGABRT):
            return "killed:SIGABRT"
        if self.returncode < 0:
            return f"killed:{signal.Signals(-self.returncode).name}"
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("ERRNO "):
                return f"errno:{errno.errorcode.get(int(line.split()[1]), line.split()[1])}"
            if line == "OK":
                return "ok"
        return f"exit:{self.returncode}"


def _name(err: int) -> str:
    return errno.errorcode.get(err, str(err))


@dataclass
class Check:
    """One child program and the outcomes that count as enforced on each platform."""

    name: str
    code: str
    expect: Callable[[str], set[str]]
    denial: bool = True


def _kill_or(freebsd: set[str]) -> Callable[[str], set[str]]:
    def expect(platform: str) -> set[str]:
        if platform == "freebsd":
            return freebsd
        return {"killed:SIGABRT"}
    return expect


def _ok(platform: str) -> set[str]:
    return {"ok"}


CAPMODE = {f"errno:{_name(ECAPMODE)}"}
NOTCAP = {f"errno:{_name(ENOTCAPABLE)}", f"errno:{_name(ECAPMODE)}"}

CHECKS = [
    Check("stdio: open() of a file is refused",
          'pledgepy.pledge("stdio"); level()\n'
          'attempt(lambda: os.open(os.path.join(D, "pub", "a.txt"), os.O_RDONLY))',
          _kill_or(CAPMODE)),
    Check("stdio error: open() fails instead of killing",
          'pledgepy.pledge("stdio error"); level()\n'
          'attempt(lambda: os.open(os.path.join(D, "pub", "a.txt"), os.O_RDONLY))',
          lambda p: CAPMODE if p == "freebsd" else {f"errno:{_name(errno.ENOSYS)}"}),
    Check("stdio rpath: reading a file works",
          'pledgepy.pledge("stdio rpath"); level()\n'
          'attempt(lambda: bsdpaths.open(os.path.join(D, "pub", "a.txt")).read())',
          _ok, denial=False),
    Check("stdio rpath: creating a file is refused",
          'pledgepy.pledge("stdio rpath"); level()\n'
          'attempt(lambda: bsdpaths.os_open(os.path.join(D, "pub", "new.txt"),'
          ' os.O_WRONLY | os.O_CREAT, 0o600))',
          _kill_or(NOTCAP)),
    Check("stdio: a new TCP connection is refused",
          'pledgepy.pledge("stdio"); level()\n'
          'attempt(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)'
          '.connect(("127.0.0.1", 9)))',
          _kill_or(CAPMODE)),
    Check("pledge can only narrow",
          'pledgepy.pledge("stdio rpath"); level()\n'
          'attempt(lambda: pledgepy.pledge("stdio rpath wpath"))',
          lambda p: {f"errno:{_name(errno.EPERM)}"}),
    Check("unveil: the unveiled directory is readable",
          'pledgepy.unveil(os.path.join(D, "pub"), "r"); pledgepy.pledge("stdio rpath"); '
          'level()\n'
          'attempt(lambda: bsdpaths.open(os.path.join(D, "pub", "a.txt")).read())',
          _ok, denial=False),
    Check("unveil: other paths are hidden from the kernel",
          'pledgepy.unveil(os.path.join(D, "pub"), "r"); pledgepy.pledge("stdio rpath"); '
          'level()\n'
          'if FREEBSD:\n'
          '    fd = bsdpaths.resolve(os.path.join(D, "pub"))[0]\n'
          '    attempt(lambda: os.open("../priv/b.txt", os.O_RDONLY, dir_fd=fd))\n'
          'else:\n'
          '    attempt(lambda: os.open(os.path.join(D, "priv", "b.txt"), os.O_RDONLY))',
          lambda p: ({f"errno:{_name(ENOTCAPABLE)}"} if p == "freebsd"
                     else {f"errno:{_name(errno.ENOENT)}", f"errno:{_name(errno.EACCES)}"})),
]

FREEBSD_RIGHTS = Check(
    "capsicum: Python-built rights equal libc's, limits read back",
    'from pledgepy.backends.freebsd import binding, rights as R\n'
    'ffi, lib = binding.load(); level()\n'
    'sets = [R.R_DIR, R.STDIO_FD]\n'
    'ok = binding.rights_via_libc(ffi, lib, R.CAP_READ, R.CAP_EVENT, R.CAP_LOOKUP) == '
    'R.Rights.of(R.CAP_READ, R.CAP_EVENT, R.CAP_LOOKUP)\n'
    'fd = os.open(os.path.join(D, "pub", "a.txt"), os.O_RDONLY)\n'
    'lib.cap_rights_limit(fd, binding.to_cdata(ffi, R.R_DIR))\n'
    'q = ffi.new("cap_rights_t *"); getattr(lib, "__cap_rights_get")(0, fd, q)\n'
    'ok = ok and binding.from_cdata(q) == R.R_DIR\n'
    'print("OK" if ok else "ERRNO 0")',
    _ok, denial=False)


def platform_name() -> str:
    """``linux``, ``openbsd``, ``freebsd`` or ``sys.platform``."""
    for name in ("linux", "openbsd", "freebsd"):
        if sys.platform.startswith(name):
            return name
    return sys.platform


def run_child(code: str, workdir: str, timeout: float = 60) -> Outcome:
    """Run *code* (after the prelude) in a new interpreter using this pledgepy."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("PLEDGEPY_STRICT", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    src = PRELUDE + textwrap.dedent(code) + "\n"
    try:
        proc = subprocess.run([sys.executable, "-c", src, workdir], capture_output=True,
                              text=True, env=env, timeout=timeout, cwd=workdir)
    except subprocess.TimeoutExpired:
        return Outcome(-1, "", "timeout")
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def verdict(check: Check, platform: str, out: Outcome, silent: bool = False) -> str:
    """``enforced``/``works``, ``not enforced (reported)``, or ``FAIL: ...``.

    *silent*: violations kill without a message (no native handler), so the
    kernel's SIGSYS stands for the handler's SIGABRT.
    """
    expected = check.expect(platform)
    if silent and "killed:SIGABRT" in expected and out.result == "killed:SIGSYS":
        return "enforced (no message)"
    if out.result in expected:
        return "enforced" if check.denial else "works"
    if check.denial and out.level == "none" and out.result == "ok":
        return "not enforced (status says none)"
    if check.denial and out.result == "ok":
        return f"FAIL: not enforced although status level is {out.level}"
    return f"FAIL: expected {' or '.join(sorted(expected))}"


def _workdir() -> str:
    d = tempfile.mkdtemp(prefix="pledgepy-selftest-")
    for sub, name in (("pub", "a.txt"), ("priv", "b.txt")):
        os.mkdir(os.path.join(d, sub))
        with open(os.path.join(d, sub, name), "w") as f:
            f.write("selftest\n")
    return d


def main(argv: list[str] | None = None) -> int:
    """Run every check, print the table, return the exit status."""
    import shutil

    import pledgepy

    platform = platform_name()
    checks = list(CHECKS)
    if platform == "freebsd":
        checks.insert(0, FREEBSD_RIGHTS)
    from . import api
    from .errors import NativeBuildError

    try:
        st = pledgepy.status()
        missing = api.backend().messages_missing()
    except NativeBuildError as exc:
        print(f"pledgepy {pledgepy.__version__} self-test: {exc}")
        return 1
    print(f"pledgepy {pledgepy.__version__} self-test on {sys.platform} "
          f"({os.uname().release}); mechanism: {st.mechanism}, "
          f"unveil: {st.unveil.mechanism}")
    print("violation messages: " + ("yes" if missing is None else
                                    f"NO, violations kill without a message: {missing}"))
    rows = []
    work = _workdir()
    try:
        for check in checks:
            out = run_child(check.code, work)
            rows.append((check.name, out.result, out.level or "-",
                         verdict(check, platform, out, silent=missing is not None), out))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'check':<{width}}  {'observed':<16} {'status':<8} result")
    for name, result, level, v, _ in rows:
        print(f"{name:<{width}}  {result:<16} {level:<8} {v}")
    failed = [r for r in rows if r[3].startswith("FAIL")]
    for name, _, _, _, out in failed:
        tail = out.stderr.strip().splitlines()[-5:]
        print(f"\n--- {name}: rc={out.returncode}\n" + "\n".join(tail))
    print(f"\n{len(rows) - len(failed)} of {len(rows)} checks as expected"
          + ("" if not failed else f"; {len(failed)} FAILED"))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
