"""Script hosts: the library tree each interpreter reads, and the script it was given.

The interpreter is asked itself (its ``sys.path``, ``package.path``, module
paths): that covers a venv, a pyenv build and a distribution's patches alike.
It runs nothing of the script's; only its standard start-up (for Python:
``site``, with ``-I`` so that nothing from the user's directory or environment
is imported). But the interpreter may be the hostile program itself (any ELF
named ``python3`` or ``lua``), so it is asked confined (:func:`_ask`), and its
answer is believed only inside its own tree (:func:`prefixes`).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from .limits import Identity

ASK_TIMEOUT = 10.0
#: What the query holds: its start-up reads and maps its tree, and it writes its answer
#: to a pipe. No file written, no socket, no fork, no signal but to itself, no ptrace;
#: exec only for its own start (and a #! it may be).
ASK_PROMISES = "stdio rpath prot_exec exec"
#: The longest answer read (a hostile one could print without end).
ASK_MAX = 1 << 20


class Found:
    """What a host needs: unveil rules, ELF files whose libraries it maps, notes."""

    __slots__ = ("rules", "libraries", "notes")

    def __init__(self, rules: tuple[tuple[str, str], ...], libraries: tuple[str, ...],
                 notes: tuple[str, ...]) -> None:
        self.rules = rules
        self.libraries = libraries
        self.notes = notes


def _ask(argv: list[str], env: dict[str, str], who: Identity | None = None,
         view: tuple[tuple[str, str], ...] | None = None) -> str:
    """*argv*'s standard output once it exited 0, else ``""``. It runs as PROG will
    (*who*: ``-u``/``-g``), in a session of its own (no terminal to read), without
    capabilities, under :data:`ASK_PROMISES` (``no_new_privs`` with them) and, given
    *view* (path, permissions), seeing only those paths: the interpreter named may be
    the hostile program, and the command's child runs as root, before its own
    confinement. Were it to read more than the program will, which of its own files it
    names could tell the program what it read."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (a fork child: its only way out is exec or _exit)
        try:
            os.close(read_end)
            _confine_query(write_end, who, view)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(write_end)
    deadline = _monotonic() + ASK_TIMEOUT
    try:
        out = _read_until(read_end, deadline)
    finally:
        os.close(read_end)
    status = _reaped(pid, deadline if out is not None else 0.0)
    if status is None:  # past its time (its output closed or not): no answer
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        return ""
    return out.decode(errors="replace") if out is not None and status == 0 else ""


def _read_until(fd: int, deadline: float) -> bytes | None:
    """What *fd* gives until its end or *deadline*; None past :data:`ASK_MAX` bytes."""
    import select

    chunks: list[bytes] = []
    size = 0
    while size <= ASK_MAX:
        left = deadline - _monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b"".join(chunks)  # what came in time; _reaped() judges the rest
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None  # too long to be an answer


def _reaped(pid: int, deadline: float) -> int | None:
    """*pid*'s wait status once it ended by *deadline*, else None (left running).
    Its output's end comes a moment before its exit can be waited for."""
    import select
    import time

    try:  # Linux: readable once it has ended, no polling
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = -1
    if pidfd >= 0:
        try:
            select.select([pidfd], [], [], max(0.0, deadline - _monotonic()))
        finally:
            os.close(pidfd)
    pause = 0.0001
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        if _monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _monotonic() -> float:
    import time

    return time.monotonic()


def _confine_query(out: int, who: Identity | None,
                   view: tuple[tuple[str, str], ...] | None = None) -> None:
    """In the query's fork: its answer to *out*, nothing else inherited, a session of
    its own; then (when given) only *view* unveiled, as PROG's user, without
    capabilities, under :data:`ASK_PROMISES`. Any failure raises (the caller exits 127,
    the answer is empty and no tree is unveiled: nothing runs unconfined)."""
    from .. import api
    from ..promises import parse
    from . import limits

    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(null, 2)  # the interpreter's own errors
    os.setsid()  # no controlling terminal: /dev/tty cannot be opened to read the user
    be = api.backend()
    via = limits.calls(be.process_calls())
    limits.close_inherited(via)
    promises = parse(ASK_PROMISES, "promises") or frozenset()
    supervisor = be.exec_supervisor()
    # compiled while pledgepy's modules can be read (neither the view nor -u's user
    # may let them be read later)
    install = supervisor.helper_filter(promises) if supervisor is not None else None
    if view is not None:  # as root still: every path can be looked up for its rule
        api.unveil_many([(p, m) for p, m in view if os.path.exists(p)], strict=False)
        if install is not None:  # else pledge() below locks it (OpenBSD's own unveil)
            api.lock_unveil_for(promises, strict=False, quiet=True, then_exec=True)
    if who is not None:
        limits.become(who)
    limits.drop_capabilities(via)
    if install is not None:
        install()
    else:  # OpenBSD's own pledge(2)
        api.pledge(ASK_PROMISES, strict=True)


def _script(args: list[str], valued: frozenset[str], stops: frozenset[str]) -> str | None:
    """The script file among *args* (argv[1:]), or None when code comes inline."""
    i = 0
    while i < len(args):
        a = args[i]
        if a in stops or a == "-":
            return None
        if a == "--":
            i += 1
            break
        if not a.startswith("-"):
            break
        i += 2 if a in valued else 1
    return args[i] if i < len(args) and os.path.isfile(args[i]) else None


def _shared_objects(dirs: list[str], limit: int = 400) -> list[str]:
    """Extension modules in *dirs* (not recursive): the libraries they need get unveiled."""
    out: list[str] = []
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        out += [os.path.join(d, n) for n in names if n.endswith(".so") or ".so." in n]
    return out[:limit]


class Host:
    """One kind of interpreter: its name pattern, how to ask it, how it names its script."""

    __slots__ = ("pattern", "ask", "valued", "stops", "unset")

    def __init__(self, pattern: str, ask: tuple[str, ...], valued: frozenset[str],
                 stops: frozenset[str], unset: tuple[str, ...]) -> None:
        self.pattern = pattern
        self.ask = ask
        self.valued = valued
        self.stops = stops
        self.unset = unset

    def paths(self, file: str, argv: list[str], env: dict[str, str],
              who: Identity | None = None, given: frozenset[str] | None = None,
              sees: tuple[tuple[str, str], ...] | None = None) -> Found:
        """What *file* run with *argv* (as *who*) reads besides itself; its script only
        when in *given* (absolute paths; None: any). *sees*: what the query may read
        besides its own trees (itself, its loader and libraries; None: everything)."""
        key = (self.pattern, file, tuple(argv), tuple(sorted(env.items())), given, sees)
        if _kept is not None and who is None and key in _kept:
            return _kept[key]
        found = self._paths(file, argv, env, who, given, sees)
        if _kept is not None and who is None:
            _kept[key] = found
        return found

    def _paths(self, file: str, argv: list[str], env: dict[str, str], who: Identity | None,
               given: frozenset[str] | None, sees: tuple[tuple[str, str], ...] | None,
               ) -> Found:
        clean = {k: v for k, v in env.items() if k not in self.unset}
        own = prefixes(file)
        if "/usr" in own:
            own = (*own, *_CONFIG.get(self.pattern, ()))
        view = None if sees is None else (*sees, *((d, "r") for d in own))
        answered = _TREES[self.pattern](_ask([file, *self.ask], clean, who, view))
        believed = [d for d in answered if _inside(d, own)]
        notes: list[str] = []
        if len(believed) < len(answered):
            left = [d for d in answered if d not in believed]
            tops = ", ".join(own) or ("none: it is not in a bin directory of one, or that "
                                      "one is every user's to write")
            notes.append(_printable(
                f"{file}: not unveiled, outside its own tree ({tops}): "
                f"{', '.join(left)} (named by its answer; give them with -v)"))
        trees = list(dict.fromkeys([*believed, *_GIVEN[self.pattern](env)]))
        rules = [(d, "r") for d in trees]
        script = _script(argv[1:], self.valued, self.stops)
        if script is not None and (given is None or os.path.abspath(script) in given):
            rules.append((script, "r"))
        elif script is not None:
            notes.append(_printable(f"{script}: not unveiled: only a #! line names it as "
                                    f"{os.path.basename(file)}'s script"))
        import re

        modules = [d for d in trees if re.fullmatch(_MODULE_DIRS[self.pattern], d)]
        return Found(tuple(rules), tuple(_shared_objects(modules)), tuple(notes))


def _printable(text: str) -> str:
    """*text* as one line without escapes: the answer is the interpreter's, which may be
    hostile (a path it names may hold a terminal's escape sequences)."""
    return "".join(c if c.isprintable() else "?" for c in text)


def prefixes(file: str) -> tuple[str, ...]:
    """The trees an interpreter's answer is believed in (real paths): the directory
    above the ``bin`` it is in, as named and as resolved (a venv's and its base's,
    a pyenv build's, ``/usr``), never ``/`` nor a login user's home or above one
    (``~/bin/python3`` is not the home's interpreter), nor a directory every user may
    write (``/tmp/bin/python3``'s ``/tmp``). The interpreter may be the
    hostile program: what it names elsewhere (``~/.ssh``) stays hidden."""
    homes = _homes()
    out: list[str] = []
    for where in (os.path.abspath(file), os.path.realpath(file)):
        parent = os.path.dirname(where)
        if os.path.basename(parent) != "bin":
            continue
        top = os.path.realpath(os.path.dirname(parent))
        if top != "/" and not any(_inside(home, (top,)) for home in homes) \
                and not _shared(top):
            out.append(top)
    return tuple(dict.fromkeys(out))


def _shared(top: str) -> bool:
    """Whether every user may write in *top* (``/tmp``, ``/var/tmp``, ``/dev/shm``): no
    installation's tree, but where others keep their files (anyone can make
    ``/tmp/bin/python3``, whose answer naming ``/tmp`` would unveil them all). True
    when it cannot be told (believed nowhere then)."""
    import stat

    try:
        return bool(os.stat(top).st_mode & stat.S_IWOTH)
    except OSError:
        return True


def _homes() -> set[str]:
    """Home directories of root, of login users (uid 1000 and up) and ``$HOME``."""
    import pwd

    homes = {e.pw_dir for e in pwd.getpwall() if e.pw_uid == 0 or e.pw_uid >= 1000}
    homes.add(os.environ.get("HOME", "/"))
    return {os.path.realpath(h) for h in homes if os.path.isabs(h)}


def _inside(path: str, trees: tuple[str, ...]) -> bool:
    """Whether *path* (resolved) is one of *trees* or below one."""
    real = os.path.realpath(path)
    return any(real == t or real.startswith(t.rstrip("/") + "/") for t in trees)


def _python(out: str) -> list[str]:
    import json

    try:
        found = json.loads(out)
    except ValueError:
        return []
    if not isinstance(found, list):
        return []
    dirs = [p for p in found if isinstance(p, str) and os.path.isabs(p)]
    return [p for p in dict.fromkeys(dirs) if os.path.exists(p)]


def _python_given(env: dict[str, str]) -> list[str]:
    """What -I left out but the program will use: PYTHONPATH's absolute entries."""
    return [p for p in env.get("PYTHONPATH", "").split(":") if os.path.isabs(p) and
            os.path.exists(p)]


def _lua(out: str) -> list[str]:
    dirs = [t.split("?", 1)[0] for t in out.replace("\n", ";").split(";") if "?" in t]
    return [d.rstrip("/") for d in dict.fromkeys(dirs) if os.path.isabs(d) and os.path.isdir(d)]


def _lua_given(env: dict[str, str]) -> list[str]:
    """The directories of the user's LUA_PATH and LUA_CPATH (any version's)."""
    return _lua(";".join(v for k, v in env.items() if k.startswith(("LUA_PATH", "LUA_CPATH"))))


def _node(out: str) -> list[str]:
    import json

    try:
        found = json.loads(out)
    except ValueError:
        return []
    if not isinstance(found, list):
        return []
    return [p for p in found if isinstance(p, str) and os.path.isabs(p) and os.path.isdir(p)]


def _node_given(env: dict[str, str]) -> list[str]:
    """The user's NODE_PATH entries and NODE_EXTRA_CA_CERTS file."""
    return [p for p in env.get("NODE_PATH", "").split(":") if os.path.isabs(p) and
            os.path.isdir(p)] + [p for p in (env.get("NODE_EXTRA_CA_CERTS", ""),)
                                 if os.path.isabs(p) and os.path.isfile(p)]


_PY = ("import json, sys, os; p = [*sys.path, os.path.join(sys.prefix, 'pyvenv.cfg'), "
       "os.path.join(os.path.dirname(sys.executable), 'pyvenv.cfg')]; "
       "print(json.dumps([x for x in p if os.path.exists(x)]))")
def _perl(out: str) -> list[str]:
    return [d for d in dict.fromkeys(out.splitlines()) if os.path.isabs(d) and os.path.isdir(d)]


def _perl_given(env: dict[str, str]) -> list[str]:
    """The user's PERL5LIB (or PERLLIB) entries."""
    entries = (env.get("PERL5LIB") or env.get("PERLLIB") or "").split(":")
    return [p for p in entries if os.path.isabs(p) and os.path.isdir(p)]


_TREES = {"python": _python, "lua": _lua, "node": _node, "perl": _perl}
#: what the environment the user gave names besides (the user's word, not the host's)
_GIVEN = {"python": _python_given, "lua": _lua_given, "node": _node_given,
          "perl": _perl_given}
#: A system interpreter's (one under /usr) configuration trees, believed with its own
#: (Debian's perl puts /etc/perl first in @INC).
_CONFIG = {"perl": ("/etc/perl",)}
HOSTS = (
    Host("python", ("-I", "-c", _PY), frozenset({"-W", "-X", "-Q"}),
         frozenset({"-c", "-m"}), ()),
    Host("lua", ("-e", "print(package.path) print(package.cpath)"),
         frozenset({"-l"}), frozenset({"-e"}), ("LUA_INIT", "LUA_INIT_5_4")),
    Host("node", ("-e", "console.log(JSON.stringify([...require('module').globalPaths,"
                        "...require('module')._nodeModulePaths('/')]))"),
         frozenset({"-r", "--require"}), frozenset({"-e", "--eval", "-p", "--print"}),
         ("NODE_OPTIONS",)),
    Host("perl", ("-e", 'print join("\\n", @INC), "\\n"'), frozenset({"-I"}),
         frozenset({"-e", "-E"}), ("PERL5OPT", "PERL5DB", "PERL_UNICODE")),
)
#: The trees whose extension modules' libraries are unveiled (the stdlib's, lua's cpath).
_MODULE_DIRS = {"python": r".*/lib-dynload", "lua": r".*/lib/.*lua/[0-9.]+", "node": r"(?!)",
                "perl": r"(?!)"}
#: binary name (less a version of digits and dots) -> host; no re: this runs for every program
_NAMES = {"python": "python", "lua": "lua", "luajit": "lua", "node": "node", "nodejs": "node",
          "perl": "perl"}


#: What :meth:`Host.paths` answered, kept between :func:`remember` and :func:`forget`.
_kept: dict[tuple[object, ...], Found] | None = None


def remember() -> None:
    """Keep each host's answer for the same question: learn mode asks before the
    program runs, so that after it no query runs and nothing more is imported (the
    program may have rewritten what the supervisor would import; learn/run.py)."""
    global _kept
    if _kept is None:
        _kept = {}


def forget() -> None:
    """Stop keeping (and drop) what :func:`remember` kept."""
    global _kept
    _kept = None


def find(file: str) -> Host | None:
    """The host *file* is (by the real binary's name), or None."""
    name = os.path.basename(os.path.realpath(file))
    pattern = _NAMES.get(name) or _NAMES.get(name.rstrip("0123456789."))
    if pattern is None or (name not in _NAMES and pattern == "node"):
        return None  # node takes no version suffix
    return next(h for h in HOSTS if h.pattern == pattern)
