"""Issue 9 item 5: a violation while the program has SIGSYS blocked is still explained
(blocked, the kernel would kill with SIGSYS at once: exit 159, no message)."""

from __future__ import annotations

import pytest

from tests.childproc import run

VIOLATE = 'open("/etc/passwd")'


@pytest.mark.parametrize("block,where", [
    ("signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGSYS})", "before"),
    ("signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGSYS, signal.SIGUSR1})", "after"),
    ("signal.pthread_sigmask(signal.SIG_SETMASK, set(signal.Signals))", "after"),
])
def test_blocking_sigsys_cannot_silence_a_violation(block: str, where: str) -> None:
    before, after = (block, "") if where == "before" else ("", block)
    r = run(f"""
import signal, pledgepy
{before}
pledgepy.pledge("stdio")
{after}
{VIOLATE}
""")
    assert r.returncode == -6, r.explain()
    assert 'openat("/etc/passwd", O_RDONLY) needs "rpath"' in r.stderr, r.explain()


def test_the_rest_of_the_mask_is_as_asked() -> None:
    r = run("""
import signal, pledgepy
pledgepy.pledge("stdio")
old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGSYS, signal.SIGUSR1})
now = signal.pthread_sigmask(signal.SIG_BLOCK, [])
print(sorted(old), signal.SIGUSR1 in now, signal.SIGSYS in now)
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
print(signal.SIGUSR1 in signal.pthread_sigmask(signal.SIG_BLOCK, []))
""")
    assert r.returncode == 0 and r.stdout.split("\n")[:2] == ["[] True False", "False"], \
        r.explain()
