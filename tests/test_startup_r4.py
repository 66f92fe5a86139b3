"""Start-up, second round: what import + first pledge load (never timings), and the
records that replaced namedtuple behave as the namedtuples did."""

from __future__ import annotations

import ast
import copy
import os
import pickle
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import _cffi_backend
import pytest

from pledgepy.backends.base import Checkpoint, Inherited, Observation, PledgeRequest, UnveilRule
from pledgepy.backends.linux import Domains
from pledgepy.backends.linux.landlock.abi import Features
from pledgepy.backends.linux.rules import Arg, Identity, Rule
from pledgepy.backends.linux.seccomp.plan import Action
from pledgepy.record import Record
from pledgepy.status import Gaps, Status, UnveilStatus

ROOT = Path(__file__).resolve().parent.parent

#: collections and what it imports: ~2 ms that namedtuple cost at start-up.
COLLECTIONS = ("collections", "keyword", "operator", "reprlib")

CHILD = """
import sys
first = set(sys.modules)
import pledgepy
imported = set(sys.modules) - first
pledgepy.pledge("stdio rpath")
pledged = set(sys.modules) - first - imported
print(repr({"first": sorted(first), "import": sorted(imported),
                  "pledge": sorted(pledged), "level": pledgepy.status().level}))
"""


def _bare(code: str) -> dict[str, list[str]]:
    """Run *code* without site (an editable install's finder imports collections at
    start-up, which would hide what pledgepy loads): the checkout and cffi on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.path.dirname(_cffi_backend.__file__)])
    r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                       env=env, cwd="/", timeout=60)
    assert r.returncode == 0, r.stderr
    got: dict[str, list[str]] = ast.literal_eval(r.stdout)  # json imports collections
    return got


def test_import_and_first_pledge_do_not_load_collections() -> None:
    got = _bare(CHILD)
    assert not set(got["first"]) & set(COLLECTIONS)  # else the test could not see it
    assert "pledgepy.backends.linux.native._sigsys" in got["pledge"]  # the real path
    assert got["level"] != "none"
    for phase in ("import", "pledge"):
        assert not set(got[phase]) & set(COLLECTIONS), (phase, got[phase])


#: (record class, arguments of a minimal call): each against a namedtuple twin.
RECORDS: list[tuple[type[Record], tuple[object, ...], tuple[object, ...]]] = [
    (Gaps, (), ((), (), False)),
    (UnveilStatus, (), ((), False, False, "none", "none", (), ())),
    (Status, ("linux", "seccomp-bpf"),
     (None, None, "none", (), (), UnveilStatus(), False, False)),
    (UnveilRule, ("/tmp", "r"), ()),
    (PledgeRequest, (None, frozenset({"stdio"}), None, None), ((), False, False)),
    (Inherited, (frozenset({"stdio"}), True, ("n",)), ()),
    (Observation, ("openat", "x", (("rpath",),), "/a", "r", 1, 2, "p"), (None, 0)),
    (Checkpoint, ("pledge", "stdio", None, None, None, "f:1"), ()),
    (Identity, (1, 0, (0,)), (0,)),
    (Arg, (0, (1, 2)), (0xFFFFFFFF, False, False)),
    (Rule, ("read", frozenset({"stdio"})), ((), "", 0, "")),
    (Action, ("allow",), ((),)),
    (Features, (1, "5.13", 3, 0, 0, 0), ()),
    (Domains, (True, False, ()), ()),
]


@pytest.mark.parametrize(("cls", "args", "defaults"), RECORDS, ids=lambda v: getattr(v, "__name__", ""))
def test_a_record_behaves_as_its_namedtuple(cls: type[Record], args: tuple[object, ...],
                                            defaults: tuple[object, ...]) -> None:
    twin = namedtuple(cls.__name__, cls._fields, defaults=defaults)  # type: ignore[misc]
    got, want = cls(*args), twin(*args)
    assert got == want and tuple(got) == tuple(want) and hash(got) == hash(want)
    assert repr(got) == repr(want)
    assert got._asdict() == want._asdict()
    assert cls.__match_args__ == twin.__match_args__  # type: ignore[attr-defined]
    for i, name in enumerate(cls._fields):
        assert getattr(got, name) == got[i] == getattr(want, name)
    name = cls._fields[-1]
    changed = got._replace(**{name: "x"})
    assert type(changed) is cls and changed == want._replace(**{name: "x"})
    with pytest.raises(ValueError):
        got._replace(nonsense=1)
    assert pickle.loads(pickle.dumps(got)) == got and type(pickle.loads(pickle.dumps(got))) is cls
    assert copy.deepcopy(got) == got
    with pytest.raises(AttributeError):
        got.__dict__  # noqa: B018 (slots: no per-instance dict, as namedtuple)
