"""A learning program's pledge()/unveil() calls, reported to the recorder as checkpoints.

``pledgepy.pledge()`` and ``unveil()`` come here when ``PLEDGEPY_LEARN`` is set.
The call is sent as an execve() of a ``//pledgepy-learn/checkpoint/...`` path;
a learn-mode recorder refuses it with ``EOPNOTSUPP``, which a real execve of
that path never returns. Only that answer makes the caller skip enforcement:
with the variable set but no recorder (ENOENT, or killed by a pledge without
exec), pledge() and unveil() enforce as usual. Fail closed.
"""

from __future__ import annotations

import os

from ..backends.base import LEARN_ANSWER, LEARN_MARKER


def checkpoint(kind: str | None, promises: str | None = None, execpromises: str | None = None,
               path: str | None = None, permissions: str | None = None) -> bool:
    """Report one call; True when a recorder took it (then it must not be enforced)."""
    fields = [kind or "", *("\0" if a is None else a
                            for a in (promises, execpromises, path, permissions))]
    body = LEARN_MARKER + b"checkpoint/" + "\x1f".join(fields).encode(
        "utf-8", "surrogateescape").hex().encode()
    try:
        os.execve(body, [b"pledgepy-learn"], {})
    except OSError as exc:
        return exc.errno == LEARN_ANSWER
