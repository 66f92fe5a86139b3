"""What the program needs to see: the default unveil of the ``pledge`` command.

The program, its interpreter (``PT_INTERP`` or a ``#!`` line, followed to the
real binary), the libraries the loader maps (:mod:`.elf`), a script host's own
library tree (:mod:`.hosts`), the files OpenBSD lets each promise open, and
for ``exec`` the directories of ``PATH``. Nothing of the user's is in it:
files the program should read are named with ``-v``.
"""

from __future__ import annotations

import os

from . import elf, hosts

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from .limits import Identity

#: promise -> files and trees OpenBSD's kernel lets it open (pledge_namei) or that
#: its library calls read on Linux (glibc's NSS, resolver, locale), with permissions.
PROMISE_PATHS: dict[str, tuple[tuple[str, str], ...]] = {
    "": (("/etc/localtime", "r"), ("/usr/share/zoneinfo", "r"), ("/dev/null", "rw"),
         ("/usr/lib/locale", "r"), ("/usr/share/locale", "r"), ("/etc/ld.so.cache", "r"),
         # glibc's malloc reads it before it shrinks a thread's arena (policy.PATHS)
         ("/proc/sys/vm/overcommit_memory", "r")),
    "dns": (("/etc/resolv.conf", "r"), ("/etc/hosts", "r"), ("/etc/services", "r"),
            ("/etc/protocols", "r"), ("/etc/nsswitch.conf", "r"), ("/etc/gai.conf", "r"),
            ("/etc/host.conf", "r")),
    "inet": (("/etc/ssl", "r"), ("/usr/lib/ssl", "r"), ("/etc/services", "r")),
    "getpw": (("/etc/passwd", "r"), ("/etc/group", "r"), ("/etc/nsswitch.conf", "r")),
    "tty": (("/dev/tty", "rw"), ("/usr/share/terminfo", "r"), ("/lib/terminfo", "r"),
            ("/etc/terminfo", "r")),
    "tmppath": (("/tmp", "rwc"),),
}
#: promise -> libraries glibc dlopens for it (NSS modules), by name; "" for any program:
#: libgcc_s, which glibc loads at a thread's pthread_exit() or cancellation to unwind
#: ("libgcc_s.so.1 must be installed for pthread_exit to work", then abort).
PROMISE_LIBS = {"": ("libgcc_s.so.1",),
                "dns": ("libnss_files.so.2", "libnss_dns.so.2", "libresolv.so.2"),
                "getpw": ("libnss_files.so.2", "libnss_systemd.so.2")}
#: program (real binary's name) -> system files it refuses to start without when they
#: exist but cannot be read (its configuration; the user's own stays hidden).
PROGRAM_FILES = {"wget": (("/etc/wgetrc", "r"),),
                 # node: "OpenSSL configuration error" (exit 13) at every start
                 "node": (("/etc/ssl/openssl.cnf", "r"),),
                 "nodejs": (("/etc/ssl/openssl.cnf", "r"),)}
#: The search path programs use when PATH is unset (``env -i``): dash's built-in one,
#: which holds glibc's execvp() default (confstr _CS_PATH, /bin:/usr/bin) and bash's
#: (but its ".": the working directory stays hidden).
UNSET_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Directories a program that may exec another needs for that program's loader.
EXEC_LIB_DIRS = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
SHEBANG_MAX = 256


class Plan:
    """The unveil rules (path, permissions) and what to tell the user about them."""

    __slots__ = ("rules", "dynamic", "notes")

    def __init__(self, rules: tuple[tuple[str, str], ...], dynamic: bool, notes: tuple[str, ...]) -> None:
        self.rules = rules
        self.dynamic = dynamic
        self.notes = notes


class ProgramError(OSError):
    """The program cannot be started (a broken ``#!`` line)."""


def shebang(path: str) -> tuple[str, str | None] | None:
    """``(interpreter, argument)`` from *path*'s ``#!`` line, or None when it has none."""
    try:
        with elf.open_regular(path) as f:
            head = f.read(SHEBANG_MAX)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    # as the kernel reads it (fs/binfmt_script.c): the line up to its newline, without
    # the spaces and tabs around it; the interpreter ends at a space, a tab or a NUL, and
    # its argument is the rest, without the spaces and tabs before it
    line = head[2:].split(b"\n", 1)[0].strip(b" \t")
    end = next((i for i, c in enumerate(line) if c in b" \t\0"), len(line))
    rest = line[end:]
    arg = b"" if rest[:1] == b"\0" else rest.lstrip(b" \t").split(b"\0", 1)[0]
    interp = line[:end].decode(errors="replace")
    if not interp:
        raise ProgramError(f"{path}: empty #! line")
    return interp, (arg.decode(errors="replace") or None)


def chain(path: str, argv: list[str]) -> list[tuple[str, list[str]]]:
    """The programs the kernel runs for *path*: ``[(file, argv)]``, the script's first.

    ``#!/usr/bin/env NAME`` is followed to NAME on PATH, as env would.
    """
    out = [(path, argv)]
    for _ in range(4):  # the kernel's own limit on nested interpreters
        got = shebang(out[-1][0])
        if got is None:
            return out
        interp, arg = got
        args = [interp, *([arg] if arg else []), out[-1][0], *out[-1][1][1:]]
        if os.path.basename(interp) == "env" and arg and "=" not in arg and \
                not arg.startswith("-"):
            import shutil

            found = shutil.which(arg)
            if found:
                out.append((interp, args))
                interp, args = found, [found, *args[2:]]
        if not os.path.exists(interp):
            raise ProgramError(f"{out[-1][0]}: bad interpreter {interp}: "
                               "No such file or directory")
        out.append((interp, args))
    raise ProgramError(f"{path}: too many levels of #! interpreters")



def _absolute(arg: str) -> str:
    """*arg* as an absolute path; a relative one as itself when the working directory is
    gone (it names no file then, so it names no script either)."""
    try:
        return os.path.abspath(arg)
    except FileNotFoundError:
        return arg

def plan(path: str, argv: list[str], promises: frozenset[str], *,
         env: dict[str, str] | None = None, who: Identity | None = None) -> Plan:
    """The default unveil for running *path* with *argv* under *promises* (as *who*:
    a script host is asked its tree as the program will run)."""
    environ = dict(os.environ if env is None else env)
    rules: dict[str, str] = {}
    notes: list[str] = []

    def add(where: str, perms: str) -> None:
        if os.path.exists(where):
            real = resolver.real(where)
            rules[real] = "".join(sorted(set(rules.get(real, "")) | set(perms), key="rwxc".index))

    resolver = elf.Resolver(environ.get("LD_LIBRARY_PATH", ""))
    roots: list[str] = []
    dynamic = False
    links = chain(path, argv)
    # a script host's script is unveiled when the command line or the #! chain names
    # it as a program, not when only a #! line's argument does: that is the (maybe
    # hostile) script's word (#!/usr/bin/python3 /etc/shadow printed its first line)
    given = frozenset(_absolute(a) for a in (*(f for f, _ in links), *argv[1:]))
    for file, args in links:
        add(file, "rx")
        for where, perms in PROGRAM_FILES.get(os.path.basename(resolver.real(file)), ()):
            add(where, perms)
        info = resolver.elf(resolver.real(file))
        if info is not None:
            roots.append(file)
            if info.interp:
                dynamic = True
                # only an ELF file, as the kernel's loader must be: a PT_INTERP naming
                # "/" or a secret's directory would otherwise be unveiled rx
                if resolver.elf(resolver.real(info.interp)) is not None:
                    add(info.interp, "rx")
        host = hosts.find(file) if info is not None else None
        if host is not None:
            # the query sees what the program will of itself: no more (hosts._ask says why)
            sees = ((file, "rx"), (resolver.real(file), "rx"),
                    *(((info.interp, "rx"),) if info is not None and info.interp
                      and resolver.elf(resolver.real(info.interp)) is not None else ()),
                    *((lib, "r") for lib in resolver.closure([file])),
                    *PROMISE_PATHS[""],
                    *PROGRAM_FILES.get(os.path.basename(resolver.real(file)), ()))
            found = host.paths(file, args, environ, who, given, sees)
            for where, perms in found.rules:
                add(where, perms)
            roots += found.libraries
            notes += found.notes
    for promise in ("", *sorted(promises)):
        for where, perms in PROMISE_PATHS.get(promise, ()):
            add(where, perms)
        for name in PROMISE_LIBS.get(promise, ()):
            for lib in resolver.cached.get(name, ()):
                roots.append(lib)
                add(lib, "r")
    if "exec" in promises:
        search = environ.get("PATH")
        for d in (search if search is not None else UNSET_PATH).split(":"):
            if os.path.isabs(d):
                add(d, "rx")
        for d in EXEC_LIB_DIRS:
            add(d, "r")
    for lib in sorted(resolver.closure(roots)):  # sorted: one order, the launcher's too
        add(lib, "r")
    shim = pyenv_shim(path)
    if shim is not None:
        name = os.path.basename(path)
        notes.append(f"{argv[0]} is a pyenv shim (a script that runs {shim}, which is not "
                     f"unveiled, to pick a Python): name the interpreter itself (`pyenv "
                     f"which {name}`: {os.path.dirname(os.path.dirname(shim))}/versions/"
                     f"VERSION/bin/{name})")
    return Plan(tuple(rules.items()), dynamic, tuple(notes))


def pyenv_shim(path: str) -> str | None:
    """The pyenv that *path* runs when it is one of pyenv's shims (ROOT/shims/NAME beside
    ROOT/libexec/pyenv): the shim picks the version at run time, through pyenv's own
    scripts, none of which the default unveil gives; None otherwise."""
    real = os.path.realpath(path)
    shims = os.path.dirname(real)
    pyenv = os.path.join(os.path.dirname(shims), "libexec", "pyenv")
    return pyenv if os.path.basename(shims) == "shims" and os.path.isfile(pyenv) else None


def dynamic(path: str) -> bool:
    """Whether a loader runs before *path*'s main (it or its ``#!`` interpreter has PT_INTERP)."""
    for file, _ in chain(path, [path]):
        info = elf.read(file)
        if info is not None:
            return info.interp is not None
    return False


def file_caps_note(prog: str, path: str) -> str | None:
    """Why *path* could not be run (126), when it carries file capabilities (``setcap``:
    ping's cap_net_raw): under no_new_privs, with the bounding set emptied, the kernel
    refuses to exec a program whose capabilities it cannot grant (EPERM), which the
    program's "Operation not permitted" does not say. None for any other file."""
    try:
        os.getxattr(path, "security.capability")
    except OSError:
        return None
    return (f"{prog} has file capabilities (security.capability, as setcap sets): the "
            "kernel refuses to run it (EPERM) without them, and a program under the pledge "
            "command cannot gain capabilities (no_new_privs; the bounding set is emptied, "
            "-D keeps root's own)")
