"""Round 11, issue 13 item 4: a learned policy is sufficient (the same run passes under
the suggested command), minimal in promises (dropping any one of them makes the run
fail) and asks no unveil rule for a file the command serves itself under the learned
promises (the allowances of exec/allowed.py).

On main, ``pledge --learn id`` (LANG=C.UTF-8) suggested "stdio rpath" with unveil
rules for /etc/passwd, /etc/group, /etc/nsswitch.conf and /proc/sys/kernel/ngroups_max:
the recorder counted every open and stat of getpw's and dns's files as rpath alone (and
C counted all of a program's stat() calls as one, so the stat of /etc/nsswitch.conf
could not be told from any other), and the report unveiled what the command serves.
OpenBSD's id pledges "stdio getpw"; the same held for whoami and getent (passwd: getpw,
hosts: dns). Those cases failed on main; the others guard that the fix kept them exact.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from pledgepy.backends.linux.exec import allowed
from tests.learning import ADDED, command, learn, run, violated

PY = (sys.executable, "-I", "-S", "-c")
PROGRAMS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "id": (("id",), {"LANG": "C.UTF-8"}),
    "whoami": (("whoami",), {}),
    "getent-passwd": (("getent", "passwd", "root"), {}),
    "getent-hosts": (("getent", "hosts", "localhost"), {}),
    "date": (("date",), {}),
    "date-tz": (("date",), {"TZ": "Europe/Berlin"}),
    "ps": (("ps",), {}),
    "sed-i": (("sed", "-i", "s/a/b/", "{dir}/data.txt"), {}),
    "ls-l": (("ls", "-l", "{dir}/tree"), {}),
    "cat": (("cat", "{dir}/data.txt"), {}),
    "sort": (("sort", "{dir}/data.txt"), {}),
    "tar-c": (("tar", "c", "-C", "{dir}", "tree"), {}),
    "python-getpwuid": ((*PY, "import os, pwd; print(pwd.getpwuid(os.getuid()).pw_name)"), {}),
    "python-getaddrinfo": ((*PY, "import socket; print(len(socket.getaddrinfo("
                                 "'localhost', 80, type=socket.SOCK_STREAM)) > 0)"), {}),
}
#: Whether learning must have found exactly these promises (the reviewer's cases).
EXPECTED = {"id": ["stdio", "getpw"], "whoami": ["stdio", "getpw"],
            "getent-passwd": ["stdio", "getpw"], "getent-hosts": ["stdio", "dns"],
            "date": ["stdio"], "date-tz": ["stdio"]}


def _setup(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("banana\napple\ncherry\n")
    (tmp_path / "tree" / "sub").mkdir(parents=True, exist_ok=True)
    for name in ("a", "b", "sub/c"):
        (tmp_path / "tree" / name).write_text(name * 10)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_a_learned_policy_is_sufficient_minimal_and_unveils_nothing_served(
        name: str, tmp_path: Path) -> None:
    words, env = PROGRAMS[name]
    if shutil.which(words[0]) is None:
        pytest.skip(f"no {words[0]}")
    argv = [w.replace("{dir}", str(tmp_path)) for w in words]
    _setup(tmp_path)
    r, report = learn(argv, str(tmp_path), env=env)
    assert r.returncode == 0, r.stderr
    promises: list[str] = report["promises"]
    if name in EXPECTED:
        assert promises == EXPECTED[name], report["command"]
    # (c) nothing unveiled that the command answers itself under these promises
    held = frozenset(promises)
    served = [p for p, _ in report["unveil"] if allowed.served(p, held)]
    assert not served, report["command"]
    # (a) sufficient: the suggested command runs (sed -i again: the same run)
    _setup(tmp_path)
    ok = run(command(report), str(tmp_path), env)
    assert ok.returncode == 0 and not violated(ok), (report["command"], ok.stderr)
    # (b) minimal: each promise but stdio (required) and what the command adds anyway
    for dropped in promises:
        if dropped == "stdio" or dropped in ADDED:
            continue
        _setup(tmp_path)
        less = [p for p in promises if p != dropped]
        bad = run(command(report, less), str(tmp_path), env)
        assert bad.returncode != 0, (dropped, report["command"], bad.stdout, bad.stderr)


def _first(report: dict[str, Any], argument: str) -> dict[str, Any]:
    return next(e for e in report["evidence"] if e["argument"].endswith(argument))


def test_a_stat_of_another_etc_file_keeps_its_own_need(tmp_path: Path) -> None:
    """C keys a stat() under /etc by its path now: a stat of /etc/hostname after NSS's of
    /etc/nsswitch.conf is its own row, needing rpath (getpw does not serve it). On main
    it fails: both were one row (by kind, shown as "e.g." the first path), so
    /etc/hostname had no row; the check that splitting them stays sound is rpath's."""
    code = ("import os, pwd; pwd.getpwuid(os.getuid()); os.stat('/etc/hostname')")
    r, report = learn([*PY, code], str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "rpath" in report["promises"], report["command"]
    assert _first(report, "/etc/hostname")["promise"] == "rpath"


def test_the_cover_prefers_an_allowance_to_rpath_but_not_dns_to_inet() -> None:
    """Of two minimal covers, getpw or dns wins against rpath (/etc/passwd: OpenBSD's
    id pledges "stdio getpw"), while a socket inet or dns allows stays inet's, and a
    run needing rpath anyway keeps rpath alone. On main the manual's order alone chose
    rpath for the passwd read."""
    from pledgepy.learn import cover

    def ways(*sets: str) -> frozenset[frozenset[str]]:
        return frozenset(frozenset(s.split()) for s in sets)

    passwd, hosts = ways("rpath", "getpw"), ways("rpath", "dns")
    stat, sock = ways("rpath", "wpath", "cpath", "dpath"), ways("inet", "dns")
    base = frozenset({"stdio"})
    assert cover.minimal([passwd, stat], base) == {"stdio", "rpath"}
    assert cover.minimal([passwd], base) == {"stdio", "getpw"}
    assert cover.minimal([hosts, ways("rpath", "dns", "getpw")], base) == {"stdio", "dns"}
    assert cover.minimal([sock], base) == {"stdio", "inet"}
    assert cover.minimal([passwd, ways("rpath")], base) == {"stdio", "rpath"}
