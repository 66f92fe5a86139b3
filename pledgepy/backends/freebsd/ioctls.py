"""FreeBSD ioctl command numbers kept on limited fds (never Linux's values).

Computed with FreeBSD's ``_IO``/``_IOR``/``_IOW`` encoding from
``sys/sys/ioccom.h``, ``sys/sys/filio.h`` and ``sys/sys/ttycom.h``
(``struct termios`` is 44 bytes, ``struct winsize`` 8). Verify on the target
with ``python -m pledgepy.selftest``.
"""

from __future__ import annotations

IOC_VOID = 0x20000000
IOC_OUT = 0x40000000
IOC_IN = 0x80000000
_TERMIOS = 44
_WINSIZE = 8
_INT = 4


def _ioc(inout: int, group: str, num: int, size: int) -> int:
    return inout | ((size & 0x1FFF) << 16) | (ord(group) << 8) | num


def IO(group: str, num: int) -> int:  # noqa: N802 - the C macro's name
    """``_IO(g, n)``."""
    return _ioc(IOC_VOID, group, num, 0)


def IOR(group: str, num: int, size: int) -> int:  # noqa: N802
    """``_IOR(g, n, size)``."""
    return _ioc(IOC_OUT, group, num, size)


def IOW(group: str, num: int, size: int) -> int:  # noqa: N802
    """``_IOW(g, n, size)``."""
    return _ioc(IOC_IN, group, num, size)


#: Kept on every stdio fd: what OpenBSD's stdio allows plus isatty()/window size.
BASE_IOCTLS: dict[str, int] = {
    "FIOCLEX": IO("f", 1),
    "FIONCLEX": IO("f", 2),
    "FIONBIO": IOW("f", 126, _INT),
    "FIONREAD": IOR("f", 127, _INT),
    "TIOCGETA": IOR("t", 19, _TERMIOS),
    "TIOCGWINSZ": IOR("t", 104, _WINSIZE),
}

#: Added with the ``tty`` promise.
TTY_IOCTLS: dict[str, int] = {
    "TIOCSETA": IOW("t", 20, _TERMIOS),
    "TIOCSETAW": IOW("t", 21, _TERMIOS),
    "TIOCSETAF": IOW("t", 22, _TERMIOS),
    "TIOCSWINSZ": IOW("t", 103, _WINSIZE),
    "TIOCGPGRP": IOR("t", 119, _INT),
    "TIOCFLUSH": IOW("t", 16, _INT),
    "TIOCDRAIN": IO("t", 94),
    "TIOCSBRK": IO("t", 123),
    "TIOCCBRK": IO("t", 122),
}
