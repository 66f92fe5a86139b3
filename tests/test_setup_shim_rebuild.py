"""The start-up shim is rebuilt whenever a file its digest covers is newer than the
build: pip builds in the tree, and an earlier install's build/ otherwise kept a shim
whose digest no longer matched exec/shim.py (the command then refused every run, 70).
setuptools' build_ext rebuilds an extension when any of its sources and depends is
newer than it: those must be exactly the files the digest covers."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the shim is Linux's")
def test_the_shims_build_inputs_are_what_its_digest_covers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    setuptools = pytest.importorskip("setuptools")
    got: dict[str, Any] = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: got.update(kw))
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "argv", ["setup.py"])
    ns = runpy.run_path(str(ROOT / "setup.py"), run_name="not_main")
    (shim,) = [e for e in got["ext_modules"] if e.name.endswith("._shim")]
    assert sorted([*shim.sources, *shim.depends]) == sorted(ns["SHIM_SOURCES"])
