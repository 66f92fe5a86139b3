"""Limits and WorkerStatus: immutable values that copy and pickle (one shared base)."""

from __future__ import annotations

import copy
import pickle

import pytest

from pledgepy.worker.limits import Limits
from pledgepy.worker.status import WorkerStatus

VALUES = [Limits(memory=1 << 30, cpu=0.5, files=16),
          WorkerStatus(True, 42, "stdio", (("/tmp", "r"),), ("files=16",), (), (), "parent",
                       ("a gap",), "fork")]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_copies_and_pickles_are_equal_values(value: object) -> None:
    # the default reduction set each slot again, which __setattr__ refuses
    for again in (copy.copy(value), copy.deepcopy(value),
                  pickle.loads(pickle.dumps(value))):
        assert again == value and hash(again) == hash(value) and type(again) is type(value)
        assert repr(again) == repr(value)


@pytest.mark.parametrize(("value", "noun"), [(VALUES[0], "Limits are"),
                                             (VALUES[1], "a WorkerStatus is")])
def test_immutable_and_by_value(value: Limits | WorkerStatus, noun: str) -> None:
    field = type(value).__slots__[1]
    with pytest.raises(AttributeError, match=f"^{noun} immutable: cannot set {field}$"):
        setattr(value, field, None)
    with pytest.raises(AttributeError, match=f"^{noun} immutable: cannot delete {field}$"):
        delattr(value, field)
    assert not hasattr(value, "__dict__")
    assert value != VALUES[1 - VALUES.index(value)] and value != tuple(value._values())


def test_limits_pickle_through_their_checked_constructor() -> None:
    assert pickle.loads(pickle.dumps(Limits(cpu=1.5))) == Limits(cpu=1.5)
    assert repr(Limits(files=3)) == "Limits(memory=None, cpu=None, files=3, fsize=None, nproc=None)"
    with pytest.raises(ValueError, match="Limits.files must be an int"):
        Limits(files=1.5)  # type: ignore[arg-type]
