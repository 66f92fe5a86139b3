"""A stand-in for the native launcher's side of the hand-over (launcher/PROTOCOL.md), made of
the Python command's own functions: it forks PROG under the command's opening filter with
a listener, serves the start-up phase as the launcher does (shim._Opening), and at the
point SPEC names execs the takeover with the state it reached.

    python takeover_harness.py SPEC_JSON

SPEC: held, after (promises), shim (bool), argv (PROG and its arguments), args (the
command's ARGS for the takeover), hand: "exec" (hand over the notification after the
command's execve of PROG, unanswered), "unanswered" (the first the phase does not
answer), "end" (PROG's end, reaped: status); err (bool: pass outlet.reopen(2));
override (STATE items replaced: a launcher gone wrong); record (a file to write STATE to).
Exit 99: the harness itself went wrong.
"""

import json
import os
import select
import shutil
import sys
import time

from pledgepy import outlet
from pledgepy.backends.linux import native
from pledgepy.backends.linux.exec import shim as start
from pledgepy.backends.linux.exec import supervise
from pledgepy.promises import bits


def fail(pid: int) -> None:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    sys.exit(99)


def main() -> None:
    spec = json.loads(sys.argv[1])
    held, after = frozenset(spec["held"]), frozenset(spec["after"])
    env = dict(os.environ)
    shim = start.library() if spec["shim"] else None
    if shim is not None:
        env = start.environment(shim, env, ())
    path = shutil.which(spec["argv"][0])
    assert path is not None
    told_r, told_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(told_r)
            os.close(go_w)
            listener = supervise.confine(held, after=after)
            os.write(told_w, b"%d" % listener)
            os.read(go_r, 1)
            os.execve(path, spec["argv"], env)
        finally:
            os._exit(127)
    os.close(told_w)
    os.close(go_r)
    fd = supervise.told_listener(pid, told_r)
    assert fd is not None
    listener = supervise.take_listener(pid, fd)
    who = start.identity_of(pid)
    phase = start._Opening(pid, os.path.basename(path), shim, held, who, {})
    os.write(go_w, b"x")
    lib, ffi = native.lib(), native.ffi()
    nr, args = ffi.new("int32_t *"), ffi.new("uint64_t[6]")
    ident, tid = ffi.new("uint64_t *"), ffi.new("uint32_t *")
    state = {"listener": listener, "pid": pid, "held": f"{bits(held):x}",
             "after": f"{bits(after):x}", "shim": int(shim is not None)}
    poller = select.poll()
    poller.register(listener, select.POLLIN)
    while True:
        events = poller.poll(10_000)
        if not events:
            fail(pid)
        if not any(ev & select.POLLIN for _, ev in events):  # nobody left under the filter
            if spec["hand"] != "end":
                fail(pid)
            _, status, usage = os.wait4(pid, 0)
            state.update(status=status,
                         cpu_us=int((usage.ru_utime + usage.ru_stime) * 1e6))
            break
        if lib.pp_notif_recv(listener, nr, args, ident, tid) < 0:
            fail(pid)
        values = tuple(int(args[i]) for i in range(6))
        if not (spec["hand"] == "exec" and phase.execed):
            if phase.intercept(listener, nr[0], values, ident[0], tid[0]):
                continue
            if spec["hand"] == "end":
                fail(pid)
        state["notif"] = ":".join(f"{v:x}" for v in (ident[0], tid[0], nr[0], *values))
        break
    left = max(0, int((phase.deadline - time.monotonic()) * 1000)) \
        if phase.deadline != float("inf") else 0
    state.update(execed=int(phase.execed), opening=int(phase.opening), seen=int(phase.seen),
                 uid=who.uid, gids=":".join(map(str, who.gids)))
    if phase.opening:
        state["deadline_ms"] = left
    err = outlet.reopen(2) if spec["err"] else -1
    state["err"] = err
    for key, value in spec.get("override", {}).items():  # a launcher gone wrong
        state[key] = value
    text = ",".join(f"{k}={v}" for k, v in state.items())
    if spec.get("record"):
        with open(spec["record"], "w") as f:
            f.write(text)
    os.set_inheritable(listener, True)
    if err >= 0:
        os.set_inheritable(err, True)
    os.execv(sys.executable, [sys.executable, "-I", "-c",
                              "from pledgepy.command.takeover import main; main()",
                              text, "--",
                              *spec["args"]])


if __name__ == "__main__":
    main()
