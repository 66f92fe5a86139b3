"""A thread with a seccomp filter of its own cannot join the process-wide filter (TSYNC)."""

import errno
import linecache
import struct
import sys
import threading

import pledgepy
from pledgepy.backends.linux.seccomp import kernel

ALLOW_ALL = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)  # BPF_RET|BPF_K SECCOMP_RET_ALLOW


def pledge_with_a_loner_thread() -> None:
    """pledge() must fail (EBUSY) and leave the process exactly as it was."""
    pledgepy.api.backend()
    ready, done = threading.Event(), threading.Event()

    def loner() -> None:
        kernel.install(ALLOW_ALL, all_threads=False)
        ready.set()
        done.wait()

    t = threading.Thread(target=loner)
    t.start()
    ready.wait()
    try:
        pledgepy.pledge("stdio")
    except OSError as e:
        print("refused", errno.errorcode.get(e.errno or 0), flush=True)
    print(pledgepy.status().promises, flush=True)
    with open("/etc/hostname") as f:
        f.read()
    assert sys.excepthook is sys.__excepthook__
    assert threading.excepthook is threading.__excepthook__
    assert linecache.checkcache.__module__ == "linecache"
    print("unchanged", flush=True)
    done.set()
    t.join()
