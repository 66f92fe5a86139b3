"""Security review (issue 8), items 1, 6, 7: nested Landlock domains for narrowing,
/proc hiding judged on the real filesystem, writable+executable memory."""

from __future__ import annotations

import sys

import pytest

from pledgepy.backends.linux.landlock import abi as A
from tests.childproc import run
from tests.pledged import under

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only"),
    pytest.mark.skipif(sys.platform.startswith("linux") and A.version() == 0,
                       reason="no Landlock in this kernel"),
]

AS = pytest.mark.parametrize("unprivileged", [False, True], ids=["root", "nobody"])

# uid 65534's processes are not dumpable after the drop from root: make them so,
# as any program of that user would be, so only Landlock stands in the way.
DUMPABLE = """
import ctypes
ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE
"""

OPEN_MEM = """
def open_mem(pid, mode):
    try:
        os.close(os.open(f"/proc/{pid}/mem", mode))
        return "OK"
    except OSError as e:
        return errno.errorcode[e.errno]

def in_child(fn):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            out = fn()
        except BaseException as e:
            out = repr(e)
        os.write(w, out.encode())
        os._exit(0)
    os.close(w)
    out = os.read(r, 200).decode()
    os.waitpid(pid, 0)
    return out
"""


@AS
def test_forked_child_that_narrows_cannot_open_its_parents_memory(unprivileged: bool) -> None:
    body = OPEN_MEM + """
parent = os.getpid()
def narrowed(promises, mode):
    def fn():
        pledgepy.pledge(promises)
        return open_mem(parent, mode)
    return fn
print(in_child(lambda: open_mem(parent, os.O_RDONLY)))  # same promises: same domain
print(in_child(narrowed("stdio rpath", os.O_RDONLY)))
print(in_child(narrowed("stdio rpath wpath", os.O_RDWR)))
print(in_child(narrowed("stdio wpath proc", os.O_WRONLY)))
"""
    r = under("stdio rpath wpath proc", body, setup=DUMPABLE, unprivileged=unprivileged)
    out = r.stdout.split()
    assert r.returncode == 0 and out[0] == "OK" and len(out) == 4, r.explain()
    assert all(o in ("EACCES", "EPERM") for o in out[1:]), r.explain()


# /bin/sh (any uid can run it) opens its parent's memory: the redirection is open(O_RDONLY)
SH_OPENS_PARENT_MEM = """
p = subprocess.run(["/bin/sh", "-c", 'exec 3</proc/$PPID/mem && echo opened'],
                   capture_output=True, text=True)
print(p.stdout.strip() or "refused", "Permission denied" in p.stderr)
"""


# ABI 1-5 (no scopes): each domain handles EXECUTE and grants it beneath /
ABI5 = """
from pledgepy.backends.linux.landlock import abi as _A
_A._probed = (5, None)
"""


@AS
def test_nested_domains_on_abi_below_6(unprivileged: bool) -> None:
    # the narrowing holds neither rpath nor unveil: "/" was opened at the first pledge
    body = OPEN_MEM + """
parent = os.getpid()
def fn():
    pledgepy.pledge("stdio wpath")
    return open_mem(parent, os.O_WRONLY)
print(in_child(fn))
""" + SH_OPENS_PARENT_MEM
    r = under("stdio rpath wpath proc exec prot_exec", body, execpromises="stdio rpath prot_exec",
              setup=DUMPABLE + ABI5 + "import subprocess\n", unprivileged=unprivileged)
    out = r.stdout.split()
    assert r.returncode == 0 and out[0] in ("EACCES", "EPERM"), r.explain()
    assert out[1:] == ["refused", "True"], r.explain()


@AS
def test_parent_that_narrows_cannot_open_a_broader_child(unprivileged: bool) -> None:
    # a child forked before the narrowing keeps the broad promises: out of reach
    body = OPEN_MEM + """
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.read(r, 1)
    os._exit(0)
before = open_mem(child, os.O_RDONLY)
pledgepy.pledge("stdio rpath")
print(before, open_mem(child, os.O_RDONLY))
os.write(w, b"x")
os.waitpid(child, 0)
"""
    r = under("stdio rpath wpath proc", body, setup=DUMPABLE, unprivileged=unprivileged)
    assert r.returncode == 0 and r.stdout.split()[0] == "OK", r.explain()
    assert r.stdout.split()[1] in ("EACCES", "EPERM"), r.explain()


@AS
def test_execpromises_child_cannot_open_its_parents_memory(unprivileged: bool) -> None:
    r = under("stdio rpath wpath proc exec prot_exec", SH_OPENS_PARENT_MEM,
              setup=DUMPABLE + "import subprocess\n", execpromises="stdio rpath prot_exec",
              unprivileged=unprivileged)
    assert r.returncode == 0 and r.stdout.split() == ["refused", "True"], r.explain()


def test_execpromises_before_any_pledge_keep_the_unpledged_parent_out_of_reach() -> None:
    r = run("import subprocess, pledgepy\n"
            "pledgepy.pledge(None, 'stdio rpath prot_exec')\n" + SH_OPENS_PARENT_MEM)
    assert r.returncode == 0 and r.stdout.split() == ["refused", "True"], r.explain()


# Domains stacked before pledgepy runs (a container, a launcher): 15 leave one.
FOREIGN = """
from pledgepy.backends.linux.landlock import abi as _A, ruleset as _R
with _R.Ruleset(_A.ACCESS_FS_EXECUTE) as _rs:
    _rs.add_path("/", _A.ACCESS_FS_EXECUTE)
    for _ in range({n}):
        _rs.restrict_self()
"""


def test_the_16_domain_limit_is_reported_and_strict_refuses_first() -> None:
    body = OPEN_MEM + """
parent = os.getpid()
def narrow():
    try:
        pledgepy.pledge("stdio rpath", strict=True)
        return "accepted"
    except pledgepy.UnsupportedError as e:
        assert "16 nested domains" in str(e), e
        assert pledgepy.status().promises == frozenset({"stdio", "rpath", "wpath", "proc"})
        import warnings
        warnings.simplefilter("ignore")
        pledgepy.pledge("stdio rpath")
        st = pledgepy.status()
        gap = any("16 nested domains" in g for g in st.not_enforced)
        return f"refused {st.level} {gap} {open_mem(parent, os.O_RDONLY)}"
print(in_child(narrow))
"""
    r = under("stdio rpath wpath proc", body, setup=FOREIGN.format(n=15))
    assert r.returncode == 0, r.explain()
    assert r.stdout.split() == ["refused", "partial", "True", "OK"], r.explain()


def test_the_first_pledge_with_no_domain_left_says_so() -> None:
    r = under("stdio rpath", "st = pledgepy.status()\n"
              "print(st.level, any('16 nested domains' in g for g in st.not_enforced))",
              setup=FOREIGN.format(n=16))
    assert r.returncode == 0 and r.stdout.split() == ["partial", "True"], r.explain()


def test_narrowing_without_unveil_promise_can_still_enter_a_domain() -> None:
    # the Landlock calls are allowed under every promise set: they only restrict
    body = OPEN_MEM + """
parent = os.getpid()
def fn():
    pledgepy.pledge("rpath stdio")
    pledgepy.pledge("stdio rpath", None)
    return "alive " + pledgepy.status().level
print(in_child(fn))
try:
    pledgepy.unveil("/tmp", "r")
except PermissionError as e:
    print("unveil", errno.errorcode[e.errno])
"""
    r = under("stdio rpath wpath proc", body)
    assert r.returncode == 0 and r.stdout.split() == ["alive", "full", "unveil", "EPERM"], \
        r.explain()


# --- item 6: /proc hiding judged on the real filesystem -------------------------

@AS
def test_unveiled_symlink_to_proc_is_seen_as_reaching_proc(unprivileged: bool) -> None:
    setup = DUMPABLE + """
import tempfile
d = tempfile.mkdtemp()
os.chmod(d, 0o755)
link = os.path.join(d, "p")
os.symlink("/proc", link)
pledgepy.unveil(link, "rw")
pledgepy.unveil(d, "r")
"""
    body = """
print(any("/proc/self/mem" in g for g in pledgepy.status().not_enforced))
attempt(os.open, link + "/self/mem", os.O_RDWR)
"""
    r = under("stdio rpath wpath", body, setup=setup, unprivileged=unprivileged)
    assert r.returncode == 0 and r.stdout.split() == ["True", "OK"], r.explain()


def test_rules_not_in_force_hide_nothing_but_the_pledge_blocks_procfs_writes() -> None:
    # with 'unveil' still held the rules are only recorded, so they hide nothing; the
    # pledge's own domain keeps procfs from being written instead (wpath, no prot_exec)
    body = """
print(any("/proc/self/mem" in g for g in pledgepy.status().not_enforced))
attempt(os.open, "/proc/self/mem", os.O_RDWR)
attempt(os.open, "/proc/self/mem", os.O_RDONLY)
"""
    r = under("stdio rpath wpath unveil", body, setup="pledgepy.unveil('/usr', 'rw')\n")
    assert r.returncode == 0 and r.stdout.split() == ["False", "ERR", "EACCES", "OK"], \
        r.explain()
    # with prot_exec the block would stop nothing: procfs stays writable
    r = under("stdio rpath wpath prot_exec unveil", body,
              setup="pledgepy.unveil('/usr', 'rw')\n")
    assert r.returncode == 0 and r.stdout.split() == ["False", "OK", "OK"], r.explain()


def test_rules_in_force_that_miss_proc_close_the_gap() -> None:
    body = """
print(any("/proc/self/mem" in g for g in pledgepy.status().not_enforced))
attempt(os.open, "/proc/self/mem", os.O_RDWR)
"""
    r = under("stdio rpath wpath", body, setup="pledgepy.unveil('/usr', 'rw')\n")
    assert r.returncode == 0 and r.stdout.split() == ["False", "ERR", "EACCES"], r.explain()


# --- item 7: writable and executable memory without prot_exec -------------------

CALLBACK = """
import ctypes
CB = ctypes.CFUNCTYPE(ctypes.c_int)(lambda: 7)
"""


def test_a_ctypes_callback_s_rwx_page_is_reported() -> None:
    body = """
st = pledgepy.status()
print(st.level, any("writable and executable" in g for g in st.not_enforced), CB())
"""
    r = under("stdio", body, setup=CALLBACK)
    assert r.returncode == 0 and r.stdout.split() == ["partial", "True", "7"], r.explain()


def test_strict_refuses_with_a_ctypes_callback_s_rwx_page() -> None:
    r = run(CALLBACK + """
import pledgepy
try:
    pledgepy.pledge("stdio", strict=True)
except pledgepy.UnsupportedError as e:
    print("refused", "keep prot_exec" in str(e), pledgepy.status().promises)
""")
    assert r.returncode == 0 and r.stdout.split() == ["refused", "True", "None"], r.explain()


def test_no_rwx_memory_no_report_and_prot_exec_keeps_it_quiet() -> None:
    r = under("stdio", "print(any('writable and executable' in g "
                       "for g in pledgepy.status().not_enforced))")
    assert r.returncode == 0 and r.stdout.split() == ["False"], r.explain()
    r = under("stdio prot_exec", "print(any('writable and executable' in g "
                                 "for g in pledgepy.status().not_enforced))", setup=CALLBACK)
    assert r.returncode == 0 and r.stdout.split() == ["False"], r.explain()
