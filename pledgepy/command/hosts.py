"""Script hosts: the library tree each interpreter reads, and the script it was given.

The interpreter is asked itself (its ``sys.path``, ``package.path``, module
paths): that covers a venv, a pyenv build and a distribution's patches alike.
It runs unconfined but runs nothing of the script's; only its standard start-up
(for Python: ``site``, with ``-I`` so that nothing from the user's directory or
environment is imported).
"""

from __future__ import annotations

import os

ASK_TIMEOUT = 10.0


class Found:
    """What a host needs: unveil rules, ELF files whose libraries it maps, notes."""

    __slots__ = ("rules", "libraries", "notes")

    def __init__(self, rules: tuple[tuple[str, str], ...], libraries: tuple[str, ...],
                 notes: tuple[str, ...]) -> None:
        self.rules = rules
        self.libraries = libraries
        self.notes = notes


def _ask(argv: list[str], env: dict[str, str]) -> str:
    import subprocess  # only for a script host (start-up)

    try:
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=ASK_TIMEOUT,
                           stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return r.stdout if r.returncode == 0 else ""


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

    def paths(self, file: str, argv: list[str], env: dict[str, str]) -> Found:
        """What *file* run with *argv* reads besides itself."""
        clean = {k: v for k, v in env.items() if k not in self.unset}
        trees = _TREES[self.pattern](_ask([file, *self.ask], clean), env)
        rules = [(d, "r") for d in trees]
        script = _script(argv[1:], self.valued, self.stops)
        notes: list[str] = []
        if script is not None:
            rules.append((script, "r"))
        import re

        modules = [d for d in trees if re.fullmatch(_MODULE_DIRS[self.pattern], d)]
        return Found(tuple(rules), tuple(_shared_objects(modules)), tuple(notes))


def _python(out: str, env: dict[str, str]) -> list[str]:
    import json

    try:
        found = json.loads(out)
    except ValueError:
        return []
    dirs = [p for p in found if isinstance(p, str) and os.path.isabs(p)]
    # what -I left out but the program will use: PYTHONPATH's absolute entries
    dirs += [p for p in env.get("PYTHONPATH", "").split(":") if os.path.isabs(p)]
    return [p for p in dict.fromkeys(dirs) if os.path.exists(p)]


def _lua(out: str, env: dict[str, str]) -> list[str]:
    dirs = [t.split("?", 1)[0] for t in out.replace("\n", ";").split(";") if "?" in t]
    return [d.rstrip("/") for d in dict.fromkeys(dirs) if os.path.isabs(d) and os.path.isdir(d)]


def _node(out: str, env: dict[str, str]) -> list[str]:
    import json

    try:
        found = json.loads(out)
    except ValueError:
        return []
    return [p for p in found if isinstance(p, str) and os.path.isabs(p) and os.path.isdir(p)]


_PY = ("import json, sys, os; p = [*sys.path, os.path.join(sys.prefix, 'pyvenv.cfg'), "
       "os.path.join(os.path.dirname(sys.executable), 'pyvenv.cfg')]; "
       "print(json.dumps([x for x in p if os.path.exists(x)]))")
_TREES = {"python": _python, "lua": _lua, "node": _node}
HOSTS = (
    Host("python", ("-I", "-c", _PY), frozenset({"-W", "-X", "-Q"}),
         frozenset({"-c", "-m"}), ()),
    Host("lua", ("-e", "print(package.path) print(package.cpath)"),
         frozenset({"-l"}), frozenset({"-e"}), ("LUA_INIT", "LUA_INIT_5_4")),
    Host("node", ("-e", "console.log(JSON.stringify([...require('module').globalPaths,"
                        "...require('module')._nodeModulePaths('/')]))"),
         frozenset({"-r", "--require"}), frozenset({"-e", "--eval", "-p", "--print"}),
         ("NODE_OPTIONS",)),
)
#: The trees whose extension modules' libraries are unveiled (the stdlib's, lua's cpath).
_MODULE_DIRS = {"python": r".*/lib-dynload", "lua": r".*/lib/.*lua/[0-9.]+", "node": r"(?!)"}
#: binary name (less a version of digits and dots) -> host; no re: this runs for every program
_NAMES = {"python": "python", "lua": "lua", "luajit": "lua", "node": "node", "nodejs": "node"}


def find(file: str) -> Host | None:
    """The host *file* is (by the real binary's name), or None."""
    name = os.path.basename(os.path.realpath(file))
    pattern = _NAMES.get(name) or _NAMES.get(name.rstrip("0123456789."))
    if pattern is None or (name not in _NAMES and pattern == "node"):
        return None  # node takes no version suffix
    return next(h for h in HOSTS if h.pattern == pattern)
