"""Round-11 review of the pledge command with real programs: what OpenBSD's promises let
through that the command refused (each test failed on main before its fix), against the
running kernel, through the installed console script."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
from pathlib import Path

import pytest

from pledgepy.backends.linux.exec import allowed
from tests.shims import pyenv_shim
from tests.test_command_unveil import ENV, pledge

AS = pytest.mark.parametrize("flags", [(), ("-u", "nobody")], ids=["root", "nobody"])
NEEDS_ZONES = pytest.mark.skipif(not os.path.exists("/usr/share/zoneinfo/Europe/Paris"),
                                 reason="needs the zoneinfo tree")


@AS
@NEEDS_ZONES
def test_date_runs_under_stdio_alone(flags: tuple[str, ...]) -> None:
    """OpenBSD lets stdio read /etc/localtime and the zoneinfo tree; the in-process
    handler does, the command's supervisor did not: on main ``pledge -p stdio date``
    died of ``openat("/etc/localtime") needs "rpath"`` (134), with TZ set too."""
    for tz in ({}, {"TZ": "Europe/Paris"}):
        r = pledge("-q", "-p", "stdio", *flags, "date", "+%Z", env={**ENV, **tz})
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() in (("CET", "CEST") if tz else (r.stdout.strip(),)), r.stdout


@NEEDS_ZONES
def test_what_learn_suggests_for_date_runs() -> None:
    """``pledge --learn date`` counts the time zone's open as stdio and suggests
    ``pledge -p stdio date``: on main that command was refused (not sufficient)."""
    r = pledge("--learn", "--json", "date", env={**ENV, "TZ": "Europe/Paris"})
    assert r.returncode == 0, r.stderr
    import json

    report = json.loads(r.stderr[r.stderr.index("{"):])
    assert report["promises"] == ["stdio"], report["promises"]
    again = pledge("-q", "-p", " ".join(report["promises"]), "date",
                   env={**ENV, "TZ": "Europe/Paris"})
    assert again.returncode == 0, again.stderr


def test_getpw_reads_the_password_database_without_rpath() -> None:
    """OpenBSD's getpw reads the password database without rpath; on main
    ``pledge -p "stdio getpw" getent passwd root`` died of stat("/etc/nsswitch.conf")
    needing rpath. /etc/shadow stays out of reach."""
    r = pledge("-q", "-p", "stdio getpw", "getent", "passwd", "root")
    assert r.returncode == 0 and r.stdout.startswith("root:"), r.stderr
    r = pledge("-q", "-p", "stdio getpw", "-u", "nobody", "whoami")
    assert r.returncode == 0 and r.stdout.strip() == "nobody", r.stderr
    r = pledge("-q", "-p", "stdio getpw", "cat", "/etc/shadow")
    assert r.returncode == 134 and r.stdout == "", r.stdout
    assert 'openat("/etc/shadow", O_RDONLY) needs "rpath"' in r.stderr, r.stderr


def test_dns_reads_hosts_without_rpath() -> None:
    """dns's files (hosts, resolv.conf, nsswitch.conf): on main ``pledge -p "stdio dns
    inet" getent hosts localhost`` died of the stat of nsswitch.conf (134)."""
    r = pledge("-q", "-p", "stdio dns inet", "getent", "hosts", "localhost")
    assert r.returncode == 0 and "localhost" in r.stdout, r.stderr


@pytest.mark.parametrize("path", ["/usr/share/zoneinfo/../../../etc/shadow",
                                  "/usr/share/zoneinfo//../../../etc/shadow",
                                  "/usr/share/zoneinfo/./../../../etc/shadow"])
def test_an_allowance_path_spelled_to_climb_out_is_a_violation(path: str) -> None:
    """A path that starts in an allowance tree and climbs out reads nothing (this
    passed on main too: the guard of the new answer)."""
    r = pledge("-q", "-p", "stdio", "cat", path)
    assert r.returncode == 134 and r.stdout == "", r.stdout


def _address(text: bytes) -> tuple[ctypes.Array[ctypes.c_char], int]:
    buf = ctypes.create_string_buffer(text)
    return buf, ctypes.addressof(buf)


def test_a_link_out_of_an_allowance_tree_is_not_followed(place: Path) -> None:
    """What the supervisor opens must really lie in an allowance tree: a link planted
    there that leads out (to a secret) is refused, the file itself is answered."""
    tree = place / "zones"
    tree.mkdir()
    (tree / "UTC").write_text("TZif\n")
    (place / "secret").write_text("SECRET\n")
    (tree / "Evil").symlink_to(place / "secret")
    zones = (str(tree),)
    buf, at = _address(str(tree / "UTC").encode())
    fd = allowed._open(os.getpid(), at, os.O_RDONLY, zones)
    try:
        assert os.read(fd, 4) == b"TZif"
        assert os.get_blocking(fd)  # the program did not ask O_NONBLOCK
    finally:
        os.close(fd)
    buf, at = _address(str(tree / "Evil").encode())
    with pytest.raises(allowed._Refused):
        allowed._open(os.getpid(), at, os.O_RDONLY, zones)
    del buf


def test_a_file_its_user_may_not_read_is_refused(place: Path) -> None:
    """The supervisor (root) must not lend PROG its rights: a 0600 file of another
    owner is EACCES for PROG's user, as its own open would be."""
    tree = place / "zones"
    tree.mkdir()
    private = tree / "Private"
    private.write_text("TZif\n")
    private.chmod(0o600)
    os.chown(private, 1, 1)  # daemon's: not this process's user (root) nor group
    buf, at = _address(str(private).encode())
    with pytest.raises(PermissionError):
        allowed._open(os.getpid(), at, os.O_RDONLY, (str(tree),))
    del buf


def test_a_program_under_another_root_gets_no_host_file(place: Path) -> None:
    """Under ``-c DIR`` PROG's /etc/passwd is DIR's: the supervisor, outside DIR, would
    hand over the host's. A process whose root differs is not answered."""
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    pid = os.fork()
    if pid == 0:
        try:
            os.chroot(str(place))
            signal.pause()
        finally:
            os._exit(0)
    try:
        buf, at = _address(b"/etc/passwd")
        assert allowed._same_root(os.getpid())
        import time

        for _ in range(200):  # until the child has changed its root
            if not allowed._same_root(pid):
                break
            time.sleep(0.01)
        assert not allowed._same_root(pid)
        del buf
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


@pytest.mark.skipif(shutil.which("ps") is None, reason="needs ps (procps)")
@AS
def test_ps_runs(flags: tuple[str, ...]) -> None:
    """procps's ps installs a handler for every signal, SIGSYS too: a violation in a
    pledged process (its handler carries the penalty) but not under the command, whose
    supervisor punishes. On main: ``rt_sigaction(31) is not allowed by any promise``,
    134; and ``pledge --learn ps`` listed it as refused (no policy would run it)."""
    r = pledge("-q", "-p", "stdio rpath tty", "-v", "/proc", *flags, "ps", "-e")
    assert r.returncode == 0, r.stderr
    assert "PID" in r.stdout and len(r.stdout.splitlines()) > 2, r.stdout
    r = pledge("--learn", "-q", "ps", "-e")
    assert r.returncode == 0, r.stderr
    assert "rt_sigaction" not in r.stderr, r.stderr


def test_an_open_at_the_descriptor_limit_fails_as_it_would() -> None:
    """At its -O limit the program's open of /dev/null (answered with the supervisor's
    descriptor) failed to be handed over, and the supervisor called it a violation: on
    main ``openat("/dev/null", O_RDONLY) needs "rpath"``, 134. It is EMFILE, as the
    program's own open would say; so is /etc/localtime's."""
    from tests.cprogs import compiled

    with compiled(("at_fd_limit", ())) as progs:
        r = pledge("-q", "-p", "stdio", "-O", "64", str(progs["at_fd_limit"]))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Too many open files Too many open files\n", r.stdout


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the program's syscalls are x86_64's")
def test_the_explainer_answers_fstat_of_a_program_narrowed_in_place() -> None:
    """A program that subprocess (with a preexec_fn) narrows in place to execpromises
    "stdio": its fstat(0), spelled newfstatat(0, "", AT_EMPTY_PATH), is a stdio call; on
    main the explainer called it a violation (``newfstatat(dirfd 0, "") needs "rpath"
    ...``, SIGABRT), as the command's supervisor and the in-process handler do not."""
    import subprocess
    import sys

    from tests.cprogs import compiled

    script = ("import subprocess, sys, pledgepy\n"
              "pledgepy.pledge('stdio rpath proc exec', 'stdio')\n"
              "r = subprocess.run([sys.argv[1]], input=b'hi', capture_output=True,\n"
              "                   preexec_fn=lambda: None)\n"
              "print(r.returncode, r.stdout.decode().strip(), r.stderr.decode().strip())\n")
    with compiled(("fstat_stdin", ("-static", "-nostdlib"))) as progs:
        r = subprocess.run([sys.executable, "-W", "ignore", "-c", script,
                            str(progs["fstat_stdin"])], capture_output=True, text=True,
                           env=ENV, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "0 fifo \n", (r.stdout, r.stderr)


def test_learn_runs_without_the_capabilities_the_command_drops(place: Path) -> None:
    """As root, a file of another user's (0644): writing it needs CAP_DAC_OVERRIDE, which
    the command drops by default and learn kept. On main ``pledge --learn`` succeeded
    and suggested a command that failed with EACCES; now the learned run fails as the
    command's would, and with -D both keep it (the suggestion says -D)."""
    if os.geteuid() != 0:
        pytest.skip("needs root's capabilities")
    target = place / "theirs"
    target.write_text("old\n")
    os.chown(target, 65534, 65534)
    place.chmod(0o755)
    script = f"echo new > {target}"
    r = pledge("--learn", "-q", "sh", "-c", script)
    assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
    assert target.read_text() == "old\n"
    r = pledge("--learn", "--json", "-D", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    import json
    import shlex

    command = json.loads(r.stderr[r.stderr.index("{"):])["command"]
    assert command.startswith("pledge -D "), command
    target.write_text("old\n")
    again = pledge("-q", *shlex.split(command)[1:])
    assert again.returncode == 0 and target.read_text() == "new\n", again.stderr


def test_learn_closes_the_descriptors_the_command_closes(place: Path) -> None:
    """A descriptor inherited above 2: the command closes it at exec (-N keeps it),
    learn did not. On main learning a write to it succeeded and its suggested
    command failed (Bad file descriptor); now the learned run fails as the command's."""
    import subprocess

    from tests.test_command_unveil import SCRIPT

    out = place / "out"
    head = [SCRIPT] if SCRIPT else [os.sys.executable, "-m", "pledgepy"]
    with open(out, "w") as f:
        fd = f.fileno()
        prog = ["/usr/bin/python3", "-c", f"import os; os.write({fd}, b'hi\\n')"]
        r = subprocess.run([*head, "--learn", "-q", *prog],
                           capture_output=True, text=True, env=ENV, timeout=60,
                           check=False, pass_fds=(fd,))
        kept = subprocess.run([*head, "--learn", "-q", "-N", *prog],
                              capture_output=True, text=True, env=ENV, timeout=60,
                              check=False, pass_fds=(fd,))
    assert r.returncode != 0 and "Bad file descriptor" in r.stderr, r.stderr
    assert kept.returncode == 0, kept.stderr
    assert out.read_text() == "hi\n"


@AS
def test_sed_in_place_runs_under_fattr(place: Path, flags: tuple[str, ...]) -> None:
    """GNU sed -i copies the file's ACL with fsetxattr, which no promise allows (BPF
    cannot read the name; security.capability would give a file capabilities): on main
    ``fsetxattr is not allowed by any promise``, 134, under every promise set, and
    ``pledge --learn`` said no policy would run it. Under fattr the supervisor answers
    EOPNOTSUPP (a filesystem without them) and sed falls back to fchmod; nothing is
    set."""
    place.chmod(0o777)
    target = place / "f.txt"
    target.write_text("old\n")
    if flags:  # its own file: sed's fchown of the new one to the old owner is then fattr's
        os.chown(target, 65534, 65534)
    r = pledge("-q", "-p", "stdio rpath wpath cpath fattr", "-v", f"rwc:{place}", *flags,
               "sed", "-i", "s/old/new/", str(target))
    assert r.returncode == 0, r.stderr
    assert target.read_text() == "new\n"
    assert os.listxattr(target) == []
    r = pledge("-q", "-p", "stdio rpath wpath", "-v", f"rw:{place}", *flags,
               "/usr/bin/python3", "-c", f"import os; os.setxattr({str(target)!r}, 'user.x', b'1')")
    assert r.returncode == 134, r.stderr
    assert f'setxattr("{target}") needs "fattr"' in r.stderr, r.stderr


def test_learn_finds_fattr_for_sed_in_place(place: Path) -> None:
    """The learned policy of ``sed -i`` runs (on main its fsetxattr was refused by every
    promise: the suggested command failed)."""
    import json
    import shlex

    target = place / "f.txt"
    target.write_text("old\n")
    r = pledge("--learn", "--json", "sed", "-i", "s/old/mid/", str(target))
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stderr[r.stderr.index("{"):])
    assert "fattr" in report["promises"] and report["refused"] == [], report
    again = pledge("-q", *shlex.split(report["command"])[1:-4], "sed", "-i", "s/mid/new/",
                   str(target))
    assert again.returncode == 0 and target.read_text() == "new\n", again.stderr


@AS
def test_id_runs_under_stdio_getpw(flags: tuple[str, ...]) -> None:
    """OpenBSD's id pledges "stdio getpw". On main the command refused ``id`` under it:
    the password database needed rpath, then (C.UTF-8) gettext's catalog
    ``coreutils.mo`` and sysconf's /proc/sys/kernel/ngroups_max did."""
    env = {**ENV, "LANG": "C.UTF-8"}
    r = pledge("-q", "-p", "stdio getpw", *flags, "id", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("uid=0(root)" if not flags else "uid=65534(nobody)"), r.stdout


def test_only_message_catalogs_are_answered_in_the_locale_tree() -> None:
    """The catalogs' shape only (TREE/LOCALE/LC_MESSAGES/X.mo), spelled plainly."""
    assert allowed._catalog("/usr/share/locale/de/LC_MESSAGES/coreutils.mo")
    for path in ("/usr/share/locale/de/LC_MESSAGES/x.txt", "/usr/share/locale/locale.alias",
                 "/usr/share/locale/de/LC_TIME/x.mo", "/usr/share/locale/a/b/LC_MESSAGES/x.mo",
                 "/usr/share/localex/de/LC_MESSAGES/x.mo"):
        assert not allowed._catalog(path), path
    r = pledge("-q", "-p", "stdio", "cat",
               "/usr/share/locale/de/LC_MESSAGES/../../../../../etc/shadow")
    assert r.returncode == 134 and r.stdout == "", r.stdout


@pytest.mark.skipif(shutil.which("ps") is None, reason="needs ps (procps)")
def test_what_learn_suggests_for_ps_runs() -> None:
    """``pledge --learn ps`` said no promise allows get_mempolicy and set_mempolicy
    (libnuma's constructor: ps loads libnuma), and its suggested command died of them
    (on main: ``get_mempolicy is not allowed by any promise``, 134). Under stdio the
    supervisor answers them ENOSYS (a kernel without NUMA): the suggestion runs."""
    import json
    import shlex

    r = pledge("--learn", "--json", "ps", "-e")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stderr[r.stderr.index("{"):])
    assert report["refused"] == [], report["refused"]
    again = pledge("-q", *shlex.split(report["command"])[1:])
    assert again.returncode == 0 and "PID" in again.stdout, again.stderr


def test_a_pyenv_shim_is_named_as_one(place: Path) -> None:
    """``pledge python3 app.py`` where PATH finds pyenv's shim (a bash script that runs
    ROOT/libexec/pyenv to pick the version): pyenv's scripts are not unveiled, and on
    main the run ended in bash's bare "libexec/pyenv: Permission denied" (126). A note
    now says it is a shim and what to name instead."""
    root, pyenv, shim = pyenv_shim(place)
    r = pledge("-p", "stdio rpath proc exec", str(shim), "-c", "print(1)")
    assert r.returncode == 126 and "ran-pyenv" not in r.stdout, (r.stdout, r.stderr)
    assert (f"{shim} is a pyenv shim (a script that runs {pyenv}, which is not unveiled, "
            f"to pick a Python): name the interpreter itself (`pyenv which python3`: "
            f"{root}/versions/VERSION/bin/python3)") in r.stderr, r.stderr


def test_a_path_no_read_reaches_is_not_answered() -> None:
    """A pointer into no mapping: a violation as before, never an errno the supervisor
    made up from its own failed read (EIO)."""
    for address in (1, 4096, (1 << 47) + 4096):
        with pytest.raises(allowed._Refused):
            allowed._open(os.getpid(), address, os.O_RDONLY, ("/usr/share/zoneinfo",))


ADDRCONFIG = ("import socket; print(socket.getaddrinfo('127.0.0.1', 80, "
              "flags=socket.AI_ADDRCONFIG)[0][4])")


def test_getaddrinfo_with_addrconfig_runs_under_dns() -> None:
    """glibc's getaddrinfo(AI_ADDRCONFIG) opens a netlink socket to see which families
    have addresses: on main ``socket(AF_NETLINK, SOCK_RAW) is not allowed by any
    promise`` (134) under "stdio rpath inet dns", in-process too. It is refused quietly
    (EACCES: glibc then assumes both), exactly that shape; other netlink stays refused."""
    import subprocess
    import sys

    r = pledge("-q", "-p", "stdio rpath inet dns", "/usr/bin/python3", "-c", ADDRCONFIG)
    assert r.returncode == 0 and "127.0.0.1" in r.stdout, r.stderr
    code = f"import socket, pledgepy; pledgepy.pledge('stdio inet dns'); {ADDRCONFIG}"
    r2 = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                        text=True, env=ENV, timeout=60, check=False)
    assert r2.returncode == 0 and "127.0.0.1" in r2.stdout, r2.stderr
    audit = "import socket; socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 9)"
    r = pledge("-q", "-p", "stdio rpath inet dns", "/usr/bin/python3", "-c", audit)
    assert r.returncode == 134 and "AF_NETLINK" in r.stderr, r.stderr


def test_learn_counts_the_netlink_probe_as_dns_or_inet() -> None:
    """``getent ahosts localhost`` (AI_ADDRCONFIG, then /etc/hosts): on main learn said no
    promise allows its socket, and learned recvfd from the probe's recvmsg; its suggested
    command died. Now the probe fails as under the command and counts as inet."""
    import json
    import shlex

    r = pledge("--learn", "--json", "getent", "ahosts", "localhost")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stderr[r.stderr.index("{"):])
    assert report["refused"] == [] and "recvfd" not in report["promises"], report
    assert "inet" in report["promises"], report["promises"]
    again = pledge("-q", *shlex.split(report["command"])[1:])
    assert again.returncode == 0 and "localhost" in again.stdout, again.stderr
