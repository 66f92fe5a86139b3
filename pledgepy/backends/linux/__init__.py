"""The Linux backend: pledge() with seccomp-BPF, unveil() with Landlock."""

from __future__ import annotations

import _thread
import os
import sys

from ...promises import VOCABULARY
from ...record import Record
from ...status import Gaps
from ..base import (
    BackendBase,
    ExecRecorder,
    ExecSupervisor,
    Inherited,
    PledgeRequest,
    ProcessCalls,
    UnveilRule,
    WorkerSupervisor,
)
from . import maps, native, noexec, nss, prepared, threads, unwind
from .consts import SIGSYS
from .landlock import abi, allowances, domain, procfs, procwrite
from .rules import PATHS_HELD
from .seccomp import kernel
from .seccomp.plan import Plan, build, narrow, warm

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType


_unveil_module: ModuleType | None = None


def _unveil() -> ModuleType:
    """The Landlock side, loaded on first use (cffi's ABI mode costs start-up time)."""
    global _unveil_module
    if _unveil_module is None:  # an import statement each call costs ~10 µs (per rule)
        from .landlock import unveil

        _unveil_module = unveil
    return _unveil_module


def _children_explained() -> str:
    """How a violation of an exec'd program is reported (exec/explain.py)."""
    if native.available() and kernel.has_handler() and not kernel.inherited():
        return ("a program started by subprocess, os.posix_spawn* or os.system that breaks "
                "its execpromises is explained by pledgepy's explainer process and aborted "
                "(ENOSYS under 'error'); one that breaks this process's promises too, one "
                "started by os.exec* or native code, and the children of a process that "
                "changed its ids die of SIGSYS without a message")
    return ("exec'd programs that break their promises die of SIGSYS without a message "
            "(no explainer: " + (native.MISSING or "filters inherited") + ")")


def wrap_thread_end() -> tuple[str, ...]:
    """The calls exec'd programs keep for the helper thread of a failed os.exec*."""
    from .exec import wrap

    return wrap.THREAD_END


LIMIT = "Landlock's limit of 16 nested domains is reached"


#: What the allowances' call site gives code that calls it directly (see README).
ALLOWANCE_ORACLE = (
    "OpenBSD's path allowances are opens the filter lets through from the SIGSYS handler's "
    "call site, limited by a Landlock layer: code that calls that site itself (ctypes) "
    "can tell an existing path from a missing one anywhere (EACCES versus ENOENT), which "
    "these promises, without rpath/wpath/cpath/dpath, do not otherwise reveal; it opens "
    "nothing beyond the allowances (OpenBSD: no such probe)")


def _layer_covers(kept: tuple[int, tuple[tuple[str, int], ...]],
                  wanted: tuple[int, tuple[tuple[str, int], ...]]) -> bool:
    """Whether the allowance layer *kept* refuses at least what *wanted* would: it handles
    every kind of access *wanted* handles (else the handler's call site would reach, say,
    writing anywhere), and grants each of *wanted*'s paths its rights (else an allowance
    the new promises hold would fail)."""
    if wanted[0] & ~kept[0]:
        return False
    granted = dict(kept[1])
    return all(granted.get(path, 0) & rights == rights for path, rights in wanted[1])


def _kept_writes(kept: tuple[int, tuple[tuple[str, int], ...]],
                 wanted: tuple[int, tuple[tuple[str, int], ...]], new: frozenset[str]) -> list[str]:
    """The paths where the allowance layer *kept* grants writing or creating beyond
    *wanted*'s, when *new* keeps an allowance whose filter rules let the handler's call
    site open for writing or creating at all (tty's /dev/tty, tmppath's /tmp): code
    calling that site directly could then write and create there, not only read."""
    paths, duped = prepared.paths(), prepared.data()["duped"]
    marks = {c for p in new & paths.keys() for path, m in paths[p] if path not in duped for c in m}
    if not marks & {"w", "c"}:
        return []  # the filter lets the call site only read: the layer's writes are idle
    granted = dict(wanted[1])
    reach = allowances.WRITE | allowances.CREATE
    return sorted(path for path, rights in kept[1] if rights & reach & ~granted.get(path, 0))


class Domains(Record):
    """The Landlock domains one pledge enters: a new (nested) one for this process
    (*own*), one below it for exec'd programs (*children*), and what the 16-domain
    limit leaves undone (*gaps*)."""

    __slots__ = ()
    _fields = ("own", "children", "gaps")
    own: bool
    children: bool
    gaps: tuple[str, ...]

    def __new__(cls, own: bool, children: bool, gaps: tuple[str, ...]) -> Domains:
        return tuple.__new__(cls, (own, children, gaps))


def reaches_memory(promises: frozenset[str], letters: str) -> bool:
    """Whether *promises* can open /proc/<pid>/mem with procfs reachable by *letters*."""
    return ("rpath" in promises and "r" in letters) or ("wpath" in promises and "w" in letters)


_WRAP = __name__ + ".exec.wrap"


def _within(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def _keeps_wrappers_loadable(rules: tuple[UnveilRule, ...]) -> bool:
    """Whether *rules*, once locked, still let a later pledge load the exec wrappers and
    start the explainer: pledgepy's files, the standard library and its extension
    modules readable (nothing narrower hides part of them), and /proc (the explainer
    looks for its children's listeners there) and /dev/null. Conservative: symlinked
    rule paths are resolved, anything unsure answers False."""
    stdlib = os.path.dirname(os.__file__)
    needed = [os.path.dirname(os.path.dirname(os.path.dirname(__file__))), stdlib,
              "/proc", os.devnull]
    needed += [p for p in sys.path if os.path.basename(p) == "lib-dynload"]
    # first without resolving anything (a stat per path component): rules that read as
    # covering none of them are the common answer, and False is always safe
    readable = [r.path for r in rules if "r" in r.permissions]
    if not all(any(_within(path, top) for top in readable) for path in needed):
        return False
    try:
        needed = [os.path.realpath(p) for p in needed]
        resolved = [(os.path.realpath(r.path), r.permissions) for r in rules]
    except (OSError, ValueError):
        return False
    for path in needed:
        within = [(p, m) for p, m in resolved
                  if path == p or path.startswith(p.rstrip("/") + "/")
                  or p.startswith(path.rstrip("/") + "/")]
        if not any("r" in m and len(p) <= len(path) for p, m in within):
            return False
        if any("r" not in m for _, m in within):
            return False  # a rule that may hide part of it
    return True

#: status().notes when pledge's domain keeps procfs from being written.
PROC_BLOCK_NOTE = (
    "wpath without prot_exec: a Landlock layer refuses opening any file in procfs for "
    "writing (/proc/self/mem would rewrite this process's code; /proc/self/oom_score_adj "
    "and /proc/sys/* are refused too), and files made after the pledge directly under / "
    "(or under a directory above a procfs mount); for good, exec'd programs included "
    "(OpenBSD has no procfs)")

EXEC_COVERED = "os.exec*, os.posix_spawn*, os.system and subprocess"

EXEC_NOT_COVERED = "multiprocessing's spawn and forkserver start methods and native code"


SPAWNER_NOTE = (
    "exec'd programs are made by pledgepy's spawner (subprocess, os.posix_spawn*, os.system, "
    "multiprocessing's spawn and forkserver): they run under exactly the execpromises and "
    "the unveil rules in force, whatever this process holds, and their violations are "
    "explained by the spawner and aborted (ENOSYS under 'error'); a compromised caller can "
    "still start any program the unveil rules allow, under execpromises (OpenBSD's exec). "
    "Those narrowed in place instead are explained by pledgepy's explainer process; "
    "programs started by os.exec* or native code die of SIGSYS without a message")

THREAD_END_GAP = (
    "programs exec'd in place without 'stdio' may still call {}: a failed os.exec* "
    "returns to the caller from a helper thread that must end (they reach nothing outside "
    "the program)")


def spawner_gap(execpromises: frozenset[str]) -> str:
    """What the spawner does not cover (the in-place narrowing of wrap.py does)."""
    return ("programs started by os.exec*, by subprocess with a preexec_fn, after a change "
            "of ids, or from a forked child run under promises and execpromises both"
            + ("" if "exec" in execpromises else " and keep 'exec'")
            + " (the execpromises filter is stacked in place); programs started by native "
            "code run under promises")


class LinuxBackend(BackendBase):
    """seccomp-BPF (all threads, TSYNC) for promises; Landlock for unveil."""

    platform = "linux"
    mechanism = "seccomp-bpf"
    unveil_mechanism = "landlock"

    def __init__(self) -> None:
        self._plan: Plan | None = None
        self._in_domain = False  # in a Landlock domain (unveil's, or pledge's own)
        self._reach: dict[tuple[UnveilRule, ...], str] = {}  # rules -> procfs.reach()
        self._wx: tuple[str, ...] | None = None  # rwx mappings seen without prot_exec
        self._code_files: tuple[str, ...] | None = None  # files mapped executable, as last read
        self._shmem_code: tuple[str, ...] = ()  # of those, kernel shmem a capable one reopens
        self._paths: tuple[int, tuple[tuple[str, int], ...]] | None = None  # allowance layer in force
        self._paths_off = ""  # why the pledge being applied gets no allowance layer
        self._late: list[str] = []  # live_notes()
        self._unveil_locked = False  # by lock_unveil(), with exec still possible
        self._proc_blocked = False  # a domain in force keeps procfs from being written
        self._children_blocked = False  # the spawner's children are kept from writing it
        self._block: tuple[PledgeRequest, tuple[str, ...] | str | None] | None = None  # memo
        if kernel.unavailable() is None:
            native.load()  # a stale build is refused here, before anything changes
            warm(kernel.arch() or "x86_64")  # static tables, so pledge() itself stays quick

    # ---- pledge ----
    def pledge_gaps(self, request: PledgeRequest) -> Gaps:
        why = kernel.unavailable()
        if why is not None:
            return Gaps(not_enforced=(f"seccomp: {why}; nothing is enforced",), nothing=True)
        new, new_exec = request.new, request.new_exec
        weak: list[str] = []
        held = new if new is not None else frozenset(VOCABULARY)  # unpledged: all
        no_meaning = prepared.data()["no_meaning"]
        notes = [f"{p!r} grants nothing on Linux: {no_meaning[p]}"
                 for p in sorted(new or ()) if p in no_meaning]
        if new is not None and "dns" in new and "sendfd" not in new:
            weak.append("dns: glibc's resolver needs sendmmsg(), which the kernel cannot check "
                        "for descriptors (SCM_RIGHTS) the way OpenBSD's sendfd rule does")
        if new is not None and "dns" in new and "inet" not in new:
            weak.append("dns: its sockets are not limited to DNS: connect() and sendto() "
                        "reach any address and port (OpenBSD: port 53 only)")
        if new is not None and "unix" in new and not new & {"inet", "dns"}:
            weak.append("unix: connect(), bind() and sendto() cannot tell a unix socket from "
                        "an inet socket opened before pledge() (BPF cannot see a descriptor's "
                        "family; OpenBSD refuses inet sockets here)")
        passing = sorted((new or frozenset()) & {"sendfd", "recvfd"})
        if passing:
            weak.append("/".join(passing) + ": directory descriptors pass too (OpenBSD refuses "
                        "them; BPF cannot look inside msg_control): a received one lists and "
                        "stats what unveil hides, though files opened under it obey unveil")
        domains = self._domains(request)
        weak.extend(domains.gaps)
        if new is not None and allowances.handled(new) and self._paths_layer(request) is None:
            notes.append("OpenBSD's path allowances (" + ", ".join(sorted(new & prepared.paths().keys()))
                         + ") are not granted: " + self._paths_refused(request)
                         + "; such opens are violations")
        weak.extend(self._kept_layer_gaps(request))
        block = self._proc_block(request, domains)
        if isinstance(block, tuple) or (block is None and self._proc_blocked):
            notes.append(PROC_BLOCK_NOTE)
        weak.extend(self._proc_mem_gaps(request, block))
        children = self._children_block(request, domains, block)
        if isinstance(children, str):
            weak.append("execpromises: wpath without prot_exec: programs narrowed in place "
                        "can rewrite their own code through /proc/self/mem (" + children + ")")
        weak.extend(self._wx_gaps(request))
        weak.extend(self._code_file_gaps(request))
        weak.extend(self._unveiled_allowance_gaps(request))
        if (new is not None and "unix" in new and not self._in_domain
                and abi.current().abstract_unix_scope):
            notes.append("unix: abstract unix sockets created outside the sandbox are out of "
                         "reach (the Landlock scope pledge() enters, as unveil does; OpenBSD "
                         "has no abstract namespace)")
        if new_exec is not None:
            spawned = self._spawner_ready(request)
            gained = sorted(new_exec - held)
            if gained and not spawned and "exec" in held:  # without exec nothing is exec'd
                weak.append("execpromises " + " ".join(gained) + " exceed promises: on Linux an "
                            "exec'd program cannot gain what its caller lacks (it runs without "
                            "them): no spawner (" + (self._spawner_why() or self._children_block_why(request)
                                                       or "without proc only os.exec* "
                                                       "starts a program: narrowed in place") + ")")
            # without exec nothing is exec'd (the filter refuses execve, the spawner is
            # sealed): how exec'd programs would be narrowed is no gap of this pledge
            if "exec" in held and not (new_exec | {"exec"}) >= held:
                if spawned:
                    notes.append(SPAWNER_NOTE)
                    weak.append(spawner_gap(new_exec))
                    if "stdio" not in new_exec:
                        weak.append(THREAD_END_GAP.format(", ".join(wrap_thread_end())))
                else:
                    if "exec" not in new_exec:
                        weak.append("exec'd programs keep 'exec': the filter must allow the "
                                    "execve that starts them")
                    if "stdio" not in new_exec:
                        weak.append(THREAD_END_GAP.format(", ".join(wrap_thread_end())))
                    notes.append(_children_explained())
                    weak.append(f"execpromises are applied by {EXEC_COVERED}; programs started "
                                f"by {EXEC_NOT_COVERED} run under promises")
        if new is not None and {"error", "exec"} <= new:
            notes.append("error with exec: the kernel answers violations with ENOSYS itself, "
                         "without a message or the handler's emulation of fstat, since exec'd "
                         "programs run under the same filter without the handler")
        missing = self.messages_missing()
        if (new is not None and allowances.handled(new) & allowances.READ
                and not new & {"rpath", "wpath", "cpath", "dpath"}
                and self._paths_layer(request) is not None):
            notes.append(ALLOWANCE_ORACLE)
        if missing is None and new is not None:
            notes.append("the penalty comes from pledgepy's SIGSYS handler, which the filter "
                         "keeps from being replaced; code that writes this process's memory "
                         "(ctypes, cffi) could still keep a violation from aborting it, though "
                         "the refused call never runs (OpenBSD: the kernel aborts)")
        if missing is not None:
            notes.append(f"violations are enforced but not explained: {missing}; a violation "
                         "kills the process (SIGSYS) without a message"
                         + (", or fails with ENOSYS under 'error'" if "error" in held else ""))
        if (new is not None and (request.old is None or "rpath" in request.old)
                and threads.count() > 1):
            blocked = threads.blocking(SIGSYS)
            if blocked:
                notes.append(f"{len(blocked)} other thread(s) have SIGSYS blocked (thread id "
                             f"{', '.join(map(str, blocked[:3]))}): pledge() unblocks it only in "
                             "the calling thread, so a violation there is killed by the kernel "
                             "at once, without a message (exit 159)")
        return Gaps(not_enforced=tuple(weak), notes=tuple(notes))

    def live_notes(self) -> tuple[str, ...]:
        return tuple(self._late)

    def messages_missing(self) -> str | None:
        if kernel.unavailable() is not None or kernel.has_handler():
            return None
        if native.MISSING is None:
            return ("this program was started under a pledge it inherited, whose filters may "
                    "refuse installing a SIGSYS handler")
        return native.MISSING

    def _proc_letters(self, request: PledgeRequest) -> str:
        """``"r"``/``"w"``: how procfs stays reachable once *request* is in force."""
        rules = request.unveils
        committed = request.unveil_in_force or (request.new is not None
                                                and "unveil" not in request.new)
        if not rules or not committed or not abi.current().available:
            return procfs.MEMORY_LETTERS  # no unveil in force hides anything
        return self._reach_of(rules, request.old)

    def _reach_of(self, rules: tuple[UnveilRule, ...], held: frozenset[str] | None,
                  locking: bool = False) -> str:
        """procfs.reach() of *rules* (with stdio's paths), remembered: once they are in
        force a later pledge may not be able to look again. *locking*: called by the
        lock, right after its judgement looked every rule up (they are not again)."""
        if rules not in self._reach:
            if held is not None and "rpath" not in held:
                return procfs.MEMORY_LETTERS  # cannot look now: assume the worst
            lookup = _unveil().lock_stat if locking else os.stat
            try:
                self._reach[rules] = procfs.reach(rules + _unveil().stdio_rules(), lookup)
            except OSError:
                return procfs.MEMORY_LETTERS
        return self._reach[rules]

    @staticmethod
    def _unveiled_allowance_gaps(request: PledgeRequest) -> list[str]:
        """Unveil rules committed while an allowance promise was held include its files;
        Landlock cannot take a rule back, so dropping the promise later leaves them
        reachable to the path promises still held (OpenBSD ends the bypass at once)."""
        old, new = request.old, request.new
        if old is None or new is None or not request.unveil_in_force or not request.unveils:
            return []
        paths = prepared.paths()
        dropped = sorted(p for p in paths if p != "stdio" and p in old and p not in new)
        if not dropped or not new & {"rpath", "wpath", "cpath"}:
            return []
        files = ", ".join(path for p in dropped for path, _ in paths[p][:3])
        return [f"{' '.join(dropped)}: the unveil rules in force were committed while "
                f"{'they were' if len(dropped) > 1 else 'it was'} held and include "
                f"{'their' if len(dropped) > 1 else 'its'} files ({files}, ...); Landlock "
                "cannot take rules back, so they stay reachable to rpath/wpath/cpath"]

    def _kept_layer_gaps(self, request: PledgeRequest) -> list[str]:
        """A narrowing that keeps the allowance layer in force (other threads run, ABI < 8:
        see _paths_plan) leaves what it grants beyond the new allowances to code that
        calls the handler's call site itself; the handler no longer opens them."""
        new = request.new
        kept = self._paths
        if new is None or kept is None or self._paths_layer(request) != kept:
            return []
        wanted = dict(allowances.rules(new))
        extra = sorted(path for path, rights in kept[1] if rights & ~wanted.get(path, 0))
        if not extra:
            return []
        shown = ", ".join(extra[:3]) + (", ..." if len(extra) > 3 else "")
        return [f"path allowances this pledge drops ({shown}) stay granted to the SIGSYS "
                "handler's call site: other threads are running and Landlock ABI < 8 cannot "
                "enter the narrower layer for them, so code that calls that site directly "
                "(ctypes), or a thread that rewrites a path between the handler's check and "
                "its call (the handler reads the program's memory twice), can still read them"]

    def _paths_layer(self, request: PledgeRequest) -> tuple[int, tuple[tuple[str, int], ...]] | None:
        """The allowance layer *request* needs (handled rights, rules), or None: the
        allowances' opens then stay violations (no Landlock, or no layer left)."""
        key = self._paths_plan(request)
        return None if isinstance(key, str) else key

    def _paths_refused(self, request: PledgeRequest) -> str:
        """Why *request* gets no allowance layer (see _paths_plan), as a message says it."""
        why = self._paths_plan(request)
        return why if isinstance(why, str) else ""

    def _paths_plan(self, request: PledgeRequest) -> tuple[int, tuple[tuple[str, int], ...]] | str:
        """The allowance layer *request* needs (handled rights, rules), or why there is
        none ("" when no allowance is held): one place for both, so the violation
        message and status() name the reason the layer was really refused for."""
        new = request.new
        if new is None:
            return ""
        if not allowances.available():
            return ("this kernel has no Landlock to confine them to their files"
                    if new & prepared.paths().keys() else "")
        mask = allowances.handled(new)
        if not mask:
            return ""
        if "exec" in new and mask & allowances.READ:
            # Landlock checks read access at execve: the layer would refuse every exec
            return ("exec without rpath: a Landlock layer for them would refuse every exec "
                    "(Landlock checks read access at execve); add rpath")
        key = (mask, tuple(allowances.rules(new)))
        if key == self._paths:
            return key  # already in force
        # threads.count() assumes others when /proc cannot be read: threading's count
        # misses _thread and native threads, which would keep a wider layer
        readable = request.old is None or "rpath" in request.old  # /proc/self/task
        if not abi.current().tsync and threads.count(readable) > 1:
            # A new layer would confine this thread only (ABI < 8). The one in force was
            # entered while this thread was alone, so every thread running now descends
            # from it and is inside: where it refuses at least what the new one would
            # (_layer_covers), the handler narrows to the new allowances under it (what it
            # still grants beyond them is reported: code calling the handler's site
            # directly). Strict refuses the allowances instead, which leaves no gap.
            kept = self._paths
            keeps = kept is not None and _layer_covers(kept, key)
            # only a gap of reading is left to the call site (as reported), never writing
            writes = _kept_writes(kept, key, new) if kept is not None and keeps else []
            if kept is not None and keeps and not writes and not request.strict:
                return kept
            named = threads.others_named()
            if writes:
                fix = ("the layer in force would leave writing and creating in what this "
                       f"pledge drops ({', '.join(writes)}) to the handler's call site")
            elif keeps:
                fix = ("strict refuses keeping the layer in force, which would leave the "
                       "allowances this pledge drops to the handler's call site")
            elif request.old is None:
                fix = "pledge() before starting threads"
            else:
                fix = ("drop rpath/wpath/cpath/dpath in a pledge() before starting threads: "
                       "later narrowings keep its allowances")
            return ("other threads were running at pledge()" + (f" ({named})" if named else "")
                    + f" and Landlock ABI {abi.current().version} < 8 confines only the "
                    "calling thread; " + fix)
        can_probe = request.old is None or "stdio" in request.old
        left = domain.layers_left() if can_probe else abi.MAX_LAYERS
        commit = "unveil" not in new and bool(request.unveils) and not request.unveil_in_force
        if left >= 1 + int(commit):
            return key
        return "Landlock's limit of 16 nested domains is reached"

    def _domains(self, request: PledgeRequest) -> Domains:
        """Which new Landlock domains this pledge enters (see landlock.domain)."""
        new, old = request.new, request.old
        row = abi.current()
        if not row.available:
            return Domains(False, False, ())
        letters = self._proc_letters(request)
        commit = new is not None and "unveil" not in new and bool(request.unveils) \
            and not request.unveil_in_force
        own = new is not None and not commit and (
            not self._in_domain or reaches_memory(new, letters))
        target = None
        # without exec no program is started: execpromises matter not, and the exec
        # machinery (not loaded by a pledge without exec) may no longer be loadable
        if request.new_exec is not None and (new is None or "exec" in new):
            wrap = self._wrap()

            target = wrap.target(request.new_exec, new)
        children = target is not None and reaches_memory(target, letters)
        weak: list[str] = []
        if not (own or commit or children):
            return Domains(False, False, ())
        if own and not row.tsync and threads.count() > 1:
            weak.append("threads already running are left out of the Landlock domain that "
                        "keeps /proc/<pid>/mem of other processes out of reach (ABI < 8)"
                        + (" and procfs from being written" if new is not None
                           and "wpath" in new and "prot_exec" not in new else ""))
        can_probe = old is None or "stdio" in old  # the probe runs on a helper thread
        left = domain.layers_left() if can_probe else abi.MAX_LAYERS
        needed = int(own or commit)
        if needed > left:
            own = False
            if new is not None and reaches_memory(new, procfs.MEMORY_LETTERS):
                weak.append(LIMIT + ": this process stays in the domain of processes that may "
                            "hold more promises (its parent, siblings, children) and can open "
                            "their /proc/<pid>/mem")
        if children and needed + 1 > left:
            children = False
            weak.append(LIMIT + ": exec'd programs stay in this process's domain and can "
                        "open its /proc/<pid>/mem under their execpromises")
        return Domains(own, children, tuple(weak))

    def _proc_block(self, request: PledgeRequest,
                    domains: Domains) -> tuple[str, ...] | str | None:
        """Whether this pledge's domain must keep procfs from being written (wpath
        without prot_exec, procfs writable, no unveil rules in force) and can: the
        paths that keep write access (procwrite.grants()), or why it cannot; None
        when not needed (or already in force). Remembered for apply_pledge()."""
        if self._block is not None and self._block[0] == request:
            return self._block[1]
        new = request.new
        commit = new is not None and "unveil" not in new and bool(request.unveils) \
            and not request.unveil_in_force
        out: tuple[str, ...] | str | None = None
        if (new is None or "wpath" not in new or "prot_exec" in new or self._proc_blocked
                or request.unveil_in_force or commit
                or "w" not in self._proc_letters(request)):
            out = None
        elif not abi.current().available:
            out = "no Landlock"
        elif not domains.own:  # the allowance layer, if entered instead, needs one too
            out = LIMIT
        elif request.old is not None and "rpath" not in request.old:
            out = "without rpath the mount table and / cannot be read to build it"
        else:
            try:
                out = procwrite.grants()
            except OSError as exc:
                out = f"the mount table or / cannot be read: {exc.strerror}"
        self._block = (request, out)
        return out

    def _children_block(self, request: PledgeRequest, domains: Domains,
                        block: tuple[str, ...] | str | None) -> bool | str:
        """Whether programs narrowed in place (exec/wrap.py) need a procfs write block
        of their own: they hold wpath without prot_exec while this process, holding
        prot_exec, writes procfs. True: it can be built; a string: why it cannot;
        False: not needed (the caller's own block, or unveil rules in force, decide)."""
        new = request.new
        if new is None or request.new_exec is None or "exec" not in new:
            return False
        target = self._wrap().target(request.new_exec, new)
        if target is None or "wpath" not in target or "prot_exec" in target:
            return False
        commit = "unveil" not in new and bool(request.unveils) and not request.unveil_in_force
        if self._proc_blocked or isinstance(block, tuple) or request.unveil_in_force or commit:
            return False
        if not domains.children:
            return "no Landlock domain can be entered for them"
        if request.old is not None and "rpath" not in request.old:
            return "without rpath the mount table and / cannot be read to build it"
        return True

    def _proc_mem_gaps(self, request: PledgeRequest,
                       block: tuple[str, ...] | str | None) -> list[str]:
        """What /proc/<pid>/mem gives path promises on Linux (no such file on OpenBSD)."""
        held = request.new if request.new is not None else frozenset(VOCABULARY)
        weak: list[str] = []
        paths = held & {"rpath", "wpath"}
        if paths and not abi.current().available:
            weak.append(f"{'/'.join(sorted(paths))}: /proc/<pid>/mem of other processes of "
                        "this user can be opened (no Landlock to confine ptrace access)")
        if ("wpath" in held and "prot_exec" not in held and not self._proc_blocked
                and not isinstance(block, tuple) and "w" in self._proc_letters(request)):
            why = (f"; pledge keeps procfs from being written where it can, not here: {block}"
                   if isinstance(block, str) else "")
            weak.append("wpath: this process's own code can be rewritten through "
                        "/proc/self/mem, so leaving out prot_exec does not stop new code "
                        "(unveil rules in force that reach no procfs close this" + why + ")")
        return weak

    def _code_file_gaps(self, request: PledgeRequest) -> list[str]:
        """Mapped code whose file this process may write: wpath rewrites running code
        through the page cache (and every other process using that file)."""
        new, old = request.new, request.old
        if new is None or "wpath" not in new or "prot_exec" in new:
            return []
        if old is None or "rpath" in old or maps.readable_without_rpath():
            # readable: look again (code may have been loaded)
            try:
                self._code_files = tuple(maps.executable_files())
                files = old is None or "rpath" in old  # else only descriptors are used
                self._shmem_code = ((tuple(maps.kernel_shmem_executable())
                                     if maps.can_reopen_mappings(files) else ())
                                    + tuple(maps.kernel_shmem_descriptors(paths=files)))
            except OSError as exc:
                return [f"wpath: /proc/self/maps: {exc.strerror}: whether mapped code files "
                        "can be rewritten is unknown"]
        if self._code_files is None:
            return ["wpath: the files of the code mapped in this process could not be "
                        "listed (no rpath), so whether it can rewrite them is unknown"]
        rules = request.unveils if (request.unveil_in_force or "unveil" not in new) else ()
        writable_rules = [os.path.realpath(r.path) for r in rules if "w" in r.permissions]

        def reachable(path: str) -> bool:
            if rules and not any(path == p or path.startswith(p.rstrip("/") + "/")
                                 for p in writable_rules):
                return False  # Landlock refuses writing it
            return os.access(path, os.W_OK)

        found = [p for p in self._code_files if reachable(p)]
        # Landlock judges the file opened, and never restricts these: the rules do not help
        found += [m if m.startswith("descriptor") else f"{m} (through /proc/self/map_files)"
                  for m in self._shmem_code]
        if not found:
            return []
        return [f"wpath: {len(found)} file(s) of code mapped in this process can be written "
                f"({', '.join(found[:3])}), which changes the running code without prot_exec: "
                "unveil them read-only (or hide them), run as a user that cannot write them "
                "(root can write them all), or keep prot_exec"]

    def _wx_gaps(self, request: PledgeRequest) -> list[str]:
        """Writable and executable memory: new code without prot_exec."""
        new, old = request.new, request.old
        if new is None or "prot_exec" in new:
            return []
        if old is None or "prot_exec" in old:  # new such mappings were possible until now
            if old is not None and "rpath" not in old and not maps.readable_without_rpath():
                self._wx = ("(unknown: /proc/self/maps cannot be read without rpath)",)
            else:
                try:
                    self._wx = tuple(maps.writable_executable())
                    self._wx += tuple(maps.writable_code_descriptors(
                        paths=old is None or "rpath" in old))
                except OSError as exc:
                    self._wx = (f"(unknown: /proc/self/maps: {exc.strerror})",)
        if not self._wx:
            return []
        return [f"prot_exec: writable and executable memory is mapped ({len(self._wx)}: "
                f"{'; '.join(self._wx[:3])}), so code written there runs without prot_exec "
                "(ctypes callbacks get such memory from libffi; a descriptor open for writing on "
                "/proc/<pid>/mem or on a file mapped executable writes code too): create no "
                "callbacks, load nothing that maps it and close such descriptors before "
                "pledge(), or keep prot_exec"]

    def apply_pledge(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...],
                     lock_unveil: bool) -> None:
        new = request.new
        commit = lock_unveil and bool(unveils)
        if kernel.unavailable() is not None:
            if commit:  # best effort: pledge_gaps() already said seccomp enforces nothing
                self.lock_unveil(unveils)
            return
        if new is None:  # execpromises only, before any pledge: exec'd programs get them
            wrap = self._wrap()

            wrap.prepare()
            children = self._domains(request).children
            domain.prepare()  # unpledged: files can still be opened
            wrap.arm(request.new_exec, None, kernel.arch() or "x86_64", nest=children)
            return
        # Everything Python-side first: once Landlock or the filter is in force,
        # pledgepy itself may no longer read its own modules.
        kernel.prepare()
        if request.old is not None or not kernel.inherited():
            # what glibc dlopens itself later (NSS modules for the lookups the promises
            # allow, the unwinder that ends threads) must not be a violation then; not
            # under filters we did not install, which might refuse the load itself now
            nss.prepare(request.old, new)
            unwind.prepare(request.old, new)  # daemon threads end through it at exit
        if request.old is None or request.old & {"rpath", "unveil"}:
            allowances.prepare()  # the allowance paths, while they can be opened
        if "proc" in new and "exec" not in new:
            # a vforked child (subprocess, posix_spawn, system) would die of SIGSYS
            # without a word: children are forked from now on (noexec.py)
            noexec.install()
        if "unveil" in new:
            # unveil() and its lock need only "unveil" (OpenBSD): what they run is loaded
            # now, while it can be (a lazy import later needs rpath), and what they open
            # is kept (the maps, for a later pledge's judgement)
            _unveil()
            if "rpath" not in new and (request.old is None or "rpath" in request.old):
                maps.keep_open()
        planned_paths = self._paths_plan(request)
        paths = None if isinstance(planned_paths, str) else planned_paths
        # why the allowances are refused, for the handler's message (set with the layer)
        self._paths_off = planned_paths if isinstance(planned_paths, str) else ""
        if paths is not None:  # the handler answers fstat() until the new filter is in
            allowances.forget_replaced()
        planned = new | {PATHS_HELD} if paths is not None else new
        plan = (narrow(self._plan, planned) if self._plan is not None
                else build(planned, kernel.arch() or "x86_64"))
        execs = "exec" in new or (request.old is not None and "exec" in request.old)
        if execs:
            wrap = self._wrap()

            wrap.prepare()  # a later pledge may set execpromises
        domains = self._domains(request)
        if request.old is None or request.old & {"rpath", "unveil"}:
            domain.prepare()  # later domains may not be able to open what they need
        block = self._proc_block(request, domains)
        if execs and self._children_block(request, domains, block) is True:
            # kept for programs narrowed in place (one ruleset: built while / can be read)
            try:
                grants = procwrite.open_grants(procwrite.grants())
            except OSError:
                pass  # unreadable after all: they narrow without it, as reported
            else:
                try:
                    self._wrap().set_block(domain.ruleset(grants))
                finally:
                    procwrite.close(grants)
        # opened before the filter, which may refuse O_PATH; closed once entered
        writable = procwrite.open_grants(block) if isinstance(block, tuple) else None
        try:
            self._apply(request, unveils, commit, plan, paths, domains, writable, execs)
        finally:
            procwrite.close(writable or [])
            self._block = None

    def _apply(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...], commit: bool,
               plan: Plan, paths: tuple[int, tuple[tuple[str, int], ...]] | None,
               domains: Domains, writable: list[int] | None, execs: bool) -> None:
        """The part of apply_pledge() that changes the process (see there)."""
        new = request.new
        assert new is not None
        if execs:  # before the caller's own domain and filter: it must stay outside both
            self._spawner(request, unveils if commit else ())
        if commit:
            self._reach_of(unveils, request.old, True)  # judged before the rules hide /proc
            # before the filter, which may refuse the Landlock syscalls
            _unveil().commit(unveils, promises=new | {"stdio"} if request.old is None else new)
            domain.entered()
            self._in_domain = True
        entering = paths is not None and paths != self._paths
        if domains.own and not commit and not entering:
            # Keeps /proc/<pid>/mem of processes outside it out of reach: of those
            # outside the sandbox, and (nested) of those this narrowing leaves broader.
            domain.enter(all_threads=True, writable=writable)
            self._in_domain = True
            self._proc_blocked = self._proc_blocked or writable is not None
        if paths is None:
            native.set_paths(False)  # the allowances' calls are violations again
            native.set_paths_off(self._paths_off)
        kernel.apply(plan, self._plan)
        self._plan = plan
        if _unveil_module is not None:  # its lookups: only what the filter lets through
            _unveil_module.set_promises(new)
        if entering:
            # After the filter, so a pledge that fails leaves the process unchanged; until
            # the layer is in force the filter in force and the previous layer decide,
            # which is never more than before this pledge.
            try:
                allowances.enter(new, all_threads=True, writable=writable)
            except OSError as e:
                which = ", ".join(sorted(new & prepared.paths().keys()))
                why = f"their Landlock layer could not be entered ({os.strerror(e.errno or 0)})"
                self._late.append(f"OpenBSD's path allowances ({which}) are not granted: {why}; "
                                  "such opens are violations")
                native.set_paths(False)
                native.set_paths_off(why)
                plan = narrow(plan, new)  # the allowances' calls trap again, for good
                kernel.apply(plan, self._plan)
                self._plan = plan
                if domains.own and not commit:
                    domain.enter(all_threads=True, writable=writable)
                    self._in_domain = True
                    self._proc_blocked = self._proc_blocked or writable is not None
                paths = None
            else:
                domain.entered()  # also a nested domain: it does what domains.own does
                self._paths = paths
                self._in_domain = True
                self._proc_blocked = self._proc_blocked or writable is not None
        if paths is not None:
            native.set_paths(True, allowances.root_fd(), allowances.entries(new))
            native.set_paths_off("")
        self._plan = plan
        if execs:
            from .exec import wrap

            wrap.arm(request.new_exec, plan, plan.arch, nest=domains.children)

    def _spawner_why(self) -> str | None:
        """Why no spawner makes this process's exec'd programs (None: one does or can)."""
        from .exec import spawner

        if spawner.active():
            return None
        if self._plan is not None:
            return spawner.WHY or "no spawner was started before the first filter"
        return spawner.WHY or spawner.unusable(self._in_domain)

    def _spawner_ready(self, request: PledgeRequest) -> bool:
        """Whether exec'd programs run under execpromises alone once *request* is in force."""
        held = request.new if request.new is not None else request.old
        if held is None or "exec" not in held | (request.old or frozenset()):
            return False
        if "proc" not in held:  # OpenBSD: no fork, vfork or posix_spawn without proc
            return False
        return self._spawner_why() is None and self._children_block_why(request) is None

    def _children_block_why(self, request: PledgeRequest) -> str | None:
        """Why this narrowing must seal the spawner: its children would hold wpath without
        prot_exec, and the block that keeps them from procfs cannot be built (None: it can,
        or is not needed)."""
        held = request.new_exec if request.new_exec is not None else request.new
        if (held is None or request.old is None or "rpath" in request.old
                or self._children_writable(held, look=False) is None):
            return None
        return ("exec'd programs would hold wpath without prot_exec, and the ruleset that "
                "keeps procfs from being written cannot be built: without rpath the mount "
                "table and / cannot be read")

    def _spawner(self, request: PledgeRequest, unveils: tuple[UnveilRule, ...]) -> None:
        """Start the spawner at the first filter, or narrow what it gives exec'd programs
        (exec/spawner.py); *unveils*: rules this pledge commits."""
        from .exec import spawner

        held = request.new_exec if request.new_exec is not None else request.new
        assert held is not None and request.new is not None
        if not {"exec", "proc"} <= request.new:
            # OpenBSD: without exec no program is started at all, and without proc no
            # process is made (only os.exec*, which narrows in place, is left)
            if spawner.active():
                spawner.seal("exec or proc is no longer held")
            return
        if spawner.active():
            try:
                spawner.narrow(held, kernel.arch() or "x86_64")
                if unveils:
                    self._spawner_rules(unveils, held)
            except OSError as exc:  # sealed: it must never serve the wider rules again
                spawner.seal(f"the spawner refused a narrowing: {exc.strerror}")
                return
            why = self._children_block_why(request)
            try:
                writable = None if why else self._children_writable(held)
            except OSError as exc:
                why = ("exec'd programs would hold wpath without prot_exec, and the ruleset "
                       f"that keeps procfs from being written cannot be built: {exc.strerror}")
            if why:
                spawner.seal(why)
                return
            if writable is not None:
                try:
                    with domain.ruleset(writable) as built:
                        spawner.add_ruleset(built.fd)
                except OSError as exc:
                    spawner.seal(f"the spawner refused a ruleset: {exc.strerror}")
                    return
                finally:
                    procwrite.close(writable)
                self._children_blocked = True
            return
        if self._plan is not None or spawner.WHY is not None:
            if spawner.WHY is None:
                spawner.WHY = "no spawner was started before the first filter"
            return  # it must start before the first filter: never later
        why = spawner.unusable(self._in_domain)
        if why is not None:
            spawner.WHY = why
            return
        try:
            writable = self._children_writable(held)
        except OSError as exc:
            spawner.WHY = ("exec'd programs would hold wpath without prot_exec, and the ruleset "
                           f"that keeps procfs from being written cannot be built: {exc.strerror}")
            return
        try:
            rulesets = [domain.ruleset(writable)]
        finally:
            procwrite.close(writable or [])
        try:
            if unveils:
                built = _unveil().build(unveils, promises=held)
                if built is not None:
                    rulesets.append(built)
            started = spawner.start(held, kernel.arch() or "x86_64", [r.fd for r in rulesets])
            self._children_blocked = started and writable is not None
        finally:
            for ruleset in rulesets:
                ruleset.close()

    def _children_writable(self, held: frozenset[str], look: bool = True) -> list[int] | None:
        """What the spawner's children may still open for writing (procwrite.open_grants())
        when they hold wpath without prot_exec and are not kept from procfs yet: their own
        /proc/self/mem would rewrite their code. None: not needed. OSError: / or the mount
        table cannot be read. Without *look*, [] when needed (nothing is read)."""
        if "wpath" not in held or "prot_exec" in held or self._children_blocked:
            return None
        return procwrite.open_grants(procwrite.grants()) if look else []

    def _spawner_rules(self, unveils: tuple[UnveilRule, ...], held: frozenset[str]) -> None:
        from .exec import spawner

        built = _unveil().build(unveils, promises=held)
        if built is not None:
            with built:
                spawner.add_ruleset(built.fd)

    # ---- unveil ----
    def _promises(self) -> frozenset[str] | None:
        return self._plan.promises - {PATHS_HELD} if self._plan else None

    def _threads(self) -> int | None:
        held = self._promises()
        if held is None or "rpath" in held:
            return None  # unveil counts /proc/self/task
        # /proc cannot be opened: counted from the /proc/self/task descriptor kept from
        # the pledge that could (fstat, a stdio call; 2, others assumed, without one).
        # Not _thread's count alone: it misses native threads
        kept = threads.count(readable=False) if "stdio" in held else 2
        return max(kept, _thread._count() + 1)

    def check_unveil(self, rule: UnveilRule) -> None:
        _unveil().check_rule(rule)

    def check_unveils(self, rules: list[UnveilRule], locking: bool) -> None:
        _unveil().check_rules(rules, locking=locking)

    def unveil_gaps(self, unveils: tuple[UnveilRule, ...], locking: bool) -> Gaps:
        gaps: Gaps = _unveil().gaps(unveils, locking, self._threads(), promises=self._promises())
        return gaps

    def unveil_gaps_for_pledge(self, request: PledgeRequest,
                               unveils: tuple[UnveilRule, ...]) -> Gaps:
        gaps: Gaps = _unveil().gaps(unveils, True, self._threads(), promises=request.new)
        return gaps

    def add_unveil(self, rule: UnveilRule) -> None:
        return None  # Landlock rules are built together at the lock

    def set_violation_messages(self, enabled: bool) -> None:
        """Turn the one-line violation message on stderr on or off."""
        native.set_quiet(not enabled)

    def lock_unveil(self, unveils: tuple[UnveilRule, ...], *, then_exec: bool = False,
                    never_exec: bool = False, promises: frozenset[str] | None = None) -> None:
        held = self._promises()
        no_wrappers = then_exec or never_exec  # no exec of this process's own to prepare
        # resolving the rules needs stat() and readlink(): without rpath or wpath (held
        # under "unveil" alone) the answer is unsure, so False (prepare() ran at the
        # pledge that holds exec, and returns at once)
        looks = held is None or bool(held & {"rpath", "wpath"})
        if unveils and (held is None or "exec" in held) and kernel.unavailable() is None \
                and not no_wrappers and not (looks and _keeps_wrappers_loadable(unveils)):
            # A later pledge may set execpromises; its wrappers (and the explainer,
            # which reads /proc) cannot be loaded once the rules hide their files.
            # Rules that keep them readable leave that to the pledge that holds exec.
            # subprocess is not imported for the program (wrap.prepare).
            self._wrap().prepare(subprocess=False)
        if unveils and abi.current().available:
            self._reach_of(unveils, held, True)  # judged before the rules hide /proc
            if held is None or "rpath" in held:  # else kept by the pledge (or unreadable)
                maps.keep_open()  # a later pledge still sees what is mapped
        # never imported here: only a pledge holding exec starts (and loads) it, and
        # under a pledge without prot_exec it may no longer be loadable
        spawner = sys.modules.get(__name__ + ".exec.spawner")
        if unveils and spawner is not None and spawner.active() \
                and spawner.children() is not None:
            try:  # exec'd programs: the rules in force from now on
                self._spawner_rules(unveils, spawner.children() or frozenset())
            except OSError as exc:
                spawner.stop(f"the spawner refused the unveil rules: {exc.strerror}")
        # the path allowances reaching through the rules: those of the promises held, or
        # of the ones the worker's filter will hold (held is None there: not pledged)
        _unveil().commit(unveils, promises=held if promises is None else promises)
        if (held is None or "exec" in held) and not no_wrappers:
            self._unveil_locked = True  # exec'd programs are told (exec/hint.py)
            if _WRAP in sys.modules:
                self._wrap()
        if unveils and abi.current().available:
            domain.entered()
            self._in_domain = True

    def _wrap(self) -> ModuleType:
        """exec/wrap.py, told of a lock it was not loaded for (it costs start-up time:
        only a pledge that can exec loads it)."""
        from .exec import wrap

        if self._unveil_locked:
            wrap.lock_unveil()
        return wrap

    def lock_unveil_then_exec(self, unveils: tuple[UnveilRule, ...]) -> None:
        # no exec wrappers (subprocess, the explainer's fork): the caller execs at once,
        # under a filter of the supervisor's
        self.lock_unveil(unveils, then_exec=True)

    def lock_unveil_never_exec(self, unveils: tuple[UnveilRule, ...],
                               promises: frozenset[str] | None = None) -> None:
        # a worker: the filter it installs next has no exec, so neither wrappers (their
        # probe fork) nor the hint for exec'd programs can ever be used; its dns, getpw
        # or tmppath files reach through its rules as the promises it will hold say
        self.lock_unveil(unveils, never_exec=True, promises=promises)

    def preload(self) -> None:
        from . import threads
        from .exec import wrap  # noqa: F401
        _unveil()
        # /proc/self/task, held open: the lock's judgement counts threads through it, and
        # a chroot hides /proc (without it every -c run "has other threads running")
        threads.count()

    def import_noter(self) -> Callable[[str | None], None] | None:
        return native.set_importing if native.load() is not None else None

    def inherited(self) -> Inherited | None:
        """Adopt the hint of an exec'd program (exec/hint.py), enforcing it first.

        Read only when the kernel says filters are in force that pledgepy did not
        install here; without a hint nothing is adopted (status() says so).
        """
        if kernel.unavailable() is not None or not kernel.inherited():
            return None
        import os

        from .exec import hint

        got = hint.decode(os.environ.get(hint.NAME))
        if got is None:
            return None
        promises, locked, handler = got
        try:
            if handler and native.available():
                # the spawner's children may: their own narrowings are then explained
                kernel.adopt_handler(promises)
            plan = build(promises, kernel.arch() or "x86_64")
            kernel.prepare()
            kernel.apply(plan, None)  # what status() reports is in force, whatever the hint
        except (OSError, ImportError):
            return None  # cannot enforce it (e.g. seccomp answers ENOSYS): do not believe it
        self._plan = plan
        if "exec" in promises:
            wrap = self._wrap()

            wrap.prepare()
            wrap.arm(None, plan, plan.arch)
            if locked:
                wrap.lock_unveil()
        how = ("violations of this process's own pledges are explained by pledgepy's "
               "SIGSYS handler" if kernel.has_handler() else
               "without pledgepy's SIGSYS handler (the inherited filters may refuse "
               "installing one) violations kill without a message")
        return Inherited(promises, locked, (
            "promises inherited from the program that exec'd this one (its execpromises), "
            "as its environment said and now enforced by a filter of this process too; "
            + how,))

    def spawned_promises(self) -> frozenset[str] | None:
        import sys

        # never imported here: without exec it was not loaded, and may not be loadable now
        spawner = sys.modules.get(__name__ + ".exec.spawner")
        return spawner.children() if spawner is not None else None

    def exec_supervisor(self) -> ExecSupervisor | None:
        if kernel.unavailable() is not None or not kernel.has_handler():
            return None
        from .exec.supervise import Supervisor

        return Supervisor()

    def process_calls(self) -> ProcessCalls | None:
        return native.process_calls()

    def worker_supervisor(self) -> WorkerSupervisor | None:
        if kernel.unavailable() is not None or not kernel.has_handler():
            return None
        from .exec.worker import WorkerSupervisor as Linux

        return Linux()

    def exec_recorder(self) -> ExecRecorder | None:
        if kernel.unavailable() is not None or not kernel.has_handler():
            return None  # the listener needs the native module
        from .exec.record import Recorder

        return Recorder()


__all__ = ["LinuxBackend"]
