"""Narrowing away an allowance promise (a review's two findings): a thread made with
_thread keeps no wider layer; unveil rules committed while it was held are reported."""

from __future__ import annotations

import sys

import pytest

from tests.childproc import run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")


def test_a_thread_threading_does_not_count_loses_a_dropped_allowance(tmp_path: object) -> None:
    r = run("""
import _thread, os, time, warnings, pledgepy
warnings.simplefilter("ignore")
with open("/tmp/pledgepy-allowance-secret", "w") as f:
    f.write("secret")
pledgepy.pledge("stdio tmppath")
go = _thread.allocate_lock(); go.acquire()
def worker():
    go.acquire()
    fd = os.open("/tmp/pledgepy-allowance-secret", os.O_RDONLY)
    os.write(1, b"READ " + os.read(fd, 10) + b"\\n")
_thread.start_new_thread(worker, ())
time.sleep(0.2)
pledgepy.pledge("stdio")
go.release()
time.sleep(2)
""")
    assert "READ" not in r.stdout and r.returncode in (-6, -31), r.explain()


def test_unveil_committed_with_an_allowance_promise_is_reported_after_dropping_it() -> None:
    r = run("""
import warnings, pledgepy
warnings.simplefilter("ignore")
pledgepy.unveil("/usr/lib", "r")
pledgepy.pledge("stdio rpath wpath cpath getpw tmppath")
print(pledgepy.status().level, flush=True)
pledgepy.pledge("stdio rpath wpath cpath")
st = pledgepy.status()
print(st.level, any("were committed while" in g and "/etc/passwd" in g for g in st.not_enforced))
""")
    assert r.returncode == 0, r.explain()
    lines = r.stdout.splitlines()
    assert lines[-1] == "partial True", r.explain()


def test_a_violation_after_narrowing_under_unveil_is_explained(tmp_path: object) -> None:
    # the handler once retried every open from its call site, which an older stacked
    # filter trapped: a silent SIGSYS death instead of the message (the README demo)
    r = run(f"""
import pledgepy
pledgepy.unveil({str(tmp_path)!r}, "r")
pledgepy.pledge("stdio rpath")
pledgepy.pledge("stdio")
open({str(tmp_path)!r} + "/report.txt", "w")
""")
    assert r.returncode == -6 and 'needs "wpath cpath"' in r.stderr, r.explain()


def test_the_readme_demo_catches_its_violation() -> None:
    import subprocess

    from tests.childproc import ROOT

    p = subprocess.run([sys.executable, str(ROOT / "examples/demo.py")], capture_output=True,
                       text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 0 and "violation caught: yes" in p.stdout, p.stdout + p.stderr
