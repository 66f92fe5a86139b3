"""The libmagic article's service, isolated: file types from python-magic, in a pledged worker.

    python examples/libmagic_worker.py FILE...

libmagic parses untrusted bytes in C. Here it runs in a worker that may only
compute ("stdio"): it loads its database in ``warm_up`` (before the pledge),
sees only the files it loaded, has a memory, CPU and file-size budget, and a
crash or exploit in it costs one call, not the service.
"""

from __future__ import annotations

import sys

import magic  # loaded again in the worker, which imports this file as its module

import pledgepy

HEAD = 2048  # libmagic looks at the start of a file


def warm_up() -> None:
    """Load the magic database while files can still be read."""
    magic.from_buffer(b"")


def identify(head: bytes) -> str:
    """libmagic's description of *head*."""
    return str(magic.from_buffer(head))


def main(paths: list[str]) -> int:
    worker = pledgepy.Worker(
        "__main__", promises="stdio", setup="__main__:warm_up",
        limits=pledgepy.Limits(memory=512 << 20, cpu=2.0, files=16, fsize=0), timeout=5.0)
    status = 0
    with worker:
        for path in paths:
            try:
                with open(path, "rb") as f:
                    head = f.read(HEAD)
                print(f"{path}: {worker.call('identify', head)}")
            except OSError as exc:
                print(f"{path}: {exc.strerror}", file=sys.stderr)
                status = 1
            except pledgepy.WorkerError as exc:  # the worker is restarted for the next file
                print(f"{path}: not identified: {exc}", file=sys.stderr)
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
