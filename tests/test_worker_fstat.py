"""fstat(fd) in a "stdio" worker: glibc spells it newfstatat(fd, "", buf, AT_EMPTY_PATH),
which the worker's parent answers (the call itself never runs); path forms stay
violations, and the answer honours the worker's page protections."""

from __future__ import annotations

import errno
import os
import stat
import sys

import pytest

import pledgepy

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux workers")
MOD = "tests.programs.worker_fstat"


@pytest.mark.parametrize("user", [None, 65534])
def test_fstat_works_in_a_stdio_worker(user: int | None) -> None:
    with pledgepy.Worker(MOD, promises="stdio", user=user) as w:
        mode, ino, dev, _ = w.call("fstat", 0)  # stdin is /dev/null
        null = os.stat("/dev/null")
        assert stat.S_ISCHR(mode) and (ino, dev) == (null.st_ino, null.st_dev)
        assert w.call("stdout_is_a_file") is True
        assert w.stats.violations == 0 and w.stats.failures == 0


def test_fstat_of_a_closed_descriptor_is_ebadf() -> None:
    with pledgepy.Worker(MOD, promises="stdio") as w:
        with pytest.raises(pledgepy.RemoteError, match="Bad file descriptor"):
            w.call("fstat", 77)
        assert w.call("fstat", 0)[0] & 0o170000 == stat.S_IFCHR


def test_a_path_with_the_empty_path_flag_is_still_a_violation() -> None:
    with pledgepy.Worker(MOD, promises="stdio") as w:
        with pytest.raises(pledgepy.WorkerViolation, match="newfstatat"):
            w.call("path_with_empty_flag", "/etc/passwd")


def test_the_answer_is_not_written_into_read_only_memory() -> None:
    with pledgepy.Worker(MOD, promises="stdio") as w:
        assert w.call("fstat_into_readonly", 0) == -errno.EFAULT
