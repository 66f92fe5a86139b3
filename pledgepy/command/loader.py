"""Whether a program can drop its loader's promises before ``main`` (the start-up shim).

A dynamically linked program is started holding ``rpath prot_exec`` (its loader
maps libraries) and ``exec`` (the execve that starts it). When the platform has
a start-up shim (Linux: ``backends/linux/native/shim.c``), it narrows the program
to exactly the asked promises once the loader is done. Some programs need the
loader's promises after ``main`` too; they keep them, and the command says why.
"""

from __future__ import annotations

import os

from . import discover, elf

#: Programs that map code after main (extension modules, JIT), by name less its version
#: digits (python3.11 -> python): what they load. No re: the command's start-up path.
DLOPENS = {
    "python": "extension modules (import of C modules)",
    "lua": "C modules (require)",
    "luajit": "C modules (require)",
    "node": "its JIT and native addons",
    "nodejs": "its JIT and native addons",
    "perl": "XS modules",
    "ruby": "C extensions",
    "php": "extensions",
    "tclsh": "packages",
    "wish": "packages",
}

#: Programs whose work is to execute another (``#!/usr/bin/env sh`` runs env first).
EXECUTES = frozenset({"env", "nice", "nohup", "timeout", "stdbuf", "xargs", "setsid", "taskset",
                      "ionice", "chrt", "flock", "chroot", "unshare", "time", "sudo", "doas"})


def _program(path: str, argv: list[str]) -> str | None:
    """The ELF file that runs first (*path* or its ``#!`` interpreter), or None."""
    for file, _ in discover.chain(path, argv):
        if elf.read(file) is not None:
            return os.path.realpath(file)
    return None


def executes(path: str, argv: list[str]) -> bool:
    """Whether *path*'s work is to execute another program (or no ELF file tells):
    it keeps ``exec`` after its own start, asked or not."""
    real = _program(path, argv)
    return real is None or os.path.basename(real) in EXECUTES


def keeps(path: str, argv: list[str], asked: frozenset[str], chroot: str | None) -> str | None:
    """Why *path* must keep its loader's promises after main (None: it can drop them)."""
    if "exec" in asked:
        return "programs it executes need their loader's promises too"
    if chroot:
        return "-c: the start-up shim that narrows it is outside the new root"
    real = _program(path, argv)
    if real is None:
        return "no ELF program found to narrow"
    name = os.path.basename(real)
    if name in EXECUTES:
        return f"{name} executes another program, whose loader needs them"
    what = DLOPENS.get(name.rstrip("0123456789."))
    if what is not None:
        return f"{name} maps code after main ({what})"
    return None


#: Where glibc reads which NSS modules serve each database.
NSSWITCH = "/etc/nsswitch.conf"


def nss_modules(path: str = NSSWITCH) -> list[str]:
    """The NSS modules glibc may dlopen after main (the services *path* names), with the
    libraries they need: loaded by the shim while the loader's promises are held."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    services: dict[str, None] = {}
    for line in lines:
        _, sep, rest = line.partition("#")[0].partition(":")
        if sep:
            services.update(dict.fromkeys(_without_actions(rest).split()))
    resolver = elf.Resolver()
    roots = [p for svc in services for p in resolver.cached.get(f"libnss_{svc}.so.2", ())
             if os.path.exists(p)]
    return sorted({resolver.real(p) for p in (*roots, *resolver.closure(roots))})


def _without_actions(text: str) -> str:
    """*text* with nsswitch's ``[NOTFOUND=return]`` actions blanked out."""
    out, depth = [], 0
    for ch in text:
        depth += ch == "["
        out.append(" " if depth else ch)
        depth -= ch == "]" and depth > 0
    return "".join(out)
