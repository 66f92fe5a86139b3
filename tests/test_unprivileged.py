"""As uid 65534 with no capabilities: where root would change the outcome."""

from __future__ import annotations

from tests.pledged import killed, under


def test_pledge_works_without_privilege() -> None:
    r = under("stdio", "print(os.getuid(), flush=True)\nos.listdir('/')", unprivileged=True)
    assert r.stdout.split() == ["65534"] and killed(r), r.explain()


def test_fattr_chown_only_to_yourself() -> None:
    setup = "import tempfile\nd = tempfile.mkdtemp()\nP = os.path.join(d, 'f'); open(P, 'w').close()\n"
    # another uid fails with EPERM, as OpenBSD's pledge_chown() answers it (no kill)
    r = under("stdio fattr", "os.chown(P, os.getuid(), -1)\nprint('own', flush=True)\n"
                             "attempt(os.chown, P, 0, -1)", setup=setup, unprivileged=True)
    assert r.returncode == 0 and r.stdout.split() == ["own", "ERR", "EPERM"], r.explain()


def test_chown_promise_then_the_kernel_decides() -> None:
    setup = "import tempfile\nd = tempfile.mkdtemp()\nP = os.path.join(d, 'f'); open(P, 'w').close()\n"
    r = under("stdio chown", "attempt(os.chown, P, 0, 0)", setup=setup, unprivileged=True)
    assert r.returncode == 0 and r.stdout.split() == ["ERR", "EPERM"], r.explain()


def test_id_promise_cannot_regain_root() -> None:
    r = under("stdio id", "attempt(os.setuid, 0)", unprivileged=True)
    assert r.returncode == 0 and r.stdout.split() == ["ERR", "EPERM"], r.explain()


def test_open_by_handle_at_is_refused_even_where_root_could_use_it() -> None:
    r = under("stdio rpath wpath cpath", "libc.syscall(304, -100, 0, 0)",
              setup="import ctypes\nlibc = ctypes.CDLL(None)\n")
    assert killed(r) and "open_by_handle_at is not allowed" in r.stderr, r.explain()
