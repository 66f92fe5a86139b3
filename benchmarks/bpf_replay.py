"""BPF instructions the kernel executes per syscall under the filters pledgepy installs.

Deterministic: the filters are read back from the kernel of a pledged child
(``PTRACE_SECCOMP_GET_FILTER``, root only), so what is counted is exactly what is
installed, whatever pledgepy version is importable.  Each filter is then replayed by a
classic-BPF interpreter on a ``struct seccomp_data`` holding representative arguments,
as the kernel runs them: every filter of the stack, newest first, each to its RET, the
strictest verdict winning.  A syscall that the kernel's action cache serves (every
filter returns ALLOW knowing only ``nr`` and ``arch``, see seccomp_cache.py) runs no
instruction at all.

    python3 benchmarks/bpf_replay.py [--peers] [--markdown]

``--peers`` also replays libseccomp's filters of the same policy (peer_filters.py).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import struct
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import seccomp_cache  # noqa: E402

Insn = tuple[int, int, int, int]  # code, jt, jf, k

# x86_64 numbers of the syscalls replayed (arch/x86/entry/syscalls/syscall_64.tbl).
NR = {"read": 0, "write": 1, "close": 3, "mmap": 9, "mprotect": 10, "munmap": 11,
      "ioctl": 16, "getppid": 110, "socket": 41, "fcntl": 72, "openat": 257,
      "newfstatat": 262}
AT_FDCWD = -100
O_WRONLY, O_CREAT, O_CLOEXEC = 0o1, 0o100, 0o2000000
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_PRIVATE, MAP_ANONYMOUS, MAP_DENYWRITE = 0x02, 0x20, 0x800
TCGETS, FIONREAD = 0x5401, 0x541B
AF_UNIX, AF_INET, SOCK_STREAM, SOCK_CLOEXEC = 1, 2, 1, 0o2000000
F_GETFL, AT_EMPTY_PATH = 3, 0x1000
PTR, IP = 0x7FFD12345000, 0x7F1234567890  # a stack pointer; a libc call site

#: (label, syscall, args): what glibc and CPython pass in the common cases.
CALLS: list[tuple[str, str, tuple[int, ...]]] = [
    ("openat O_RDONLY", "openat", (AT_FDCWD, PTR, O_CLOEXEC, 0)),
    ("openat O_WRONLY|O_CREAT", "openat", (AT_FDCWD, PTR, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)),
    ("mmap PROT_READ (file)", "mmap", (0, 8192, PROT_READ, MAP_PRIVATE | MAP_DENYWRITE, 3, 0)),
    ("mmap PROT_READ|PROT_WRITE (anon)", "mmap",
     (0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)),
    ("mmap PROT_READ|PROT_EXEC", "mmap",
     (0, 8192, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_DENYWRITE, 3, 0)),
    ("mprotect PROT_READ", "mprotect", (PTR, 4096, PROT_READ)),
    ("ioctl TCGETS", "ioctl", (0, TCGETS, PTR)),
    ("ioctl FIONREAD", "ioctl", (3, FIONREAD, PTR)),
    ("fcntl F_GETFL", "fcntl", (3, F_GETFL, 0)),
    ("socket AF_INET", "socket", (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)),
    ("socket AF_UNIX", "socket", (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)),
    ("newfstatat AT_EMPTY_PATH", "newfstatat", (3, PTR, PTR, AT_EMPTY_PATH)),
    ("getppid", "getppid", ()),
    ("read", "read", (3, PTR, 4096)),
    ("write", "write", (1, PTR, 64)),
    ("close", "close", (3,)),
]

FIRST = "stdio rpath wpath cpath dpath fattr flock inet unix dns tty proc".split()
CHAIN = [" ".join(FIRST[: len(FIRST) - i]) for i in range(len(FIRST) - 1)]  # 12 ... 2 promises

#: name -> Python run in the child before it stops to be read (pledgepy is imported).
SCENARIOS = {
    "single": 'pledgepy.pledge("stdio rpath")',
    "narrowed": f"for p in {CHAIN!r}: pledgepy.pledge(p)",
    "unveil": ('pledgepy.unveil("/usr", "r"); pledgepy.unveil("/tmp", "rwc"); '
               'pledgepy.unveil(None, None); pledgepy.pledge("stdio rpath")'),
}
TITLES = {"single": 'pledge("stdio rpath")',
          "narrowed": '12 promises, 10 narrowings to "stdio rpath"',
          "unveil": 'unveil /usr r, /tmp rwc, lock; pledge("stdio rpath")',
          "command": 'the program of `pledge -p "stdio rpath" sleep 60` (the command '
                     'adds prot_exec for a dynamic program\'s loader; violations go to its '
                     'supervisor: USER_NOTIF)'}

# --- classic BPF, as the kernel's seccomp runs it -------------------------------------------

BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = range(8)
RET_ACTION_FULL = 0xFFFF0000
ACTIONS = {0x80000000: "KILL_PROCESS", 0x00000000: "KILL_THREAD", 0x00030000: "TRAP",
           0x00050000: "ERRNO", 0x7FC00000: "USER_NOTIF", 0x7FF00000: "TRACE",
           0x7FFC0000: "LOG", 0x7FFF0000: "ALLOW"}
M32 = 0xFFFFFFFF


def seccomp_data(nr: int, args: tuple[int, ...], arch: int = seccomp_cache.AUDIT_ARCH_X86_64,
                 ip: int = IP) -> bytes:
    """struct seccomp_data { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }."""
    full = [a & 0xFFFFFFFFFFFFFFFF for a in args] + [0] * (6 - len(args))
    return struct.pack("<iIQ6Q", nr, arch, ip, *full)


def _alu(op: int, a: int, v: int) -> int:
    table = {0x00: a + v, 0x10: a - v, 0x20: a * v, 0x40: a | v, 0x50: a & v,
             0x60: a << v if v < 32 else 0, 0x70: a >> v if v < 32 else 0, 0x80: -a,
             0xA0: a ^ v}
    if op in (0x30, 0x90):
        return (a // v if op == 0x30 else a % v) if v else 0
    return table[op] & M32


def _jump(op: int, a: int, v: int) -> bool:
    return {0x10: a == v, 0x20: a > v, 0x30: a >= v, 0x40: bool(a & v)}[op]


def run(insns: list[Insn], data: bytes) -> tuple[int, int]:
    """Run one filter on *data*: (return value, instructions executed, the RET included)."""
    a = x = 0
    mem = [0] * 16
    pc = steps = 0
    while True:
        code, jt, jf, k = insns[pc]
        steps += 1
        cls, src = code & 7, code & 0x08
        if cls == BPF_LD:
            mode = code & 0xE0
            a = (struct.unpack_from("<I", data, k)[0] if mode == 0x20 else
                 len(data) if mode == 0x80 else k if mode == 0x00 else mem[k])
        elif cls == BPF_LDX:
            x = len(data) if code & 0xE0 == 0x80 else k if code & 0xE0 == 0x00 else mem[k]
        elif cls == BPF_ST:
            mem[k] = a
        elif cls == BPF_STX:
            mem[k] = x
        elif cls == BPF_ALU:
            a = _alu(code & 0xF0, a, x if src else k)
        elif cls == BPF_JMP:
            op = code & 0xF0
            if op == 0x00:
                pc += k
            else:
                pc += jt if _jump(op, a, x if src else k) else jf
        elif cls == BPF_RET:
            return (a if code & 0x18 == 0x10 else k), steps
        elif cls == BPF_MISC:
            a, x = (x, x) if code & 0xF8 == 0x80 else (a, a)  # TXA : TAX
        pc += 1


def _strictness(ret: int) -> int:
    """The kernel compares actions as signed 32-bit values: lower is stricter."""
    action = ret & RET_ACTION_FULL
    return action - (1 << 32) if action & 0x80000000 else action


def replay(filters: list[bytes], nr: int, args: tuple[int, ...]) -> tuple[int, str, bool]:
    """(instructions over the whole stack, verdict, served by the kernel's cache)."""
    decoded = [seccomp_cache.decode(f) for f in filters]
    if all(seccomp_cache.const_allow(d, nr) for d in decoded):
        return 0, "ALLOW", True
    data = seccomp_data(nr, args)
    total, verdict = 0, 0x7FFF0000
    for d in reversed(decoded):  # newest first: of equally strict verdicts the newest wins
        ret, steps = run(d, data)
        total += steps
        if _strictness(ret) < _strictness(verdict):
            verdict = ret
    name = ACTIONS.get(verdict & RET_ACTION_FULL, hex(verdict))
    if name == "ERRNO":
        name = f"ERRNO({verdict & 0xFFFF})"
    return total, name, False


# --- reading the installed filters back -----------------------------------------------------

PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SECCOMP_GET_FILTER = 16, 17, 0x420C


def read_filters(pid: int) -> list[bytes]:
    """The seccomp filters of *pid*, oldest first (root; the process is stopped meanwhile)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
        raise OSError(ctypes.get_errno(), "PTRACE_ATTACH")
    try:
        os.waitpid(pid, 0)
        out: list[bytes] = []
        while True:
            n = libc.ptrace(PTRACE_SECCOMP_GET_FILTER, pid, len(out), None)
            if n < 0:
                err = ctypes.get_errno()
                if err == 2 or (err == 22 and not out):  # ENOENT: no filter at that
                    break  # index; EINVAL at the first: the process has no filter at all
                raise OSError(err, f"PTRACE_SECCOMP_GET_FILTER: {os.strerror(err)}")
            buf = ctypes.create_string_buffer(n * 8)
            libc.ptrace(PTRACE_SECCOMP_GET_FILTER, pid, len(out), buf)
            out.append(buf.raw)
        return out  # index 0 is the oldest (kernel/seccomp.c: get_nth_filter)
    finally:
        libc.ptrace(PTRACE_DETACH, pid, None, None)


CHILD = """
import os, sys, warnings
warnings.simplefilter("ignore")
import pledgepy
{code}
sys.stdout.write("ready\\n"); sys.stdout.flush()
os.read(0, 1)
"""


def filters_of(code: str, python: str = sys.executable) -> list[bytes]:
    """Run *code* in a fresh interpreter, then read its filter stack from the kernel."""
    with subprocess.Popen([python, "-c", CHILD.format(code=code)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, cwd=ROOT) as child:
        assert child.stdout is not None and child.stdin is not None
        line = child.stdout.readline()
        if line != b"ready\n":
            child.kill()
            raise RuntimeError(f"child did not get ready ({code!r}): {line!r}")
        try:
            return read_filters(child.pid)
        finally:
            child.stdin.close()


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                out += kids
                todo += kids
        except OSError:
            continue
    return out


def command_filters(promises: str = "stdio rpath", timeout: float = 20.0) -> list[bytes]:
    """The filter stack of a program the pledge command runs (``pledge -p ... sleep``)."""
    import time
    sleep = next((p for p in ("/bin/sleep", "/usr/bin/sleep") if os.path.exists(p)), "sleep")
    with subprocess.Popen([sys.executable, "-m", "pledgepy", "-q", "-p", promises, sleep,
                           "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          cwd=ROOT) as cli:
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for pid in _descendants(cli.pid):
                    try:
                        with open(f"/proc/{pid}/comm") as f:
                            if f.read().strip() == "sleep":
                                return read_filters(pid)
                    except OSError:
                        continue
                time.sleep(0.05)
            raise RuntimeError("the pledge command's program did not start")
        finally:
            cli.kill()
            for pid in _descendants(cli.pid):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass


# --- report ---------------------------------------------------------------------------------

ARG_TARGET = 24


def table(stacks: dict[str, list[bytes]]) -> list[str]:
    """A markdown table: per call, instructions (verdict) under each stack."""
    names = list(stacks)
    lines = ["| call | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, sc, args in CALLS:
        cells = []
        for n in names:
            count, verdict, cached = replay(stacks[n], NR[sc], args)
            cells.append("0 (cached)" if cached else f"{count} ({verdict})")
        lines.append(f"| {label.replace('|', chr(92) + '|')} | " + " | ".join(cells) + " |")
    sizes = " | ".join(f"{len(s)}: " + "+".join(str(len(f) // 8) for f in s)
                       for s in stacks.values())
    lines.append(f"| *filters: instructions each, oldest first* | {sizes} |")
    return lines


def verdicts(stacks: dict[str, list[bytes]]) -> list[str]:
    """The issue's targets, judged on the allowed, argument-checked calls."""
    def worst(name: str) -> tuple[int, str]:
        counted = [(replay(stacks[name], NR[sc], a)[0], label) for label, sc, a in CALLS
                   if not replay(stacks[name], NR[sc], a)[2]]
        return max(counted) if counted else (0, "-")
    out = []
    single, where = worst("single")
    word = "met" if single <= ARG_TARGET else "MISSED"
    out.append(f"- **{word}** — ≤ {ARG_TARGET} instructions on any argument-checked (uncached) "
               f"call under a single pledge: worst {single} ({where})")
    narrowed, where = worst("narrowed")
    word = "met" if narrowed <= 2 * ARG_TARGET else "MISSED"
    out.append(f"- **{word}** — after 10 narrowings ≤ 2× that (2 × {ARG_TARGET} = "
               f"{2 * ARG_TARGET}; 2× the single pledge's worst: {2 * single}): worst "
               f"{narrowed} ({where}), over {len(stacks['narrowed'])} stacked filters")
    return out


def per_filter(stack: list[bytes]) -> list[str]:
    """For the uncached calls: instructions in each filter of *stack*, oldest first."""
    out = []
    for label, sc, args in CALLS:
        if replay(stack, NR[sc], args)[2]:
            continue
        data = seccomp_data(NR[sc], args)
        steps = [run(seccomp_cache.decode(f), data)[1] for f in stack]
        out.append(f"{label} {'+'.join(map(str, steps))}")
    return out


def collect(peers: bool) -> dict[str, list[bytes]]:
    stacks = {n: filters_of(code) for n, code in SCENARIOS.items()}
    stacks["command"] = command_filters()
    if peers:
        import peer_filters
        stacks.update(peer_filters.programs())
    return stacks


def markdown(stacks: dict[str, list[bytes]]) -> list[str]:
    legend = "; ".join(f"**{n}**: {TITLES.get(n, n)}" for n in stacks if n in TITLES)
    return [
        "Instructions executed per call, summed over every filter of the stack as the kernel "
        "runs them (the verdict in brackets; `0 (cached)`: the kernel's action cache allows "
        "the call without running any filter). pledgepy's filters are read back from the "
        f"kernel of a pledged child. {legend}.", "", *table(stacks), "",
        *verdicts(stacks), "",
        "Per filter of the narrowed stack (oldest first): "
        + "; ".join(per_filter(stacks["narrowed"])).replace("|", "\\|") + "."]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", action="store_true", help="also libseccomp's filters")
    args = parser.parse_args()
    seccomp_cache._selfcheck()
    _selfcheck()
    print("\n".join(markdown(collect(args.peers))))
    return 0


def _selfcheck() -> None:
    """The interpreter agrees with hand-counted programs."""
    p = struct.pack
    prog = (p("<HBBI", 0x20, 0, 0, 16) + p("<HBBI", 0x15, 0, 1, 7)      # ld arg0; jeq 7
            + p("<HBBI", 0x06, 0, 0, 0x7FFF0000) + p("<HBBI", 0x06, 0, 0, 0x00030000))
    d = seccomp_cache.decode(prog)
    assert run(d, seccomp_data(1, (7,))) == (0x7FFF0000, 3)
    assert run(d, seccomp_data(1, (8,))) == (0x00030000, 3)
    assert replay([prog, prog], 1, (8,)) == (6, "TRAP", False)


if __name__ == "__main__":
    sys.exit(main())
