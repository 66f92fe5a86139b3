"""unveil, lock, then pledge: what pledge() does for itself must not need what the lock hid
(found by examples/privsep_server.py's listener)."""

from __future__ import annotations

from tests.childproc import run


def test_inet_pledge_after_the_lock_hid_the_stdlib() -> None:
    # pledge() preloads the idna codec for inet/dns; its file is hidden now
    r = run("""
import os, socket, tempfile, warnings, pledgepy
warnings.simplefilter("ignore")
d = tempfile.mkdtemp()
pledgepy.unveil(d, "r")
pledgepy.unveil(None, None)
pledgepy.pledge("stdio rpath inet")
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print("pledged", pledgepy.status().promises == frozenset({"stdio", "rpath", "inet"}))
""")
    assert r.returncode == 0 and "pledged True" in r.stdout, r.explain()


def test_mappings_are_judged_after_the_lock_hid_proc() -> None:
    # without prot_exec, writable+executable memory is a gap: pledge() reads /proc/self/maps,
    # which the lock hid; the descriptor opened before the lock still tells the truth
    code = """
import mmap, tempfile, warnings, pledgepy
warnings.simplefilter("ignore")
pledgepy.unveil(tempfile.mkdtemp(), "r")
pledgepy.unveil(None, None)
{map}
pledgepy.pledge("stdio")
print("gaps:", [g for g in pledgepy.status().not_enforced if "prot_exec" in g])
"""
    clean = run(code.format(map=""))
    assert clean.returncode == 0, clean.explain()
    assert "gaps: []" in clean.stdout and "unknown" not in clean.stdout, clean.explain()
    rwx = run(code.format(map="m = mmap.mmap(-1, 4096, prot=7)"))
    assert rwx.returncode == 0, rwx.explain()
    assert "writable and executable memory is mapped (1: " in rwx.stdout, rwx.explain()
    assert "unknown" not in rwx.stdout and " rwx" in rwx.stdout, rwx.explain()


def test_a_forked_child_reads_its_own_mappings() -> None:
    # the kept descriptor names the process that opened it: a child must not judge by it
    r = run("""
import mmap, os, tempfile, warnings, pledgepy
warnings.simplefilter("ignore")
pledgepy.unveil(tempfile.mkdtemp(), "r")
pledgepy.unveil(None, None)
pid = os.fork()
if pid == 0:
    m = mmap.mmap(-1, 4096, prot=7)
    pledgepy.pledge("stdio")
    gaps = [g for g in pledgepy.status().not_enforced if "prot_exec" in g]
    os._exit(0 if gaps else 3)  # the parent's maps (no such mapping) would say none
print("child", os.waitpid(pid, 0)[1] >> 8)
""")
    # the child cannot open its own maps (hidden): unknown, never its parent's clean list
    assert r.returncode == 0 and "child 0" in r.stdout, r.explain()
