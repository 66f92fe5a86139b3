"""Python bytecodes each side of a worker runs per call(): a count, not a timing, so a
busy machine does not move it.

    python benchmarks/worker_bytecodes.py [--tree CHECKOUT] [--calls 200]

The parent's: call() on a real worker, traced with opcode events. The worker's:
its serve loop (pledgepy.worker.child.serve) run in a thread of this process over a
socketpair, fed the frames call() sends. *--tree*: count another checkout's code
(default: this one). The call is ``os.fsencode(b"x" * 16)`` (the benchmarks' echo).
"""

from __future__ import annotations

import argparse
import collections
import os
import socket
import sys
import threading
from types import FrameType
from typing import Any


def _tracer(counts: collections.Counter[str], tag: str) -> Any:
    def trace(frame: FrameType, event: str, arg: object) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            counts[tag] += 1
        return trace
    return trace


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                   ".."))
    ap.add_argument("--calls", type=int, default=200)
    opts = ap.parse_args()
    sys.path.insert(0, os.path.abspath(opts.tree))
    import pledgepy
    from pledgepy.worker import child, codec, frames

    assert pledgepy.__file__.startswith(os.path.abspath(opts.tree)), pledgepy.__file__
    counts: collections.Counter[str] = collections.Counter()
    payload = b"x" * 16
    for spin in (0.0, 0.0005):
        tag = f"parent, spin={spin:g}"
        with pledgepy.Worker("os", promises="stdio", spin=spin) as w:
            for _ in range(50):
                w.call("fsencode", payload)
            sys.settrace(_tracer(counts, tag))
            for _ in range(opts.calls):
                w.call("fsencode", payload)
            sys.settrace(None)
        ours, theirs = socket.socketpair()
        config = {"max_message": codec.MAX_MESSAGE, "limits": {}, "spin": spin}
        wtag = f"worker, spin={spin:g}"

        def serve(sock: socket.socket = theirs, config: dict[str, Any] = config,
                  wtag: str = wtag) -> None:
            sys.settrace(_tracer(counts, wtag))
            child.serve(sock, sys.modules["os"], config)

        thread = threading.Thread(target=serve)
        thread.start()
        reader = frames.FrameReader(ours, codec.MAX_MESSAGE)
        frame = codec.encode(["call", "fsencode", [payload], {}])
        for _ in range(opts.calls):
            ours.sendall(frame)
            reply = frames.MORE
            while reply is frames.MORE:
                reply = reader.read()
        ours.close()
        thread.join()
        theirs.close()
    print(f"Command: `python benchmarks/worker_bytecodes.py --calls {opts.calls}` "
          f"(pledgepy from {os.path.basename(os.path.abspath(opts.tree))}); Python "
          f"{sys.version.split()[0]}.\n")
    print("| side | bytecodes per call() |\n|---|---|")
    for tag, n in counts.items():
        print(f"| {tag} | {n / opts.calls:.0f} |")


if __name__ == "__main__":
    main()
