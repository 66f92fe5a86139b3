"""The source of a worker module that plants a module for each standard name in a
directory of the parent's sys.path (the fence's attacks: round 11's lazy imports, round
12's API entry points). Each planted module leaves RAN-name-pid when imported, then loads
the real module, so that its importer still works."""

#: Pasted into a worker module's source after its ``import os``.
PLANTING = '''
PLANT = """
import os as _os, sys as _sys
try:
    open(_os.path.join(D, "RAN-%s-%d" % (__name__, _os.getpid())), "w").close()
except OSError:  # a pledged worker's own import: not the parent's
    pass
# then the real module, so that a worker starting meanwhile still works
_path = _sys.path[:]
_sys.path[:] = [p for p in _path if _os.path.abspath(p or ".") != D]
del _sys.modules[__name__]
try:
    _sys.modules[__name__] = __import__(__name__)
finally:
    _sys.path[:] = _path
"""


def plant(d, names):
    """A module for each of *names* (every standard one the parent has not loaded) in
    *d*, the first directory of the parent's sys.path: importing one leaves
    RAN-name-pid, then loads the real one."""
    for name in names:
        with open(os.path.join(d, name + ".py"), "w") as f:
            f.write(f"D = {d!r}\\n" + PLANT)
    return len(names)
'''
