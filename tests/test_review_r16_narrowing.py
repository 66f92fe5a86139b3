"""Round 16, found by hardening real programs: what a later pledge() does before its
filter must not need what the filter in force refuses.

- With ``ssl`` loaded (asyncio, urllib.request, http.client import it), a narrowing from
  promises without a stat (``stdio inet`` to ``stdio``) was killed inside pledge():
  the handler's certificate directories were resolved again (os.path.realpath, an
  lstat() a component) at every pledge. They are resolved once now, and again only
  when $SSL_CERT_DIR changed.
- A typo in a later pledge() under promises without rpath was killed importing difflib
  for its "did you mean" (and raised OSError under ``error``): the nearest word is
  found without importing anything, and the typo is the ValueError it always was, with
  nothing changed.
"""

from __future__ import annotations

import pytest

from tests.childproc import run


@pytest.mark.parametrize("module", ["ssl", "asyncio", "urllib.request"])
def test_narrowing_with_ssl_loaded(module: str) -> None:
    r = run(f"""
        import warnings; warnings.simplefilter("ignore")
        import {module}
        import pledgepy
        pledgepy.pledge("stdio inet")
        pledgepy.pledge("stdio")
        print("narrowed", pledgepy.status().promises)
    """)
    assert r.returncode == 0 and r.stdout.startswith("narrowed"), r.explain()
    assert "inet" not in r.stdout, r.stdout


@pytest.mark.parametrize("held", ["stdio inet", "stdio inet error"])
def test_a_typo_after_a_pledge_is_a_value_error(held: str) -> None:
    r = run(f"""
        import os, socket
        import pledgepy
        pledgepy.pledge({held!r})
        try:
            pledgepy.pledge("stdio inte")
        except ValueError as e:
            print("ValueError:", e)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # still held: unchanged
        s.close()
        print("after", sorted(pledgepy.status().promises))
    """)
    assert r.returncode == 0, r.explain()
    assert "did you mean 'inet'" in r.stdout and "after" in r.stdout, r.explain()
    assert "inet" in r.stdout.split("after", 1)[1], r.stdout
