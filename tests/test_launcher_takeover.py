"""The takeover (pledgepy/command/takeover.py): the Python supervisor adopting the native
launcher's listener (launcher/PROTOCOL.md) must end PROG's run exactly as the Python
command would have. The launcher's side is played by tests/data/takeover_harness.py (the
command's own functions, in a child process); the reference is ``pledge-python``."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pledgepy import cli
from pledgepy.command import takeover
from pledgepy.promises import VOCABULARY, bits

HARNESS = Path(__file__).parent / "data" / "takeover_harness.py"
PYTHON_COMMAND = shutil.which("pledge-python", path=os.path.dirname(sys.executable))

kernel = pytest.mark.skipif(PYTHON_COMMAND is None or not os.path.exists("/proc/self/fd"),
                            reason="needs the installed pledge-python and Linux")


def _pids(text: str) -> str:
    return re.sub(r"\[\d+\]", "[PID]", text)


def _take_over(tmp_path: Path, held: str, after: str, shim: bool, argv: list[str],
               args: list[str], hand: str, err: bool = False,
               override: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                               dict[str, str]]:
    record = tmp_path / "state"
    spec = {"held": held.split(), "after": after.split(), "shim": shim, "argv": argv,
            "args": args, "hand": hand, "err": err, "override": override or {},
            "record": str(record)}
    got = subprocess.run([sys.executable, str(HARNESS), json.dumps(spec)], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path)
    assert got.returncode != 99, got.stderr
    return got, takeover.parse_state(record.read_text())


def _reference(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PYTHON_COMMAND is not None
    return subprocess.run([PYTHON_COMMAND, *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


@kernel
@pytest.mark.parametrize("err", [False, True])
def test_pending_violation_is_the_commands_message_and_134(tmp_path: Path, err: bool) -> None:
    args = ["-p", "stdio", "cat", "/etc/hostname"]
    got, state = _take_over(tmp_path, "stdio exec rpath prot_exec", "stdio", True, args[2:],
                            args, "unanswered", err=err)
    assert "notif" in state and state["opening"] == "0" and state["err"] != ("-1" if err else "")
    want = _reference(args, tmp_path)
    assert want.returncode == got.returncode == 134
    assert 'openat("/etc/hostname", O_RDONLY) needs "rpath"' in got.stderr
    assert _pids(got.stderr) == _pids(want.stderr)
    assert f"cat[{state['pid']}]" in got.stderr


@kernel
def test_pending_served_open(tmp_path: Path) -> None:
    """getpw's read of /etc/passwd: the filter sends it to the supervisor, which opens
    the file for the program (exec/allowed.py): the takeover serves it, not a violation."""
    args = ["-p", "stdio getpw", "cat", "/etc/passwd"]
    got, state = _take_over(tmp_path, "stdio getpw exec rpath prot_exec", "stdio getpw", True,
                            args[2:], args, "unanswered")
    # the first call the filter did not allow after READY, handed over unanswered: cat's
    # fstat of its output as newfstatat (answer.fstat_for), or the open itself
    assert int(state["notif"].split(":")[2], 16) in (257, 262)
    want = _reference(args, tmp_path)
    assert (got.returncode, got.stdout, got.stderr) == (want.returncode, want.stdout, want.stderr)
    assert got.returncode == 0 and got.stdout == Path("/etc/passwd").read_text()


@kernel
def test_opening_phase_carried_on(tmp_path: Path) -> None:
    """Handed over at the loader's first call after the execve: the takeover lets the
    loader's calls through until the shim's READY, then holds PROG to its promises."""
    args = ["-p", "stdio", "echo", "hi"]
    got, state = _take_over(tmp_path, "stdio exec rpath prot_exec", "stdio", True, args[2:],
                            args, "exec")
    assert (state["execed"], state["opening"], state["shim"]) == ("1", "1", "1")
    assert int(state["deadline_ms"]) > 0 and "notif" in state
    assert (got.returncode, got.stdout, got.stderr) == (0, "hi\n", "")


@kernel
def test_opening_phase_then_violation(tmp_path: Path) -> None:
    args = ["-p", "stdio", "cat", "/etc/hostname"]
    got, state = _take_over(tmp_path, "stdio exec rpath prot_exec", "stdio", True, args[2:],
                            args, "exec")
    assert state["opening"] == "1"
    want = _reference(args, tmp_path)
    assert (got.returncode, _pids(got.stderr)) == (want.returncode, _pids(want.stderr)) \
        == (134, _pids(want.stderr))
    assert "needs \"rpath\"" in got.stderr


@kernel
def test_status_of_a_signal_death_only_explained(tmp_path: Path) -> None:
    args = ["-p", "stdio rpath prot_exec proc", "sh", "-c", "kill -SYS $$"]
    got, state = _take_over(tmp_path, "stdio exec rpath prot_exec proc",
                            "stdio rpath prot_exec proc", False, args[2:], args, "end")
    assert "notif" not in state and os.WTERMSIG(int(state["status"])) == 31
    want = _reference(args, tmp_path)
    assert got.returncode == want.returncode == 159
    # the reference's note on "proc" is said before the fork: the launcher's to say
    # (or fall back for); the explanation of the end is the takeover's
    explained = [line for line in want.stderr.splitlines() if "killed by SIGSYS" in line]
    assert explained and _pids(got.stderr) == _pids(explained[0] + "\n")


@kernel
def test_bad_state_kills_prog(tmp_path: Path) -> None:
    """Fail closed: a state the takeover cannot read leaves nobody to answer PROG: it is
    killed, and the command exits EXIT_SANDBOX."""
    args = ["-p", "stdio", "cat", "/etc/hostname"]
    got, state = _take_over(tmp_path, "stdio exec rpath prot_exec", "stdio", True, args[2:],
                            args, "unanswered", override={"held": "zz"})
    assert got.returncode == 70
    assert f"cat[{state['pid']}]: killed: the supervisor failed" in got.stderr
    assert "needs" not in got.stderr  # never answered as a violation


def test_parse_state() -> None:
    got = takeover.parse_state("listener=3,pid=10,err=-1,held=1f,notif=1:2:3:0:0:0:0:0:0")
    assert got == {"listener": "3", "pid": "10", "err": "-1", "held": "1f",
                   "notif": "1:2:3:0:0:0:0:0:0"}
    for bad in ("", "pid", "pid=1,pid=2", "bogus=1", "pid=1,,err=2"):
        with pytest.raises(takeover.StateError):
            takeover.parse_state(bad)


def test_notification() -> None:
    assert takeover.notification("a:b:101:1:2:3:4:5:ff") == (0x101, (1, 2, 3, 4, 5, 0xFF),
                                                              0xA, 0xB)
    for bad in ("1:2:3", "1:2:3:4:5:6:7:8:9:10", "x:2:3:4:5:6:7:8:9"):
        with pytest.raises(takeover.StateError):
            takeover.notification(bad)


def test_promises_of_inverts_bits() -> None:
    for promises in (frozenset(), frozenset({"stdio"}), frozenset(VOCABULARY),
                     frozenset({"rpath", "prot_exec", "exec", "tmppath"})):
        assert takeover.promises_of(bits(promises)) == promises
    with pytest.raises(takeover.StateError):
        takeover.promises_of(1 << len(VOCABULARY))


def test_unveil_spec_reads_as_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a:b").mkdir()
    (tmp_path / "f").write_text("")
    for spec in ("f", "rw:f", "c:new", "a:b", "rwxc:" + str(tmp_path), "x:/etc/hostname"):
        assert takeover.unveil_spec(spec) == cli._unveil_spec(spec), spec
