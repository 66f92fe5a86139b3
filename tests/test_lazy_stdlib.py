"""Lazy stdlib pieces common code reaches after a pledge (issue 10 item 3): asyncio's
default executor (loop.getaddrinfo, to_thread) imports concurrent.futures.thread and the
_queue extension module on first use, which needs rpath and prot_exec."""

from __future__ import annotations

import pytest

from tests.pledged import under

ASYNC = """
async def main():
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo("localhost", 80)
    print("gai", "127.0.0.1" in {i[4][0] for i in infos})
    print("thread", await asyncio.to_thread(sum, range(10)))
asyncio.run(main())
"""


@pytest.mark.parametrize("promises", ["stdio rpath dns", "stdio dns", "stdio rpath inet dns"])
def test_asyncio_executor_after_pledge(promises: str) -> None:
    r = under(promises, ASYNC, setup="import asyncio")
    assert r.returncode == 0 and r.stdout.split("\n")[:2] == ["gai True", "thread 45"], \
        (promises, r.explain())
    assert "pledge: " not in r.stderr, r.explain()
