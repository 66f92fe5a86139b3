"""The FreeBSD decision procedure (bsd-backends.md A.3) as a table test."""

from __future__ import annotations

import pytest

from pledgepy.backends.freebsd import rights as R
from pledgepy.backends.freebsd.decision import (
    ACCEPTABLE,
    TABLE,
    Action,
    Entry,
    Options,
    decide,
    dir_rights,
    fd_grant,
)
from pledgepy.promises import VOCABULARY

OPT = Options(tmpdir="/tmp")
ALL_ACCEPTED = Options(accept=frozenset(ACCEPTABLE), tmpdir="/tmp")

BLOCKING = {"dns", "tape", "exec", "settime", "ps", "vminfo", "pf", "route", "wroute",
            "audio", "video", "bpf"}
DEGRADED = {"inet", "mcast", "getpw", "proc"}


def P(s: str) -> frozenset[str]:
    return frozenset(s.split())


def expected_action(promise: str, options: Options) -> Action:
    if promise in BLOCKING or (promise in DEGRADED and promise not in options.accept):
        return Action.BLOCK
    if promise == "unveil":
        return Action.DEFER
    return Action.ENTER


@pytest.mark.parametrize("options", [OPT, ALL_ACCEPTED], ids=["default", "accepted"])
@pytest.mark.parametrize("promise", VOCABULARY)
def test_every_promise_alone_with_stdio(promise: str, options: Options) -> None:
    plan = decide(P(f"stdio {promise}"), None, (), locked=False, entered=False,
                  options=options)
    assert plan.action is expected_action(promise, options)
    gaps = plan.gaps()
    if plan.action is Action.BLOCK:
        assert gaps.level == "none"
        assert any(line.startswith(f"capability mode not entered: {promise}:")
                   for line in gaps.not_enforced)
        assert f"{promise}: not enforced (capability mode not entered)" in gaps.not_enforced
        assert "stdio: not enforced (capability mode not entered)" in gaps.not_enforced
    elif plan.action is Action.DEFER:
        assert gaps.level == "none" and gaps.not_enforced[0].startswith("pending:")
    else:
        assert gaps.level == "partial"  # Capsicum always leaves gaps (A.3 step 8)
        if promise in DEGRADED:
            assert any(line.startswith(f"{promise}: degraded:") for line in gaps.not_enforced)


def test_table_covers_the_vocabulary() -> None:
    assert set(TABLE) == set(VOCABULARY)


EXPECTED_DIRS = {
    "rpath": {"/": R.R_DIR},
    "wpath": {"/": dir_rights("w", P("wpath"))},
    "cpath": {"/": dir_rights("c", P("cpath"))},
    "tmppath": {"/tmp": R.R_DIR | R.W_ADD | R.C_ADD},
}


@pytest.mark.parametrize("promise", VOCABULARY)
def test_preopens_per_promise(promise: str) -> None:
    plan = decide(P(f"stdio {promise}"), None, (), True, False, ALL_ACCEPTED)
    got = {g.path: g.rights for g in plan.dirs}
    if promise in {"dpath", "fattr", "chown"}:
        assert set(got) == {"/"} and not got["/"].has(R.CAP_READ)
        assert not got["/"].has(R.CAP_CREATE)  # no create/unlink without cpath
    else:
        assert got == EXPECTED_DIRS.get(promise, {})


def test_wpath_dir_has_no_read_and_rpath_no_write() -> None:
    w = dir_rights("w", P("wpath"))
    assert w.has(R.CAP_WRITE) and not w.has(R.CAP_READ) and w.has(R.CAP_LOOKUP)
    r = dir_rights("r", P("rpath"))
    assert r == R.R_DIR and not r.has(R.CAP_WRITE) and not r.has(R.CAP_CREATE)


def test_absence_gaps_listed_only_when_absent() -> None:
    lines = decide(P("stdio"), None, (), True, False, OPT).gaps().not_enforced
    for word in ("proc", "id", "prot_exec", "sendfd", "recvfd", "mcast", "inet", "unix"):
        assert any(line.startswith(f"without {word},") for line in lines), word
    lines = decide(P("stdio id prot_exec sendfd recvfd unix"), None, (), True, False,
                   OPT).gaps().not_enforced
    for word in ("id", "prot_exec", "sendfd", "recvfd", "unix"):
        assert not any(line.startswith(f"without {word},") for line in lines), word
    empty = decide(P(""), None, (), True, False, OPT).gaps().not_enforced
    assert any(line.startswith("without stdio,") for line in empty)


def test_execpromises_always_a_gap() -> None:
    plan = decide(P("stdio"), P("stdio"), (), True, False, OPT)
    assert any(line.startswith("execpromises:") for line in plan.not_enforced)
    only_exec = decide(None, P("stdio"), (), False, False, OPT)
    assert only_exec.action is Action.NOTHING and only_exec.gaps().level == "none"


UNVEIL_CASES = [
    # (promises, entries, dirs, hidden, gap fragments, note fragments)
    ("stdio rpath", [("/srv", "r", True)], {"/srv": R.R_DIR}, [], [], []),
    ("stdio rpath", [("/srv", "rwc", True)], {"/srv": R.R_DIR}, [], [], []),
    ("stdio rpath wpath cpath", [("/srv", "rwc", True)],
     {"/srv": R.R_DIR | R.W_ADD | R.C_ADD}, [], [], []),
    ("stdio rpath wpath", [("/srv", "rw", True), ("/srv/secret", "", True)],
     {"/srv": R.R_DIR | R.W_ADD}, ["/srv/secret"], ["/srv/secret is hidden inside /srv"], []),
    ("stdio rpath wpath", [("/srv", "rw", True), ("/srv/ro", "r", True)],
     {"/srv": R.R_DIR | R.W_ADD, "/srv/ro": R.R_DIR}, [],
     ["/srv/ro is narrowed to 'r' inside /srv"], []),
    ("stdio rpath wpath cpath", [("/srv", "r", True), ("/srv/data", "rwc", True)],
     {"/srv": R.R_DIR, "/srv/data": R.R_DIR | R.W_ADD | R.C_ADD}, [], [], []),
    ("stdio rpath", [("/etc/passwd", "r", False)], {"/etc": R.R_DIR}, [],
     ["/etc/passwd (r): not a directory, so it is granted through /etc"], []),
    ("stdio", [("/srv", "r", True)], {}, ["/srv"], [], []),
    ("stdio rpath", [("/opt/bin", "rx", True)], {"/opt/bin": R.R_DIR}, [], [],
     ["unveil 'x'"]),
    ("stdio rpath tmppath", [("/srv", "r", True)],
     {"/srv": R.R_DIR, "/tmp": R.R_DIR | R.W_ADD | R.C_ADD}, [], ["tmppath: all of /tmp"], []),
]


@pytest.mark.parametrize("promises,entries,dirs,hidden,gaps,notes", UNVEIL_CASES)
def test_unveil_sets(promises: str, entries: list[tuple[str, str, bool]],
                     dirs: dict[str, R.Rights], hidden: list[str], gaps: list[str],
                     notes: list[str]) -> None:
    plan = decide(P(promises), None, tuple(Entry(*e) for e in entries), True, False, OPT)
    assert plan.action is Action.ENTER
    assert {g.path: g.rights for g in plan.dirs} == dirs
    assert list(plan.hidden) == hidden
    text = "\n".join(plan.not_enforced)
    for frag in gaps:
        assert frag in text
    if not gaps:
        assert "inside" not in text and "not a directory" not in text
    for frag in notes:
        assert any(frag in n for n in plan.notes)


def test_no_unveil_and_no_path_promise_preopens_nothing() -> None:
    assert decide(P("stdio"), None, (), True, False, OPT).dirs == ()


def test_defer_then_enter_once_locked() -> None:
    entries = (Entry("/srv", "r", True),)
    deferred = decide(P("stdio rpath unveil"), None, entries, False, False, OPT)
    assert deferred.action is Action.DEFER and deferred.dirs == ()
    locked = decide(P("stdio rpath unveil"), None, entries, True, False, OPT)
    assert locked.action is Action.ENTER
    assert {g.path for g in locked.dirs} == {"/srv"}


def test_later_pledges_reduce() -> None:
    entries = (Entry("/srv", "rw", True),)
    first = decide(P("stdio rpath wpath"), None, entries, True, False, OPT)
    later = decide(P("stdio rpath"), None, entries, True, True, OPT)
    assert later.action is Action.REDUCE
    assert first.dirs[0].rights.contains(later.dirs[0].rights)
    assert later.dirs[0].rights == R.R_DIR
    dropped = decide(P("stdio"), None, entries, True, True, OPT)
    assert dropped.action is Action.REDUCE and dropped.dirs == ()


def test_blockers_combined_name_every_reason() -> None:
    plan = decide(P("stdio rpath exec dns inet"), None, (), True, False, OPT)
    assert plan.action is Action.BLOCK
    assert [b.split(":")[0] for b in plan.blockers] == ["inet", "dns", "exec"]
    assert "PLEDGEPY_CAPSICUM_ACCEPT=inet" in plan.blockers[0]


def test_fd_grants() -> None:
    none = fd_grant(P(""), "other", 2)
    assert none.rights.empty and none.ioctls is None
    ro = fd_grant(P("stdio"), "other", 0)
    assert ro.rights.has(R.CAP_READ) and not ro.rights.has(R.CAP_WRITE)
    assert ro.rights.has(R.CAP_IOCTL) and ro.ioctls and len(ro.ioctls) == 6
    wo = fd_grant(P("stdio"), "other", 1)
    assert wo.rights.has(R.CAP_WRITE) and not wo.rights.has(R.CAP_READ)
    d = fd_grant(P("stdio rpath"), "dir", 0)
    assert not d.rights.has(R.CAP_LOOKUP) and not d.rights.has(R.CAP_IOCTL)
    s = fd_grant(P("stdio inet"), "socket", 2)
    assert s.rights.has(R.CAP_ACCEPT) and s.rights.has(R.CAP_GETPEERNAME)
    assert not fd_grant(P("stdio"), "socket", 2).rights.has(R.CAP_ACCEPT)
    tty = fd_grant(P("stdio tty"), "other", 2)
    assert tty.ioctls is not None and len(tty.ioctls) > len(ro.ioctls)
    assert fd_grant(P("stdio flock"), "other", 2).rights.has(R.CAP_FLOCK)


def test_options_from_env() -> None:
    opt = Options.from_env({"PLEDGEPY_CAPSICUM_ACCEPT": "proc, getpw", "TMPDIR": "/var/tmp"})
    assert opt.accept == {"proc", "getpw"} and opt.tmpdir == "/var/tmp"
    with pytest.raises(ValueError, match="exec"):
        Options.from_env({"PLEDGEPY_CAPSICUM_ACCEPT": "exec"})
