"""The native piece: enforcement without it (fail closed), and a stale build refused."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.childproc import ROOT, run

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

BUILT = ("*.so", "_decls.py", "_sigsys.c", "__pycache__")


def _copy(dest: Path, *, built: bool) -> Path:
    """A copy of the package as a vendored or unbuilt checkout would hold it."""
    ignore = shutil.ignore_patterns("__pycache__") if built else shutil.ignore_patterns(*BUILT)
    shutil.copytree(ROOT / "pledgepy", dest / "pledgepy", ignore=ignore)
    return dest


@pytest.fixture(scope="module")
def unbuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy(tmp_path_factory.mktemp("unbuilt"), built=False)


def test_unbuilt_checkout_has_no_native_module(unbuilt: Path) -> None:
    assert not list((unbuilt / "pledgepy").rglob("*.so"))


def test_unbuilt_checkout_still_enforces_and_says_why_it_cannot_explain(unbuilt: Path) -> None:
    r = run("""
        import pledgepy, warnings
        warnings.simplefilter("always")
        pledgepy.pledge("stdio")
        st = pledgepy.status()
        print(st.level, st.messages, flush=True)
        open("/etc/passwd")
        print("NOT REFUSED", flush=True)
    """, env={"PYTHONPATH": str(unbuilt)}, cwd=unbuilt)
    assert r.stdout.split() == ["full", "False"], r.explain()
    assert r.signal == 31, r.explain()  # SECCOMP_RET_KILL_PROCESS: dies of SIGSYS
    assert "not built" in r.stderr and "pip install -e ." in r.stderr, r.explain()
    assert "circular import" not in r.stderr, r.explain()


def test_unbuilt_checkout_is_accepted_by_strict_mode(unbuilt: Path) -> None:
    # the sandbox is as strong: missing messages are not a gap
    r = run("""
        import pledgepy
        pledgepy.pledge("stdio rpath", strict=True)
        print(pledgepy.status().level, any("not explained" in n for n in pledgepy.status().notes))
        open("/etc/passwd").close()
        open("/tmp/pledgepy-unbuilt-test", "w")
    """, env={"PYTHONPATH": str(unbuilt)}, cwd=unbuilt)
    assert r.stdout.split() == ["full", "True"], r.explain()
    assert r.signal == 31, r.explain()


def test_unbuilt_checkout_error_promise_answers_enosys(unbuilt: Path) -> None:
    r = run("""
        import errno, pledgepy
        pledgepy.pledge("stdio error")
        try:
            open("/etc/passwd")
        except OSError as e:
            print(errno.errorcode[e.errno])
        print("alive")
    """, env={"PYTHONPATH": str(unbuilt)}, cwd=unbuilt)
    assert r.returncode == 0 and r.stdout.split() == ["ENOSYS", "alive"], r.explain()


def test_unbuilt_checkout_narrowing_and_threads(unbuilt: Path) -> None:
    r = run("""
        import threading, pledgepy
        stop = threading.Event()
        t = threading.Thread(target=stop.wait); t.start()
        pledgepy.pledge("stdio rpath")
        open("/etc/hostname").close()
        pledgepy.pledge("stdio")
        def other():
            open("/etc/hostname")
        print("narrowed", flush=True)
        threading.Thread(target=other).start()
        stop.wait(5)
    """, env={"PYTHONPATH": str(unbuilt)}, cwd=unbuilt)
    assert r.stdout.split() == ["narrowed"] and r.signal == 31, r.explain()


def test_built_module_explains(tmp_path: Path) -> None:
    r = run("""
        import pledgepy
        pledgepy.pledge("stdio")
        print(pledgepy.status().messages, flush=True)
        open("/etc/passwd")
    """)
    assert r.stdout.split() == ["True"] and r.signal == 6, r.explain()
    assert 'needs "rpath"' in r.stderr, r.explain()


def test_stale_native_tables_are_refused_before_anything_changes(tmp_path: Path) -> None:
    copy = _copy(tmp_path, built=True)
    assert list((copy / "pledgepy").rglob("_sigsys*.so")), "the checkout must be built"
    policy = copy / "pledgepy/backends/linux/policy.py"
    policy.write_text(policy.read_text() + "\n# edited after the build\n")
    r = run("""
        import pledgepy
        try:
            pledgepy.pledge("stdio")
        except ImportError as e:
            print(type(e).__name__, flush=True)
            print(e, flush=True)
        open("/etc/passwd").close()
        open("/tmp/pledgepy-stale-test", "w").close()
        try:
            pledgepy.pledge("stdio")
        except ImportError:
            print("unchanged, refused again")
    """, env={"PYTHONPATH": str(copy)}, cwd=copy)
    assert r.returncode == 0, r.explain()
    first, message, last = r.stdout.splitlines()
    assert first == "NativeBuildError" and "stale" in message and "pip install -e ." in message
    assert last == "unchanged, refused again"


def test_the_installed_sources_match_the_build() -> None:
    # the check a stale build fails is the one this checkout passes
    from pledgepy.backends.linux import native

    assert native.available()


def test_selftest_says_when_the_handler_is_missing(unbuilt: Path) -> None:
    import subprocess

    r = subprocess.run([sys.executable, "-m", "pledgepy.selftest"], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(unbuilt)}, cwd=unbuilt,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "violation messages: NO" in r.stdout and "not built" in r.stdout, r.stdout
    assert "enforced (no message)" in r.stdout, r.stdout
