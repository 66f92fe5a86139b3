"""multiprocessing after a pledge: each start method works with the promises the
README lists, and a start that cannot work fails at once, naming what is missing."""

from __future__ import annotations

import sys

import pytest

from pledgepy.mpguard import CALLER, CHILD, NEEDS
from tests.pledged import under

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux enforcement")

SETUP = "import multiprocessing, concurrent.futures\n"


def pool(method: str) -> str:
    return f"""
with multiprocessing.get_context({method!r}).Pool(2) as p:
    print(p.map(abs, [-1, -2, -3]), flush=True)
"""


@pytest.mark.parametrize("method", sorted(NEEDS))
def test_pool_works_with_the_documented_promises(method: str) -> None:
    r = under(" ".join(sorted(NEEDS[method])), pool(method), setup=SETUP, timeout=40)
    assert r.returncode == 0, r.explain()
    assert "[1, 2, 3]" in r.stdout


@pytest.mark.parametrize("method", sorted(NEEDS))
def test_pool_without_them_fails_at_once(method: str) -> None:
    body = f"""
try:
{pool(method).replace(chr(10), chr(10) + '    ')}
except PermissionError as e:
    print("REFUSED", e, flush=True)
"""
    r = under("stdio proc", body, setup=SETUP, timeout=20)
    assert r.returncode == 0, r.explain()
    assert "REFUSED" in r.stdout and '"wpath"' in r.stdout, r.explain()
    assert f"{method!r}" in r.stdout


def test_each_missing_promise_is_named() -> None:
    held = NEEDS["forkserver"] - {"unix", "recvfd"}
    body = """
try:
    multiprocessing.get_context("forkserver").Process(target=abs, args=(1,)).start()
except PermissionError as e:
    print("REFUSED", e, flush=True)
"""
    r = under(" ".join(sorted(held)), body, setup=SETUP, timeout=20)
    assert '"recvfd" "unix"' in r.stdout, r.explain()


def test_process_pool_executor_is_refused_too() -> None:
    body = """
try:
    concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))
except PermissionError as e:
    print("REFUSED", e, flush=True)
"""
    r = under("stdio rpath wpath cpath proc", body, setup=SETUP, timeout=20)
    assert "REFUSED" in r.stdout and '"exec"' in r.stdout, r.explain()



# ---- with the spawner (exec/spawner.py): the new interpreter runs under execpromises ----

@pytest.mark.parametrize("method", sorted(CALLER))
def test_pool_caller_without_prot_exec_children_with_it(method: str) -> None:
    # the caller does not map code; the spawned interpreter does, under execpromises
    r = under(" ".join(sorted(CALLER[method])), pool(method), setup=SETUP, timeout=40,
              execpromises=" ".join(sorted(CHILD[method])))
    assert "prot_exec" not in CALLER[method]
    assert r.returncode == 0, r.explain()
    assert "[1, 2, 3]" in r.stdout


@pytest.mark.parametrize("method", sorted(CALLER))
def test_pool_with_execpromises_too_narrow_fails_at_once(method: str) -> None:
    body = f"""
try:
{pool(method).replace(chr(10), chr(10) + '    ')}
except PermissionError as e:
    print("REFUSED", e, flush=True)
"""
    r = under(" ".join(sorted(CALLER[method])), body, setup=SETUP, timeout=20,
              execpromises=" ".join(sorted(CHILD[method] - {"wpath"})))
    assert r.returncode == 0, r.explain()
    assert 'REFUSED' in r.stdout and '"wpath" in execpromises' in r.stdout, r.explain()
