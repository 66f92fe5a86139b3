"""Whether a program can drop its loader's promises before ``main`` (the start-up shim).

A dynamically linked program is started holding ``rpath prot_exec`` (its loader
maps libraries) and ``exec`` (the execve that starts it). When the platform has
a start-up shim (Linux: ``backends/linux/native/shim.c``), it narrows the program
to exactly the asked promises once the loader is done. Some programs need the
loader's promises after ``main`` too; they keep them, and the command says why.
"""

from __future__ import annotations

import os
import re

from . import discover, elf

#: Programs that map code after main (extension modules, JIT): name -> what they load.
DLOPENS = (
    (r"python[0-9.]*", "extension modules (import of C modules)"),
    (r"lua(jit|[0-9.]*)", "C modules (require)"),
    (r"node(js)?", "its JIT and native addons"),
    (r"perl[0-9.]*", "XS modules"),
    (r"ruby[0-9.]*", "C extensions"),
    (r"php[0-9.]*", "extensions"),
    (r"tclsh[0-9.]*|wish[0-9.]*", "packages"),
)

#: Programs whose work is to execute another (``#!/usr/bin/env sh`` runs env first).
EXECUTES = frozenset({"env", "nice", "nohup", "timeout", "stdbuf", "xargs", "setsid", "taskset",
                      "ionice", "chrt", "flock", "chroot", "unshare", "time", "sudo", "doas"})


def _program(path: str, argv: list[str]) -> str | None:
    """The ELF file that runs first (*path* or its ``#!`` interpreter), or None."""
    for file, _ in discover.chain(path, argv):
        if elf.read(file) is not None:
            return os.path.realpath(file)
    return None


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
    for pattern, what in DLOPENS:
        if re.fullmatch(pattern, name):
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
            services.update(dict.fromkeys(w for w in re.sub(r"\[[^]]*\]", " ", rest).split()))
    resolver = elf.Resolver()
    roots = [p for svc in services for p in resolver.cached.get(f"libnss_{svc}.so.2", ())
             if os.path.exists(p)]
    return sorted({os.path.realpath(p) for p in (*roots, *resolver.closure(roots))})
