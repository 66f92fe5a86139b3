"""Round 16: fchdir() is stdio's, as OpenBSD's kern_pledge.c has it ([SYS_fchdir] =
PLEDGE_STDIO; Cosmopolitan's Linux port too). It was rpath's here, which killed a program
that returns to a directory it held open (find, a server that chdirs back), and was
stricter than OpenBSD without being listed as such. What fchdir leads to still needs
its promise: an open relative to the new working directory needs rpath."""

from __future__ import annotations

from tests.childproc import run


def test_fchdir_under_stdio_and_what_follows_still_needs_rpath() -> None:
    r = run("""
        import os, pledgepy
        fd = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY)
        pledgepy.pledge("stdio")
        os.fchdir(fd)
        print("changed", flush=True)
        open("hostname")
    """)
    assert r.stdout == "changed\n", r.explain()
    assert r.signal == 6 and 'needs "rpath"' in r.stderr, r.explain()
