"""The native launcher's confine.c against the Python command's child.

The same job is confined twice: by the real ``pledge`` command (or, as uid 65534, by
the Python functions its child calls, in the order it calls them) and by pl_confine
in tests/data/lconf_driver.c; the child's Landlock, prctl, capability and
close_range calls (strace) must be the same, then the confined programs behave alike.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pledgepy.backends.linux.native import plan_tables

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "pledgepy" / "backends" / "linux" / "native" / "launcher"
DRIVER = ROOT / "tests" / "data" / "lconf_driver.c"
CC = shutil.which("cc") or shutil.which("gcc")
STRACE = shutil.which("strace")
SETPRIV = shutil.which("setpriv")
SCRIPT = shutil.which("pledge", path=os.path.dirname(sys.executable))
NOBODY = 65534
TRACED = ("landlock_create_ruleset,landlock_add_rule,landlock_restrict_self,prctl,capget,"
          "capset,close_range,seccomp,execve")


def _landlock() -> int:
    try:
        from pledgepy.backends.linux.landlock import abi
        return abi.version()
    except Exception:  # noqa: BLE001 -- any failure: no Landlock to test against
        return 0


pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux") or CC is None,
                       reason="Linux and a C compiler"),
    pytest.mark.skipif(_landlock() == 0, reason="Landlock"),
]
needs_strace = pytest.mark.skipif(STRACE is None or SCRIPT is None,
                                  reason="strace and the pledge command")
needs_root = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None,
                                reason="root (to test as uid 65534) and setpriv")

#: The child's job as the Python command makes it: its promises, shim, PROG's path and
#: rules (run._unveil: discover.plan's, then the shim's; then the -v rules).
JOB = r"""
import sys
from pledgepy import api, cli
from pledgepy.command import discover
from pledgepy.promises import bits
opts = cli._options(sys.argv[1:])
job, asked = cli._job(opts)
job, why = cli._after_loader(opts, job, asked, api.backend().exec_supervisor())
held = job.promises if job.after is None or "exec" in job.after else job.promises - {"exec"}
plan = discover.plan(job.path, job.argv, held, who=job.identity)
ruled = {w for w, _ in (*plan.rules, *job.unveils)}
shim = [(w, "r") for w in ((job.shim, *job.load) if job.shim is not None else ())
        if w not in ruled]
print(f"{bits(job.promises):x}\t{' '.join(sorted(job.promises))}\t{job.shim or ''}\t{job.path}")
for w, p in (*plan.rules, *shim):
    print(f"R\t{p or '-'}\t{w}")
for w, p in job.unveils:
    print(f"V\t{p or '-'}\t{w}")
"""

#: What run.child does between the fork and the filter, called in that order (as
#: *uid*: the command's -u would change more than the fast path does).
REFERENCE = r"""
import os, signal, sys
from pledgepy import api
from pledgepy.command import limits, run
from pledgepy.promises import parse
from pledgepy.backends.linux.exec import supervise  # noqa: F401 -- imported before the ids change
from pledgepy.backends.linux.exec.refuse import die_with_parent
from pledgepy.backends.linux.landlock import abi, domain
from pledgepy.backends.linux.seccomp import kernel
uid, promises, shim, argv = int(sys.argv[1]), parse(sys.argv[2]), sys.argv[3], sys.argv[4:]
rules, unveils = [], []
for line in sys.stdin.read().splitlines():
    kind, perms, path = line.split("\t")
    (unveils if kind == "V" else rules).append((path, "" if perms == "-" else perms))
calls = limits.calls(api.backend().process_calls())
os.setgroups([]); os.setresgid(uid, uid, uid); os.setresuid(uid, uid, uid)
for sig in run.RESTORED:
    signal.signal(sig, signal.SIG_DFL)
api.unveil_many(rules)
for where, perms in unveils:
    api.unveil(where, perms)
limits.drop_capabilities(calls)
limits.close_inherited(calls)
api.lock_unveil_for(promises, quiet=True, then_exec=True)
if shim:
    os.close(os.open(shim, os.O_RDONLY | os.O_CLOEXEC))
kernel.prepare()
die_with_parent()
if abi.current().available:
    domain.prepare()
    domain.enter()
os.execv(argv[0], argv)
"""


@pytest.fixture(scope="module")
def driver() -> Iterator[Path]:
    # a directory uid 65534 can reach (pytest's own are root's alone)
    where = Path(tempfile.mkdtemp(prefix="lconf-"))
    try:
        where.chmod(0o755)
        out = where / "lconf_driver"
        assert CC is not None
        plan_tables.write(str(where / "policy_tables.h"))  # as the build generates it
        subprocess.run([CC, "-O2", "-Wall", "-Wextra", "-Werror", f"-I{LAUNCHER}", f"-I{where}",
                        "-o", str(out), str(DRIVER), str(LAUNCHER / "confine.c")], check=True)
        yield out
    finally:
        shutil.rmtree(where)


@pytest.fixture()
def files() -> Iterator[Path]:
    where = Path(tempfile.mkdtemp(prefix="lconf-files-"))
    try:
        where.chmod(0o755)
        for name in ("seen.txt", "hidden.txt", "sub/inner.txt"):
            (where / name).parent.mkdir(exist_ok=True)
            (where / name).write_text(name + "\n")
            (where / name).chmod(0o644)
        (where / "sub").chmod(0o755)
        yield where
    finally:
        shutil.rmtree(where)


class Job:
    def __init__(self, args: list[str]) -> None:
        self.args = args
        out = subprocess.run([sys.executable, "-c", JOB, *args], capture_output=True,
                             text=True, check=True, env=SEEDED).stdout.splitlines()
        bits, self.promises, self.shim, self.path = out[0].split("\t")
        self.bits = bits
        self.lines = "\n".join(out[1:]) + "\n"
        self.quiet = "-q" in args
        self.strict = "--strict" in args
        cut = args.index("--")
        self.prog, self.argv = args[cut + 1], args[cut + 1:]

    def driver_argv(self, driver: Path) -> list[str]:
        flags = (["-q"] if self.quiet else []) + (["-s"] if self.strict else [])
        return [str(driver), *flags, "-p", self.bits, "-P", self.prog,
                *(["-S", self.shim] if self.shim else []), "--", self.path, *self.argv[1:]]


#: discover.plan's order of some rules follows set iteration: one hash seed for the job
#: written out and for the command it is compared with
SEEDED = {**os.environ, "PYTHONHASHSEED": "0"}


def _strace(out: Path, argv: list[str], stdin: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    assert STRACE is not None
    return subprocess.run([STRACE, "-f", "-y", "-qq", "-e", f"trace={TRACED}", "-o", str(out),
                           *argv], input=stdin, capture_output=True, text=True, env=SEEDED)


def child_calls(text: str, after: str | None = None) -> list[str]:
    """The confining child's calls, from its first capget (or from after the execve of
    *after*) to its filter or exec, with descriptor numbers taken out."""
    lines = [line.split(None, 1) for line in text.splitlines()
             if " --- " not in line and " +++ " not in line]
    if after is not None:
        start = max(i for i, (_, call) in enumerate(lines)
                    if call.startswith(f'execve("{after}"'))
        lines = lines[start + 1:]
    pid = next(p for p, call in lines if call.startswith("capget("))
    out: list[str] = []
    on = False
    for p, call in lines:
        if p != pid:
            continue
        on = on or call.startswith("capget(")
        if not on:
            continue
        if call.startswith(("seccomp(", "execve(")):
            break
        if call.startswith("landlock_create_ruleset(NULL"):
            continue  # the ABI probe: the Python parent may have made it before the fork
        call = re.sub(r"^(landlock_add_rule|landlock_restrict_self)\(\d+", r"\1(RS", call)
        call = re.sub(r"parent_fd=\d+", "parent_fd=", call)
        if call.startswith("landlock_create_ruleset("):
            call = re.sub(r"= \d+(<[^>]*>)?$", "= FD", call)
        out.append(call)
    while out and out[-1].startswith("prctl(PR_SET_NO_NEW_PRIVS"):
        out.pop()  # the filter's own, which is not confine's
    return out


def _run_pledge(tmp: Path, args: list[str]) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    assert SCRIPT is not None
    done = _strace(tmp / "py.trace", [SCRIPT, *args])
    return child_calls((tmp / "py.trace").read_text()), done


def _run_driver(tmp: Path, job: Job, driver: Path, uid: int | None = None
                ) -> tuple[list[str], subprocess.CompletedProcess[str]]:
    head = [] if uid is None else [str(SETPRIV), f"--reuid={uid}", f"--regid={uid}",
                                   "--clear-groups"]
    done = _strace(tmp / "c.trace", [*head, *job.driver_argv(driver)], job.lines)
    if done.returncode == 3 and done.stdout == "FALLBACK\n":
        return [], done
    return child_calls((tmp / "c.trace").read_text(), after=str(driver)), done


CASES = [
    ["-p", "stdio rpath", "-v", "r:{f}/seen.txt", "--", "cat", "{f}/seen.txt"],
    ["-p", "stdio rpath", "--", "cat", "{f}/hidden.txt"],
    ["-q", "-p", "stdio rpath", "-v", "{f}", "--", "ls", "{f}/sub"],
    ["-p", "stdio", "-v", "rx:{f}/sub", "-v", "w:{f}/seen.txt", "--", "true"],
    ["-p", "stdio rpath wpath cpath", "-v", "rwc:{f}", "--", "sh", "-c",
     "echo made > {f}/new; read x < {f}/new; echo $x"],
    ["-p", "stdio rpath", "-v", "x:{f}/sub", "-v", "c:{f}/sub/later", "--", "true"],
    ["-p", "stdio rpath", "-v", "rwxc:{f}/seen.txt", "-v", ":{f}/hidden.txt", "--", "true"],
    ["-p", "stdio rpath", "-v", "wc:{f}/sub", "-v", "rw:{f}/sub", "--", "true"],
    ["-p", "stdio tmppath", "--", "true"],
    ["-p", "stdio rpath", "-v", "c:{f}/later", "--", "true"],
    ["-p", "stdio dpath rpath", "--", "true"],
    ["-q", "-p", "stdio rpath unix", "--", "true"],
    ["-q", "-p", "stdio rpath fattr chown", "-v", "{f}", "--", "true"],
    ["-p", "stdio rpath dns getpw inet", "--", "true"],
    ["-q", "--strict", "-p", "stdio rpath prot_exec", "--", "true"],
]


def _case(template: list[str], where: Path) -> list[str]:
    return [a.replace("{f}", str(where)) for a in template]


@needs_strace
@pytest.mark.parametrize("template", CASES, ids=[" ".join(c) for c in CASES])
def test_the_same_calls_as_the_python_child(template: list[str], files: Path, driver: Path,
                                            tmp_path: Path) -> None:
    args = _case(template, files)
    job = Job(args)
    py, py_done = _run_pledge(tmp_path, args)
    c, c_done = _run_driver(tmp_path, job, driver)
    if "unveil enforced only in part" in py_done.stderr or "--strict:" in py_done.stderr:
        assert c_done.stdout == "FALLBACK\n", c_done.stderr  # the note is the command's
        return
    assert py and py[0].startswith("capget(")
    assert any(x.startswith("landlock_restrict_self") for x in py)
    assert c == py
    assert (c_done.returncode, c_done.stdout) == (py_done.returncode, py_done.stdout)


@pytest.mark.parametrize("args", [
    ["-p", "stdio rpath unix", "--", "true"],  # a gap the command would note
    ["-p", "stdio rpath fattr", "--", "true"],
])
def test_notes_of_gaps_are_the_commands(args: list[str], files: Path, driver: Path) -> None:
    job = Job(_case(args, files))
    done = subprocess.run(job.driver_argv(driver), input=job.lines, capture_output=True,
                          text=True)
    assert (done.returncode, done.stdout) == (3, "FALLBACK\n")
    quiet = subprocess.run([*job.driver_argv(driver)[:1], "-q", *job.driver_argv(driver)[1:]],
                           input=job.lines, capture_output=True, text=True)
    assert quiet.returncode == 0, quiet.stderr  # -q: nothing to say, so confined here


def test_nested_rule_with_fewer_letters_is_a_gap(files: Path, driver: Path) -> None:
    # beneath a rule granting more: Landlock's union, which the command notes
    job = Job(_case(["-p", "stdio rpath", "-v", "rw:{f}/sub", "-v", "r:{f}/sub/inner.txt",
                     "--", "true"], files))
    done = subprocess.run(job.driver_argv(driver), input=job.lines, capture_output=True,
                          text=True)
    assert (done.returncode, done.stdout) == (3, "FALLBACK\n")


@pytest.mark.parametrize("rule", [
    "R\tr\t/nonexistent-lconf/x",  # unveil_many's refusal
    "R\tr\trelative/path",  # api._check_path would rewrite it
    "R\tr\t/tmp/../etc",
    "R\tq\t/etc",
    "V\tr\t/nonexistent-lconf/y",  # "-v PATH: ..."
])
def test_what_python_would_refuse_or_rewrite_falls_back(rule: str, driver: Path) -> None:
    done = subprocess.run([str(driver), "-q", "-p", "3", "--", "/bin/echo", "ran"],
                          input=f"R\trx\t/usr\n{rule}\n", capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (3, "FALLBACK\n")


def test_strict_with_a_path_given_twice_falls_back(driver: Path) -> None:
    lines = "R\trx\t/usr\nV\tr\t/etc\nV\tr\t/etc\n"
    strict = subprocess.run([str(driver), "-q", "-s", "-p", "3", "--", "/bin/true"],
                            input=lines, capture_output=True, text=True)
    plain = subprocess.run([str(driver), "-q", "-p", "3", "--", "/bin/true"],
                           input=lines, capture_output=True, text=True)
    assert (strict.returncode, strict.stdout) == (3, "FALLBACK\n")
    assert plain.returncode == 0


def _confined(driver: Path, rules: str, *cmd: str, uid: int | None = None
              ) -> subprocess.CompletedProcess[str]:
    head = [] if uid is None else [str(SETPRIV), f"--reuid={uid}", f"--regid={uid}",
                                   "--clear-groups"]
    return subprocess.run([*head, str(driver), "-q", "-p", "3", "--", *cmd], input=rules,
                          capture_output=True, text=True)


BASE = "R\trx\t/usr\nR\trx\t/bin\nR\trx\t/lib\nR\trx\t/lib64\nR\tr\t/etc\nR\tr\t/proc\n"


def test_an_unveiled_file_reads_and_a_hidden_one_is_eacces(files: Path, driver: Path) -> None:
    rules = BASE + f"R\tr\t{files}/seen.txt\n"
    seen = _confined(driver, rules, "cat", f"{files}/seen.txt")
    hidden = _confined(driver, rules, "cat", f"{files}/hidden.txt")
    assert (seen.returncode, seen.stdout) == (0, "seen.txt\n")
    assert hidden.returncode != 0 and "Permission denied" in hidden.stderr


def test_an_inherited_descriptor_closes_at_exec(driver: Path) -> None:
    # fd 5 opened by a shell that then execs: pytest's own descriptors stay untouched
    with_5 = ["sh", "-c", 'exec 5</dev/null; exec "$@"', "sh"]
    check = ["sh", "-c", "[ -e /proc/self/fd/5 ] && echo open || echo closed"]
    plain = subprocess.run([*with_5, *check], capture_output=True, text=True)
    confined = subprocess.run([*with_5, str(driver), "-q", "-p", "3", "--", *check],
                              input=BASE, capture_output=True, text=True)
    assert plain.stdout == "open\n"  # the check sees an inherited descriptor
    assert (confined.returncode, confined.stdout) == (0, "closed\n")


def _caps(status: str) -> dict[str, int]:
    return {k: int(v, 16) for k, v in re.findall(r"^(Cap\w+):\s+([0-9a-f]+)$", status, re.M)}


@pytest.mark.parametrize("uid", [None, NOBODY], ids=["self", "nobody"])
def test_no_capability_is_left(uid: int | None, driver: Path) -> None:
    if uid is not None and (os.geteuid() != 0 or SETPRIV is None):
        pytest.skip("root and setpriv")
    done = _confined(driver, BASE, "cat", "/proc/self/status", uid=uid)
    assert done.returncode == 0, done.stderr
    caps = _caps(done.stdout)
    assert caps["CapEff"] == caps["CapPrm"] == caps["CapAmb"] == 0
    if os.geteuid() == 0 and uid is None:
        assert caps["CapBnd"] == 0  # root's bounding set too: nothing to regain at exec
    nnp = re.search(r"^NoNewPrivs:\s+(\d)", done.stdout, re.M)
    assert nnp is not None and nnp.group(1) == "1"


@needs_strace
@needs_root
def test_as_nobody_the_same_calls_as_the_python_functions(files: Path, driver: Path,
                                                          tmp_path: Path) -> None:
    job = Job(["-p", "stdio rpath", "-v", f"r:{files}/seen.txt", "--", "cat",
               f"{files}/seen.txt"])
    ref = _strace(tmp_path / "ref.trace", [sys.executable, "-c", REFERENCE, str(NOBODY),
                                           job.promises, job.shim, job.path,
                                           *job.argv[1:]], job.lines)
    assert (ref.returncode, ref.stdout) == (0, "seen.txt\n"), ref.stderr
    py = child_calls((tmp_path / "ref.trace").read_text())
    c, done = _run_driver(tmp_path, job, driver, uid=NOBODY)
    assert (done.returncode, done.stdout) == (0, "seen.txt\n"), done.stderr
    assert not any(x.startswith(("capset", "prctl(PR_CAPBSET_DROP")) for x in py)
    assert c == py


def test_a_missing_shim_is_said_as_the_child_says_it(driver: Path) -> None:
    done = subprocess.run([str(driver), "-q", "-p", "3", "-P", "prog", "-S",
                           "/nonexistent-lconf/shim.so", "--", "/bin/true"],
                          input=BASE, capture_output=True, text=True)
    assert done.returncode == 70
    assert done.stderr == ("pledge: the start-up shim /nonexistent-lconf/shim.so: No such "
                           "file or directory (as prog will run)\n")


def test_the_stdio_allowance_is_the_policys(driver: Path) -> None:
    from pledgepy.backends.linux import prepared

    done = subprocess.run([str(driver), "-T"], capture_output=True, text=True, check=True)
    table = [tuple(line.split("\t")) for line in done.stdout.splitlines()]
    assert table == [tuple(rule) for rule in prepared.paths()["stdio"]]


def test_each_abi_row_is_abi_pys(driver: Path) -> None:
    # the ruleset's handled rights, scopes and flags on kernels older (or newer) than this one
    from pledgepy.backends.linux.landlock import abi

    done = subprocess.run([str(driver), "-A"], capture_output=True, text=True, check=True)
    rows = [tuple(int(x) for x in line.split("\t")) for line in done.stdout.splitlines()]
    assert rows == [(n, abi.features(n).fs, abi.features(n).scopes,
                     abi.features(n).restrict_flags) for n in range(13)]


def _ignored(status: str) -> int:
    found = re.search(r"^SigIgn:\s+([0-9a-f]+)$", status, re.M)
    assert found is not None
    return int(found.group(1), 16)


@needs_strace
def test_signals_ignored_before_end_as_the_commands_do(driver: Path, tmp_path: Path) -> None:
    # a caller that ignores them: the command's child restores some, its handlers others
    ignore = ["sh", "-c", 'trap "" PIPE XFSZ SEGV SYS BUS ILL FPE ABRT USR1; exec "$@"', "sh"]
    args = ["-q", "-p", "stdio rpath", "-v", "r:/proc", "--", "cat", "/proc/self/status"]
    job = Job(args)
    assert SCRIPT is not None
    py = subprocess.run([*ignore, SCRIPT, *args], capture_output=True, text=True, env=SEEDED)
    c = subprocess.run([*ignore, *job.driver_argv(driver)], input=job.lines,
                       capture_output=True, text=True)
    assert py.returncode == c.returncode == 0, (py.stderr, c.stderr)
    assert _ignored(c.stdout) == _ignored(py.stdout)
    assert _ignored(c.stdout) >> (10 - 1) & 1  # SIGUSR1: nobody's to restore
