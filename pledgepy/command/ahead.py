"""Reading ahead: what the command's child will need from the file system, read in a fork
while the parent loads the backend.

The parent's backend load (~8 ms) and the child's file reading (the default unveil's
discovery: ELF closure, loader cache, ~1.1 ms; the NSS modules the start-up shim loads,
~1.2 ms) need nothing of each other, yet ran one after the other. A helper forked before
the load (a small process: no backend yet) does the reading on the other CPU and sends
the results up a pipe; the parent collects them once loaded and the child it forks then
reads nothing again. The helper changes nothing and runs no program: a program whose
discovery would ask a script host (a query the helper would run with no backend) is
left to the child, as is anything under ``-c`` (its paths are the new root's).

Any failure of the helper (an exception, a garbled or missing answer) is not an answer:
the child then discovers and the parent lists the modules as before, and whatever
failed there fails again in its place, with its message.
"""

from __future__ import annotations

import os

from . import discover, hosts, loader

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from .run import Job

#: Promises under which glibc may dlopen an NSS module after main (cli._after_loader).
NSS_PROMISES = frozenset({"rpath", "dns", "getpw"})


class Read:
    """What the helper read: the default unveil for the promises *held* (None when not
    discovered), and the NSS modules (None when not listed)."""

    __slots__ = ("held", "plan", "nss")

    def __init__(self, held: frozenset[str] | None, plan: discover.Plan | None,
                 nss: list[str] | None) -> None:
        self.held = held
        self.plan = plan
        self.nss = nss

    def plan_for(self, held: frozenset[str]) -> discover.Plan | None:
        """The plan when it was made for exactly *held*, else None (discover again)."""
        return self.plan if self.held == held else None


def held_likely(job: Job, asked: frozenset[str]) -> frozenset[str]:
    """What PROG will most likely hold once started (run._unveil's *held*) when the
    backend gives a supervisor: exec only when asked or when PROG executes another
    program (env, nice), which takes no start-up shim (cli._after_loader)."""
    if "exec" in asked or loader.executes(job.path, job.argv):
        return job.promises
    return job.promises - {"exec"}


def _wanted(job: Job, asked: frozenset[str], no_unveil: bool,
            chroot: str | None) -> tuple[bool, bool]:
    """(discover, list NSS modules): what is worth reading ahead for this run."""
    loaders = job.promises - asked - {"exec"}
    # as cli._after_loader lists them: for the shim, which a program that keeps the
    # loader's promises (loader.keeps says why) does not get
    nss = bool(loaders) and bool(asked & NSS_PROMISES) and "prot_exec" not in asked \
        and chroot is None and loader.keeps(job.path, job.argv, asked, chroot) is None
    plan = not no_unveil and chroot is None
    if plan:
        try:
            links = discover.chain(job.path, job.argv)
        except OSError:  # a broken #! line (ProgramError): the child's discovery says it
            links = []
            plan = False
        plan = plan and not any(hosts.find(file) is not None for file, _ in links)
    return plan, nss


def encode(read: Read) -> bytes:
    """*read* as bytes for the pipe (:func:`decode`)."""
    rules = read.plan.rules if read.plan is not None else ()
    notes = read.plan.notes if read.plan is not None else ()
    head = b"%d %d %d %d %d\n" % (
        read.plan is not None, read.plan is not None and read.plan.dynamic, len(rules),
        len(notes), -1 if read.nss is None else len(read.nss))
    fields = [" ".join(sorted(read.held or ())).encode(),
              *(os.fsencode(part) for rule in rules for part in rule),
              *(note.encode("utf-8", "surrogateescape") for note in notes),
              *(os.fsencode(p) for p in read.nss or ())]
    return head + b"\0".join(fields)


def decode(data: bytes) -> Read:
    """The :class:`Read` *data* holds; ValueError for anything else."""
    head, sep, body = data.partition(b"\n")
    numbers = [int(n) for n in head.split()] if sep else []
    if len(numbers) != 5 or min(numbers[:4]) < 0 or numbers[4] < -1:
        raise ValueError("the read-ahead's answer is garbled")
    planned, dynamic, nrules, nnotes, nnss = numbers
    fields = body.split(b"\0")
    if len(fields) != 1 + 2 * nrules + nnotes + max(nnss, 0):
        raise ValueError("the read-ahead's answer is garbled")
    held = frozenset(fields[0].decode().split())
    at = 1 + 2 * nrules
    rules = tuple((os.fsdecode(fields[i]), os.fsdecode(fields[i + 1])) for i in range(1, at, 2))
    notes = tuple(f.decode("utf-8", "surrogateescape") for f in fields[at:at + nnotes])
    nss = [os.fsdecode(f) for f in fields[at + nnotes:]] if nnss >= 0 else None
    plan = discover.Plan(rules, bool(dynamic), notes) if planned else None
    return Read(held if planned else None, plan, nss)


class Ahead:
    """The helper running: :meth:`collect` its answer."""

    __slots__ = ("pid", "fd")

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd

    def collect(self) -> Read | None:
        """Its answer (it has ended then), or None when it failed."""
        chunks: list[bytes] = []
        try:
            while True:
                got = os.read(self.fd, 65536)
                if not got:
                    break
                chunks.append(got)
        finally:
            os.close(self.fd)
            _, status = os.waitpid(self.pid, 0)
        if status != 0:
            return None
        try:
            return decode(b"".join(chunks))
        except ValueError:
            return None


def start(job: Job, asked: frozenset[str], no_unveil: bool, chroot: str | None) -> Ahead | None:
    """Fork the helper for *job*, or None when there is nothing worth reading ahead."""
    plan, nss = _wanted(job, asked, no_unveil, chroot)
    if not (plan or nss):
        return None
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (a fork child: its only way out is _exit)
        ok = False
        try:
            os.close(r)
            held = held_likely(job, asked) if plan else None
            read = Read(held, discover.plan(job.path, job.argv, held, who=job.identity)
                        if held is not None else None,
                        loader.nss_modules() if nss else None)
            data = memoryview(encode(read))
            while data:
                data = data[os.write(w, data):]
            ok = True
        finally:
            # no traceback of its own: the parent redoes the work where it fails loudly
            os._exit(0 if ok else 1)
    os.close(w)
    return Ahead(pid, r)
