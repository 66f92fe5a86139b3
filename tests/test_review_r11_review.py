"""Round 11, the second review of the merged changes (NAME = review). Each test failed
on main before its fix (said in each)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
root = pytest.mark.skipif(os.geteuid() != 0, reason="the parent reads the worker's path "
                          "(CAP_SYS_PTRACE over the non-dumpable worker)")

PLANTER = '''
import os


def plant(d, then):
    """Write _ssl.py into *d* (a directory of the parent's sys.path), then make the
    violation whose answer looked OpenSSL's certificate directory up."""
    with open(os.path.join(d, "_ssl.py"), "w") as f:
        f.write("import os\\n"
                f"open(os.path.join({d!r}, 'RAN'), 'w').write(str(os.getpid()))\\n"
                "raise ImportError('planted')\\n")
    try:
        if then == "open":
            os.close(os.open("/etc", os.O_RDONLY | os.O_DIRECTORY))
        else:
            os.stat("/etc/ssl/certs/00000000.0")
    except OSError as exc:
        return exc.errno
    return 0
'''

PARENT = '''
import os, sys, time, pledgepy
d = os.path.dirname(os.path.abspath(__file__))
for then in sys.argv[1:]:  # a worker each: a later one's start must not import it either
    with pledgepy.Worker("planter", promises="stdio wpath cpath", unveil=[(d, "rwc")]) as w:
        try:
            w.call("plant", d, then)
        except pledgepy.WorkerError as exc:
            print("violation:", exc)
print("RAN" if os.path.exists(os.path.join(d, "RAN")) else "contained")
'''


@root
@pytest.mark.parametrize("then", [["open"], ["open", "open"]])
def test_a_worker_cannot_have_its_parent_import_a_module_it_wrote(
        tmp_path: Path, then: list[str]) -> None:
    """On main the parent imported _ssl lazily, at its first answer that looked up
    OpenSSL's certificate directory (stdiofiles._cert_dirs: any violating open with
    O_DIRECTORY, or stat). A "stdio wpath cpath" worker unveiled a directory of the
    parent's sys.path (its script's, or the working directory under -m) wrote _ssl.py
    there and opened a directory: the unconfined parent ran it (RAN, its pid). Now
    OpenSSL's module is loaded before the first worker starts, and never after."""
    (tmp_path / "planter.py").write_text(PLANTER)
    (tmp_path / "parent.py").write_text(PARENT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path), str(Path(__file__).resolve().parent.parent)]))
    r = subprocess.run([sys.executable, str(tmp_path / "parent.py"), *then],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "_ssl.py").exists(), r.stdout + r.stderr  # the worker wrote it
    assert r.stdout.strip().endswith("contained"), r.stdout + r.stderr
    assert not (tmp_path / "RAN").exists()
