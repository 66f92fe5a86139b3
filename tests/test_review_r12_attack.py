"""Round 12 (NAME = attack): an attacker's read of what rounds 10-11 added. Each test
failed on main before its fix (said in each docstring)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux")

ROOT = Path(__file__).resolve().parent.parent

# ---- the Worker's parent: pledgepy's own imports after a worker ran ------------------

#: The worker: writes, into *d*, a module for each of *names* that leaves RAN-name-pid
#: when imported (then loads the real one, so that the importer still works).
PLANTER = '''
import os

PLANT = """
import os as _os, sys as _sys
open(_os.path.join(D, "RAN-%s-%d" % (__name__, _os.getpid())), "w").close()
_path = _sys.path[:]
_sys.path[:] = [p for p in _path if _os.path.abspath(p or ".") != D]
del _sys.modules[__name__]
try:
    _sys.modules[__name__] = __import__(__name__)
finally:
    _sys.path[:] = _path
"""


def plant(d, names):
    for name in names:
        with open(os.path.join(d, name + ".py"), "w") as f:
            f.write(f"D = {d!r}\\n" + PLANT)
    return len(names)
'''

#: The parent: a "stdio wpath cpath" worker unveiled the script's directory (sys.path[0])
#: plants every standard module not loaded yet; then the parent calls pledgepy's API.
PARENT = '''
import os, sys, pledgepy
d = os.path.dirname(os.path.abspath(__file__))
names = sorted(n for n in sys.stdlib_module_names - set(sys.modules)
               if n not in sys.builtin_module_names and not n.startswith("__"))
w = pledgepy.Worker("planter", promises="stdio wpath cpath", unveil=[(d, "rwc")])
print("planted", w.call("plant", d, names))
what = sys.argv[1]
if what == "unveil_imports":
    print("rules", len(pledgepy.unveil_imports()) > 0)
elif what == "unveil":
    pledgepy.unveil("/", "r")
    pledgepy.unveil_many([("/tmp", "rwc")])
    print("status", pledgepy.status().unveil.rules != ())
else:
    pledgepy.pledge(what)
    print("pledged", pledgepy.status().promises)
w.close()
ran = sorted(n.split("-")[1] for n in os.listdir(d) if n.startswith("RAN-")
             and n.endswith(f"-{os.getpid()}"))
print("RAN", " ".join(ran) if ran else "none")
'''


def _parent(tmp_path: Path, what: str) -> str:
    app, lib = tmp_path / "app", tmp_path / "lib"
    app.mkdir()
    lib.mkdir()
    (lib / "planter.py").write_text(PLANTER)
    (app / "parent.py").write_text(PARENT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(lib), str(ROOT)]))
    r = subprocess.run([sys.executable, "-W", "ignore", str(app / "parent.py"), what],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "planted" in r.stdout and (app / "ctypes.py").exists(), r.stdout + r.stderr
    return r.stdout


@pytest.mark.parametrize("what", ["stdio rpath inet dns", "stdio rpath proc exec",
                                  "unveil_imports", "unveil"])
def test_pledgepy_s_api_imports_nothing_a_worker_planted(tmp_path: Path, what: str) -> None:
    """A worker allowed to write the parent's script directory plants standard modules
    there; then the parent pledges (as README allows: a parent that pledges after
    starting its worker), unveils or calls unveil_imports(). On main pledge() imported
    the planted ctypes.py (and, under dns, stringprep.py: the idna codec) and
    unveil_imports() sysconfig.py, unconfined, before anything was enforced: the
    worker's code could have made pledge() a no-op. (fence.py guarded only the Worker's
    own warnings and fork warm-up.) Now pledgepy's API imports from the standard
    library's directories alone once a worker has run: RAN none."""
    out = _parent(tmp_path, what)
    assert out.strip().endswith("RAN none"), out
    assert "pledged" in out or "rules True" in out or "status True" in out, out
