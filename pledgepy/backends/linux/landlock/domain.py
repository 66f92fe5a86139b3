"""The Landlock domains pledge() enters: nested ones, so narrowing keeps broader processes out of reach.

Landlock confines ptrace-class access (ptrace, ``/proc/<pid>/mem``) to a
process's own domain and the domains nested below it. The first pledge's
domain keeps processes outside the sandbox out of reach; each later pledge
that can still open ``/proc`` enters a new domain nested below the one in
force, so the narrowed process cannot reach the processes that stay in the
outer one (its parent, its siblings, children forked before the narrowing),
while they can still reach it. Execpromises children enter one before exec.

The domain hides no file: with a scope (ABI >= 6) it handles no file access
at all, so ``open()`` pays nothing; before that it handles only EXECUTE and
grants it everywhere (through a descriptor of ``/`` opened at the first
domain, because a later pledge may not allow opening it). Under ``wpath``
without ``prot_exec`` it also keeps procfs from being written (procwrite.py).

Landlock denies REFER (a rename or link into another directory) in every layer of a
domain that handles any file access, even one that does not handle REFER (it is
"initially denied"): once unveil's layer is in force below it, a nested layer without
REFER would refuse every such rename (EXDEV) where both sides allow ``c``. So each
domain (ABI >= 2) also handles REFER and grants it beneath ``/``: what may be renamed
stays the unveil layer's decision. That needs the descriptor of ``/`` at every ABI.

Landlock stacks at most 16 domains (then E2BIG). :func:`layers_left` says how
many this thread may still enter: probed once, then counted.
"""

from __future__ import annotations

import _thread
import os
import time

from . import abi as A
from . import procwrite
from .ruleset import LandlockError, Ruleset

_left: int | None = None  # domains this thread may still enter (None: not probed)
_root: tuple[int, int, int] | None = None  # (fd, st_dev, st_ino) of "/" for ABI < 6


def _probe() -> int:
    """Enter empty domains on a helper thread (it inherits this thread's) until E2BIG;
    they end with it. Nothing changes for the process. In the native module when it
    is built (a C thread, joined: no Python thread start-up, no wait for its exit)."""
    from .. import native
    from ..seccomp import kernel

    if native.available():
        row = A.current()
        scoped = A.SCOPE_ABSTRACT_UNIX_SOCKET & row.scopes
        # pinned to this CPU only while no filter could refuse sched_setaffinity
        n = int(native.lib().pp_landlock_probe(A.ACCESS_FS_EXECUTE & row.fs, scoped,
                                               24 if scoped else 8, A.MAX_LAYERS,
                                               int(kernel.unfiltered())))
        if n >= 0:
            return n
    return _probe_thread()


def _probe_thread() -> int:
    """:func:`_probe` with a Python thread."""

    def count() -> None:
        n = 0
        try:
            tids.append(_thread.get_native_id())
            with Ruleset(A.ACCESS_FS_EXECUTE, A.SCOPE_ABSTRACT_UNIX_SOCKET) as ruleset:
                while n <= A.MAX_LAYERS:
                    ruleset.restrict_self()
                    n += 1
            found.append(n)
        except OSError:
            found.append(n)  # E2BIG once the limit is reached; anything else: no more than n
        finally:
            done.release()

    found: list[int] = []
    tids: list[int] = []
    done = _thread.allocate_lock()  # _thread, not threading: threading costs start-up
    done.acquire()
    _thread.start_new_thread(count, ())
    done.acquire()  # released by the helper as it ends; _gone() waits for its exit
    gone(tids)
    return found[0] if found else 0


def gone(tids: list[int], timeout: float = 2.0) -> None:
    """Wait until the kernel no longer knows the helper threads *tids*: join() returns a little
    before it exits, and a filter installed meanwhile would kill it (signals blocked)
    in its last syscalls. sched_getaffinity needs only stdio, unlike /proc."""
    deadline = time.monotonic() + timeout
    for tid in tids:
        while time.monotonic() < deadline:
            try:
                os.sched_getaffinity(tid)
            except OSError:
                break  # ESRCH: gone
            time.sleep(0.0001)


def layers_left() -> int:
    """How many more Landlock domains this thread can enter (0 without Landlock)."""
    global _left
    if _left is None:
        _left = _probe() if A.current().available else 0
    return _left


def root_fd_if_open() -> int | None:
    """The descriptor of "/" kept for ABI < 6 domains, if one is open (never opens one)."""
    return _root[0] if _root is not None else None


def _root_fd() -> int:
    """The descriptor of ``/`` :func:`prepare` opened, checked to still be ``/``."""
    if _root is not None:
        fd, dev, ino = _root
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) == (dev, ino):
                return fd
        except OSError:
            pass
    raise LandlockError(9, "no descriptor of / for a Landlock domain (ABI < 6): not "
                        "prepared, or closed since")


def prepare() -> None:
    """Open what later domains need (ABI < 6: ``/``), while files can be opened."""
    global _root
    row = A.current()
    if row.available and (not row.scope_only_domain or row.refer):
        try:
            _root_fd()
        except LandlockError:
            fd = os.open("/", os.O_PATH | os.O_CLOEXEC)
            st = os.fstat(fd)
            _root = (fd, st.st_dev, st.st_ino)


def refer_root() -> int | None:
    """The descriptor of "/" a nested layer grants REFER beneath, or None where Landlock
    has no REFER (ABI 1) or :func:`prepare` did not run (the layer then refuses renames
    across directories below an unveil layer, as it did before). Not checked with an
    fstat, which a filter already in force may refuse (without the native handler,
    glibc's ``newfstatat(fd, "")`` is a violation): whatever the descriptor is now, a
    grant beneath it can only narrow what the layers below allow (:func:`grant_refer`)."""
    if _root is None or not A.current().refer:
        return None
    return _root[0]


def grant_refer(ruleset: Ruleset, fd: int | None) -> None:
    """Grant REFER beneath *fd* in *ruleset* (which handles it); a descriptor closed or
    replaced by a file since :func:`prepare` grants nothing (EBADF, EINVAL): renames
    across directories are then refused (EXDEV), never more allowed."""
    if fd is None:
        return
    try:
        ruleset.add_fd(fd, A.ACCESS_FS_REFER)
    except OSError:
        pass


def ruleset(writable: list[int] | None = None) -> Ruleset:
    """The ruleset of a domain that hides no file (the caller closes it); with
    *writable* (procwrite.open_grants()), one that also keeps procfs from being written."""
    extra = procwrite.ACCESS if writable is not None else 0
    scope_only = A.current().scope_only_domain
    refer = refer_root()
    extra |= A.ACCESS_FS_REFER if refer is not None else 0
    out = (Ruleset(extra, A.SCOPE_ABSTRACT_UNIX_SOCKET) if scope_only
           else Ruleset(A.ACCESS_FS_EXECUTE | extra))
    try:
        if not scope_only:
            out.add_fd(_root_fd(), A.ACCESS_FS_EXECUTE)
        grant_refer(out, refer)
        procwrite.add(out, writable or [])
    except BaseException:
        out.close()
        raise
    return out


def enter(*, all_threads: bool = False, writable: list[int] | None = None) -> None:
    """Enter a new domain nested below the current one (the calling thread; every
    thread with *all_threads* where the kernel can); raise LandlockError if refused.

    With *writable* (procwrite.open_grants()), the domain also keeps procfs from
    being written: only beneath those descriptors may files be opened for writing.
    """
    row = A.current()
    flags = A.RESTRICT_SELF_TSYNC if all_threads and row.tsync else 0
    with ruleset(writable) as built:
        built.restrict_self(flags)
    entered()


def entered() -> None:
    """Count one domain entered by this thread (here or by unveil's commit)."""
    global _left
    if _left is not None:
        _left = max(0, _left - 1)
