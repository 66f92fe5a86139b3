"""A rejected call raises a clear error and leaves the process exactly as it was."""

from __future__ import annotations

import pytest

from tests.childproc import run

CHECK = """
st = pledgepy.status()
print(st.promises, st.execpromises, st.unveil.rules, st.unveil.locked, flush=True)
with open('/proc/self/status') as f:
    print([l.split()[1] for l in f if l.startswith('Seccomp:')][0], flush=True)
open('/etc/hostname').read()
print('unchanged', flush=True)
"""


@pytest.mark.parametrize("call,exc", [
    ("pledgepy.pledge('stdio rpth')", "ValueError"),
    ("pledgepy.pledge(b'stdio')", "TypeError"),
    ("pledgepy.pledge('stdio', 'rpath\\0')", "ValueError"),
    ("pledgepy.pledge('stdio', strict='yes')", "TypeError"),
    ("pledgepy.pledge(['stdio'])", "TypeError"),
    ("pledgepy.unveil('/etc', 'rq')", "ValueError"),
    ("pledgepy.unveil('/etc')", "ValueError"),
    ("pledgepy.unveil(None, 'r')", "ValueError"),
    ("pledgepy.unveil(b'/etc', 'r')", "TypeError"),
    ("pledgepy.unveil('', 'r')", "ValueError"),
    ("pledgepy.unveil('/nonexistent-dir/x/y', 'r')", "FileNotFoundError"),
])
def test_rejected_before_anything_changes(call: str, exc: str) -> None:
    code = f"""
import pledgepy
try:
    {call}
except {exc} as e:
    print('raised', type(e).__name__, flush=True)
""" + CHECK
    r = run(code)
    assert r.returncode == 0, r.explain()
    assert r.stdout.split("\n")[:4] == [f"raised {exc}", "None None () False", "0", "unchanged"]


def test_rejected_narrowing_keeps_the_old_filter_only() -> None:
    code = """
import pledgepy
pledgepy.pledge('stdio rpath')
try:
    pledgepy.pledge('stdio rpath wpath')
except PermissionError:
    print('EPERM', flush=True)
with open('/proc/self/status') as f:
    print([l.split()[1] for l in f if l.startswith('Seccomp_filters:')][0], flush=True)
"""
    r = run(code)
    assert r.stdout.split() == ["EPERM", "1"], r.explain()
