"""What ``python -m pledgepy learn`` runs in the learning interpreter (``python -c BOOT``).

It uses only what a fresh interpreter has already loaded (sys, os, builtins),
so it reads no file the program itself would not, then:

- keeps, in a bytearray, the file:line of the last line of the user's code
  that called a function (``sys.setprofile``: every call from a user frame,
  and every call from a user frame into library code); the recorder reads it
  from ``/proc/<pid>/mem`` whenever the program makes a gated syscall, so a
  call made inside the stdlib is charged to the user's line that led there;
- tells the recorder where that buffer is, by execve() of a
  ``//pledgepy-learn/...`` path, which the recorder refuses (it never runs);
  the program's own ``pledgepy.pledge()``/``unveil()`` calls report
  themselves the same way (:mod:`.hook`);
- runs the script as ``python script.py`` would (``sys.path[0]`` its
  directory, ``__main__``), or the module as ``python -m`` does (runpy).

Only the main thread is followed: calls of other threads have no file:line.
"""

from __future__ import annotations

from ..backends.base import LEARN_MARKER

#: The environment variable naming the directories whose frames are not the user's.
LIBS_ENV = "PLEDGEPY_LEARN_LIBS"
#: Set for the learning program and its children: pledge()/unveil() try :mod:`.hook`.
LEARN_ENV = "PLEDGEPY_LEARN"

BOOT = r'''
def _pledgepy_boot():
    import os, sys  # already loaded: no file is read
    marker = @MARKER@
    token = b"pledgepy-where-%d" % os.getpid()
    buf = bytearray(2048)
    buf[:len(token) + 1] = token + b"\0"
    libs = [os.path.dirname(os.__file__)]
    libs += [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    libs += [p for p in os.environ.pop(@LIBS_ENV@, "").split(os.pathsep) if p]
    skip = tuple(p.rstrip("/") + "/" for p in libs)
    users = {}

    def user(code):
        name = code.co_filename
        mine = users.get(name)
        if mine is None:
            mine = users[name] = not (name.startswith("<") or name.startswith(skip))
        return mine

    def hook(frame, event, arg):
        if event == "call":
            if user(frame.f_code):
                return  # the user's own function: its calls say where
            frame = frame.f_back
        elif event != "c_call":
            return
        if frame is not None and user(frame.f_code):
            s = ("%s:%d" % (frame.f_code.co_filename, frame.f_lineno)).encode(
                "utf-8", "replace")[:2000] + b"\0"
            buf[:len(s)] = s  # same length: the buffer never moves

    def tell(body):
        try:
            os.execve(marker + body, ["pledgepy-learn"], {})
        except OSError:
            pass  # the recorder refused it, as it always does

    tell("where/%x/%s" % (id(buf), token.decode()))
    sys._pledgepy_learn_where = buf  # alive until the interpreter is gone
    import atexit  # built in: no file is read
    # finalization frees the buffer: its calls would be charged to whatever reuses it
    atexit.register(tell, "forget/%s" % token.decode())
    args = sys.argv[1:]
    main = sys.modules["__main__"]
    if args[0] == "-m":
        main.__dict__.pop("_pledgepy_boot", None)
        import runpy
        sys.argv = args[1:]
        sys.setprofile(hook)
        try:
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        finally:
            sys.setprofile(None)
            buf[:len(token) + 1] = token + b"\0"  # what follows is not the user's
        return
    script = args[0]
    sys.argv = args
    path = os.path.abspath(script)  # as python script.py gives it since 3.9
    sys.path[0] = os.path.dirname(path)
    with open(script, "rb") as f:
        code = compile(f.read(), path, "exec")
    main.__dict__.pop("_pledgepy_boot", None)
    loader = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", path)
    main.__dict__.update(__file__=path, __cached__=None, __loader__=loader)
    sys.setprofile(hook)
    try:
        exec(code, main.__dict__)
    finally:
        sys.setprofile(None)
        buf[:len(token) + 1] = token + b"\0"  # what follows is not the user's
_pledgepy_boot()
'''.replace("@MARKER@", repr(LEARN_MARKER.decode())).replace(
    "@LIBS_ENV@", repr(LIBS_ENV))
