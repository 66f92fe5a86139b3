"""Round-6 attack review: ways around the sandbox found by trying them (each test
failed on main before its fix), against the running kernel, in fresh children."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tests.pledged import killed, under


def clean(r: object) -> bool:
    return r.returncode == 0 and "pledge: " not in r.stderr  # type: ignore[attr-defined]


@pytest.fixture
def outside() -> object:
    """A world-writable directory outside /tmp, and a symlink to it beneath /tmp."""
    base = tempfile.mkdtemp(prefix="pledgepy-r6-outside-", dir="/var/tmp")
    os.chmod(base, 0o1777)
    link = tempfile.mktemp(prefix="pledgepy-r6-link-", dir="/tmp")
    os.symlink(base, link)
    try:
        yield base, link
    finally:
        os.unlink(link)
        shutil.rmtree(base, ignore_errors=True)


TMPFILE = """
try:
    fd = os.open({link!r}, os.O_TMPFILE | os.O_RDWR, 0o600)
except OSError as e:
    print("refused", errno.errorcode.get(e.errno, e.errno))
else:
    print("made", os.stat(fd).st_dev == os.stat({base!r}).st_dev, os.readlink(f"/proc/self/fd/{{fd}}"))
"""


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
@pytest.mark.parametrize("promises", ["stdio rpath wpath tmppath", "stdio tmppath"])
def test_tmppath_makes_no_o_tmpfile_outside_tmp(outside: tuple[str, str], promises: str,
                                                unprivileged: bool) -> None:
    # tmppath creates files beneath /tmp, and only there (OpenBSD: pledge_namei on the
    # path). O_TMPFILE through a symlink in /tmp made an unnamed file in the directory
    # it names: Landlock checks no creation right for O_TMPFILE, and with wpath held
    # the allowance layer does not check writing either, so nothing stopped it
    base, link = outside
    r = under(promises, TMPFILE.format(link=link, base=base), unprivileged=unprivileged)
    assert clean(r), r.explain()
    assert r.stdout.split()[0] == "refused", r.explain()


def test_tmppath_temporary_file_still_works() -> None:
    # tempfile.TemporaryFile() tries O_TMPFILE first and falls back to mkstemp + unlink
    body = """
f = tempfile.TemporaryFile(dir="/tmp")
f.write(b"data"); f.seek(0)
print(f.read().decode())
"""
    r = under("stdio tmppath", body, setup="import tempfile")
    assert clean(r), r.explain()
    assert r.stdout.split() == ["data"], r.explain()


def test_o_tmpfile_on_a_read_allowance_stays_a_violation() -> None:
    r = under("stdio", 'os.open("/usr/share/zoneinfo", os.O_TMPFILE | os.O_RDWR, 0o600)')
    assert killed(r), r.explain()


@pytest.fixture
def victim() -> object:
    """A file anyone may write, outside /tmp, and a symlink to it beneath /tmp."""
    base = tempfile.mkdtemp(prefix="pledgepy-r6-victim-", dir="/var/tmp")
    os.chmod(base, 0o1777)
    name = os.path.join(base, "victim")
    with open(name, "w") as f:
        f.write("precious")
    os.chmod(name, 0o666)
    link = tempfile.mktemp(prefix="pledgepy-r6-vlink-", dir="/tmp")
    os.symlink(name, link)
    try:
        yield name, link
    finally:
        os.unlink(link)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_tmppath_opens_nothing_outside_tmp_with_access_mode_3(victim: tuple[str, str],
                                                              unprivileged: bool) -> None:
    # O_CREAT with access mode 3 (read and write permission checked, a descriptor for
    # neither: ioctl-only opens of devices) was retried for tmppath's creating, and
    # Landlock's file_open check looks at neither right then: a file outside /tmp opened
    name, link = victim
    body = f"os.open({link!r}, 3 | os.O_CREAT, 0o600)\nprint('opened')"
    r = under("stdio tmppath", body, unprivileged=unprivileged)
    assert killed(r), r.explain()
    assert "opened" not in r.stdout, r.explain()


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_tmppath_truncates_nothing_outside_tmp_on_landlock_abi_2(victim: tuple[str, str],
                                                                 unprivileged: bool) -> None:
    # Landlock checks truncation from ABI 3 on; before, O_RDONLY|O_CREAT|O_TRUNC under
    # rpath (so the layer handled no reading) truncated any file the user may write.
    # The layer is built as on an ABI-2 kernel (the running one accepts its rights).
    name, link = victim
    setup = "from pledgepy.backends.linux.landlock import abi\nabi._probed = (2, None)\n"
    body = f"os.open({link!r}, os.O_RDONLY | os.O_CREAT | os.O_TRUNC, 0o600)\nprint('opened')"
    r = under("stdio rpath tmppath", body, setup=setup, unprivileged=unprivileged)
    with open(name) as f:
        assert f.read() == "precious", r.explain()
    assert killed(r), r.explain()


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_access_mode_3_opens_nothing_unveil_hides(victim: tuple[str, str],
                                                  unprivileged: bool) -> None:
    # open(2) with access mode 3 checks read and write permission and gives a descriptor
    # for neither (ioctl-only opens of devices); Landlock's file_open check then asks for
    # no right, so under "rpath wpath" it opened files unveil hides (OpenBSD: EINVAL)
    name, _ = victim
    setup = "pledgepy.unveil('/usr', 'r')\npledgepy.unveil(None, None)\n"
    body = f"attempt(os.open, {name!r}, os.O_RDONLY)\nos.open({name!r}, 3)\nprint('opened')"
    r = under("stdio rpath wpath", body, setup=setup, unprivileged=unprivileged)
    assert r.stdout.split() == ["ERR", "EACCES"], r.explain()
    assert killed(r), r.explain()
    assert "is not allowed by any promise" in r.stderr, r.explain()


def test_a_workers_fstat_does_not_drop_its_parents_posix_locks(tmp_path: object) -> None:
    # The parent answers a "stdio" worker's fstat from a copy of the worker's descriptor
    # (pidfd_getfd); closing that copy in the parent released every POSIX lock the
    # parent held on the file (a database's, say): a compromised worker holding a
    # descriptor of it could undo its parent's locks at will
    import fcntl
    import subprocess
    import sys

    import pledgepy

    name = os.path.join(str(tmp_path), "locked")
    with open(name, "w") as f:
        f.write("data")
    probe = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\ntry:\n"
             "    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
             "    print('held')\nelse:\n    print('free')\n")

    def lock_state() -> str:
        return subprocess.run([sys.executable, "-c", probe, name], capture_output=True,
                              text=True, check=True).stdout.strip()

    fd = os.open(name, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        assert lock_state() == "held"
        with pledgepy.Worker("tests.programs.worker_locks", promises="stdio",
                             setup="tests.programs.worker_locks:open_target",
                             env={"PLEDGEPY_TEST_LOCKED": name}) as w:
            assert w.call("fstat_target") == 4
            assert w.call("statx_target") == 4
            assert w.stats.violations == 0
            assert lock_state() == "held"
    finally:
        os.close(fd)


STATUS = """
s = pledgepy.status()
print("spawner" if any("made by pledgepy's spawner" in n for n in s.notes) else "in place",
      s.level)
"""
SELFMEM = """
r = subprocess.run([{prog!r}], capture_output=True, text=True)
print(r.returncode, r.stdout.strip() or r.stderr.strip())
"""


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
@pytest.mark.parametrize(("caller", "first"), [
    ("stdio proc exec", "stdio rpath wpath"),
    ("stdio rpath proc exec", "stdio rpath wpath prot_exec"),  # a narrowing drops prot_exec
    ("stdio proc exec", "stdio rpath wpath prot_exec"),  # ... where / cannot be read
])
def test_spawned_programs_without_prot_exec_cannot_rewrite_their_code(
        caller: str, first: str, unprivileged: bool) -> None:
    # The caller's own domain keeps procfs from being written under wpath without
    # prot_exec; the spawner's children entered a domain without that block, so a
    # program run under execpromises "stdio rpath wpath" rewrote its own code through
    # /proc/self/mem (new code without prot_exec). A narrowing that cannot build the
    # block (no rpath to read / and the mount table) seals the spawner instead.
    from tests.cprogs import compiled
    from tests.test_spawner import DUMPABLE

    with compiled(("selfmem", ("-static",))) as built:
        prog = str(built["selfmem"])
        setup = DUMPABLE + "import subprocess\n"
        narrowing = ("" if "prot_exec" not in first
                     else f'pledgepy.pledge({caller!r}, "stdio rpath wpath")\n')
        body = narrowing + SELFMEM.format(prog=prog) + STATUS
        r = under(caller, body, setup=setup, execpromises=first, unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    out, said = r.stdout.split("\n")[:2]
    if "rpath" in caller or "prot_exec" not in first:
        assert out.startswith("2 open: Permission denied"), r.explain()
        assert said.split()[0] == "spawner", r.explain()
    else:  # sealed: it runs narrowed in place, under the caller's promises too
        assert "rewritten" not in out and out.startswith("-"), r.explain()
        assert said == "in place partial", r.explain()  # and says why


def test_a_lazy_import_that_failed_is_not_searched_again_under_a_narrowing() -> None:
    # pledge() imports what loaded stdlib modules import on first use (runtime.py); one
    # this Python lacks failed quietly at the first pledge, and the next pledge searched
    # sys.path for it again under the first filter (no rpath): a violation, killed. As
    # uid 65534 here, unicodedata (root's pyenv) made "stdio proc exec" twice abort.
    # the first search fails as unicodedata's did for uid 65534 (PermissionError: a
    # directory of root's); a later one would look through sys.path (getcwd, stat)
    setup = """
import sys, traceback, pledgepy.runtime as _rt
_rt._lazy_imports = lambda: {"traceback": ("pledgepy_r6_no_such_module",)}
class _Once:
    seen = False
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "pledgepy_r6_no_such_module" and not cls.seen:
            cls.seen = True
            raise PermissionError(13, "Permission denied")
        return None
sys.meta_path.insert(0, _Once)
sys.path_importer_cache.clear()
"""
    r = under("stdio tty", 'pledgepy.pledge("stdio")\nprint("narrowed")', setup=setup)
    assert clean(r), r.explain()
    assert r.stdout.split() == ["narrowed"], r.explain()


IN_PLACE = """
r = subprocess.run([{prog!r}], capture_output=True, text=True, preexec_fn=lambda: None)
print("preexec", r.returncode, (r.stdout.strip() or r.stderr.strip()).replace(" ", "-"))
pid = os.fork()
if pid == 0:
    os.execv({prog!r}, [{prog!r}])
print("execv", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])
def test_programs_narrowed_in_place_without_prot_exec_cannot_rewrite_their_code(
        unprivileged: bool) -> None:
    # A caller holding prot_exec writes procfs (no block: new code is allowed to it); a
    # program it runs narrowed in place (preexec_fn, fork + exec) under execpromises
    # "stdio rpath wpath" inherited that and rewrote its own code via /proc/self/mem
    from tests.cprogs import compiled

    with compiled(("selfmem", ("-static",))) as built:
        prog = str(built["selfmem"])
        r = under("stdio rpath wpath prot_exec proc exec", IN_PLACE.format(prog=prog),
                  setup="import subprocess\n", execpromises="stdio rpath wpath",
                  unprivileged=unprivileged)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["preexec", "2", "open:-Permission-denied", "execv", "2"], \
        r.explain()


def test_programs_narrowed_in_place_that_cannot_be_kept_from_procfs_are_reported() -> None:
    body = """
pledgepy.pledge("stdio wpath prot_exec proc exec", "stdio wpath")
print(any("/proc/self/mem" in w and "narrowed in place" in w
          for w in pledgepy.status().not_enforced))
"""
    r = under("stdio wpath prot_exec proc exec", body)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["True"], r.explain()


HELPERS = {
    "resource tracker": ("from multiprocessing import resource_tracker\n"
                         "resource_tracker.ensure_running()\n"),
    "forkserver": ("import multiprocessing\nfrom multiprocessing import forkserver\n"
                   "forkserver.ensure_running()\n"),
}


@pytest.mark.parametrize("kind", sorted(HELPERS))
def test_multiprocessing_helpers_started_before_the_pledge_are_reported(kind: str) -> None:
    # Started before the first pledge, they run unconfined and serve this process: the
    # resource tracker unlinks any /dev/shm name registered on its pipe (a "stdio" write
    # deleted a file cpath was needed for), the forkserver forks processes that run what
    # this process sends ("stdio unix sendfd recvfd" ran os.system outside the sandbox)
    body = f"""
gaps = [g for g in pledgepy.status().not_enforced if "multiprocessing's {kind}" in g]
print(len(gaps), pledgepy.status().level)
try:
    pledgepy.pledge("stdio", strict=True)
except pledgepy.UnsupportedError:
    print("refused", flush=True)
pledgepy.pledge("stdio")
print(len([g for g in pledgepy.status().not_enforced if "multiprocessing's {kind}" in g]))
os._exit(0)  # multiprocessing's exit handlers would remove its directory (cpath)
"""
    r = under("stdio unix sendfd recvfd", body, setup=HELPERS[kind])
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["1", "partial", "refused", "1"], r.explain()


def test_a_helper_started_after_the_pledge_is_not_reported() -> None:
    body = HELPERS["resource tracker"] + """
print([g for g in pledgepy.status().not_enforced if "multiprocessing's" in g])
"""
    r = under("stdio rpath wpath cpath proc exec prot_exec", body, setup="import subprocess\n")
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["[]"], r.explain()


def test_a_second_pledge_with_multiprocessing_loaded_imports_nothing_new() -> None:
    # pledge() imported multiprocessing's lazy parts (concurrent.futures.process among
    # them) after what loaded modules need lazily: concurrent.futures' own thread module
    # was then first searched for at the next pledge, without rpath: a violation
    r = under("stdio unix", 'pledgepy.pledge("stdio")\nprint("narrowed")',
              setup="import multiprocessing\n")
    assert clean(r), r.explain()
    assert r.stdout.split() == ["narrowed"], r.explain()


def _parent(pid: str) -> int | None:
    """The parent pid of *pid*, or None if it ended while /proc was being read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def test_the_explainer_takes_no_listener_of_a_process_outside_the_callers_tree() -> None:
    # The explainer (unconfined, started before the first filter) took the seccomp
    # listener of whatever pid a request named and answered its notifications with
    # ENOSYS and SIGABRT: a compromised caller (a write on its socket: stdio) made it
    # abort another program. The victim: a program under the pledge command, whose
    # supervisor holds its listener; the explainer, as root, may take it.
    import subprocess
    import sys
    import time

    victim = subprocess.Popen(
        [sys.executable, "-m", "pledgepy", "-p", "stdio rpath error", sys.executable, "-c",
         "import os, socket, sys\nsys.stdin.readline()\n"
         "for _ in range(40):\n"
         "    try:\n        socket.socket()\n    except OSError:\n        pass\n"
         "print('survived', flush=True)\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the program runs under its listener
            kids = [p for p in os.listdir("/proc") if p.isdigit() and _parent(p) == victim.pid]
            if kids:
                break
            time.sleep(0.05)
        assert kids, "the pledge command did not start its program"
        body = f"""
from pledgepy.backends.linux.exec import explain
print("explainer", explain.running())
for pid in ({victim.pid}, {int(kids[0])}):  # the supervisor holds the listener
    os.write(explain.channel_fd(), pid.to_bytes(4, "little") + bytes(9))
time.sleep(1.5)
print("asked")
"""
        import threading

        got: list[object] = []
        attacker = threading.Thread(target=lambda: got.append(under(
            "stdio proc exec", body, setup="import subprocess, time\n", execpromises="stdio")))
        attacker.start()
        time.sleep(1.0)  # the requests are in (an explainer that takes the listener serves
        # it until the victim ends: the attacker's stderr, which it holds, stays open)
        out, err = victim.communicate("go\n", timeout=30)
        attacker.join(60)
        r = got[0]
        assert r.returncode == 0 and r.stdout.split() == ["explainer", "True", "asked"], \
            r.explain()  # type: ignore[attr-defined]
    finally:
        if victim.poll() is None:
            victim.kill()
    # under "error" its supervisor answers each violation ENOSYS; the explainer, holding a
    # stolen copy of the listener, aborted it at the first notification it read
    assert victim.returncode == 0 and out.split() == ["survived"], (victim.returncode, out, err)
