"""Round-7 attack review: ways around the sandbox found by trying them (each test
failed on main before its fix), against the running kernel, in fresh children."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.childproc import ROOT

#: Modules the supervisor used to import only once the program had run (ctypes with its
#: answers, at the first violation; signal to name a limit's signal): found through
#: sys.path, whose first entry is a directory the program may be able to write.
PLANTED = ("ctypes", "_ctypes", "signal")


def _planted_run(where: Path, promises: str, then: str,
                 *extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m pledgepy`` run from *where* (so sys.path[0] is *where*): PROG writes a
    module for each of :data:`PLANTED` there, each leaving a mark if it is ever run,
    then does *then*."""
    plant = "".join(f"printf 'open(\"%s\", \"w\").close()\\n' '{where}/ran-{name}' "
                    f"> {name}.py; " for name in PLANTED)
    # PYTHONSAFEPATH would leave *where* off sys.path, and the test unable to fail
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"},
           "PYTHONPATH": str(ROOT)}
    r: subprocess.CompletedProcess[str] = subprocess.run(
        [sys.executable, "-m", "pledgepy", "-p", promises, "-v", f"rwc:{where}", *extra,
         "sh", "-c", plant + then], capture_output=True, text=True, cwd=where, env=env,
        timeout=60, check=False)
    return r


def _ran(where: Path) -> list[str]:
    return sorted(p.name for p in where.iterdir() if p.name.startswith("ran-"))


@pytest.mark.parametrize("how", ["violation", "limit"])
def test_the_program_cannot_plant_a_module_the_supervisor_imports(tmp_path: Path,
                                                                   how: str) -> None:
    # The supervisor runs unconfined (as root, here). Whatever it imports after the go
    # is looked up through sys.path, and a module PROG wrote into its first entry (the
    # working directory under -m, the script's directory for the console script) ran
    # in the supervisor: a violation made it import answer (and ctypes), a limit's
    # signal made it import signal. It imports them before PROG runs.
    (tmp_path / "file").write_text("x")
    if how == "violation":
        r = _planted_run(tmp_path, "stdio rpath wpath cpath proc exec", "exec chmod 600 file")
        said = 'needs "fattr"'
    else:
        r = _planted_run(tmp_path, "stdio rpath wpath cpath proc exec",
                         "exec yes > big", "-F", "4K")
        said = "killed by SIGXFSZ"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".py")) == \
        sorted(f"{name}.py" for name in PLANTED), r.stderr  # the plant itself worked
    assert _ran(tmp_path) == [], r.stderr
    assert said in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("extra", [(), ("-C", "100")], ids=["no-limit", "another-limit"])
def test_a_limit_signal_without_its_limit_keeps_the_status(extra: tuple[str, ...]) -> None:
    # SIGXFSZ without -F (sent by the program itself here): the supervisor looked up
    # the -F it was never given, died of a KeyError, and the status became 1
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "pledgepy", "-p", "stdio rpath", *extra, "sh",
                        "-c", "kill -XFSZ $$"], capture_output=True, text=True, cwd=ROOT,
                       env=env, timeout=60, check=False)
    assert (r.returncode, r.stderr) == (128 + 25, ""), r.stderr


#: The supervisor's run, its imports after the fork, and when it let the program go.
IMPORTS_AFTER_GO = """
import os, sys
sys.path[:0] = {paths!r}
from pledgepy import cli
seen = []
write = os.write
def go_write(fd, data):
    if data == b"x":  # the go: the program runs from now on
        seen.append("<go>")
    return write(fd, data)
os.write = go_write
os.register_at_fork(after_in_parent=lambda: sys.addaudithook(
    lambda ev, args: ev == "import" and seen.append(args[0])))
rc = cli.main({argv!r})
print(seen)
sys.exit(rc)
"""


@pytest.mark.parametrize("how", ["violation", "limit"])
def test_the_supervisor_imports_nothing_from_sys_path_once_the_program_runs(
        tmp_path: Path, how: str) -> None:
    # the rule the plant test holds for two modules, for every module: after the go the
    # supervisor imports only pledgepy's own (found through its package, not sys.path)
    # and built-in ones
    import sysconfig

    paths = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    if how == "violation":
        argv = ["-q", "-p", "stdio rpath", "sh", "-c", "echo x > /dev/null/x; :"]
    else:
        argv = ["-q", "-p", "stdio rpath wpath cpath proc exec", "-v", f"rwc:{tmp_path}", "-F",
                "4K", "sh", "-c", f"exec /usr/bin/yes > {tmp_path}/big"]
    r = subprocess.run([sys.executable, "-I", "-c", IMPORTS_AFTER_GO.format(
        paths=paths, argv=argv)], capture_output=True, text=True, cwd="/", timeout=60,
        check=False)
    assert r.returncode == (134 if how == "violation" else 128 + 25), r.stderr
    seen = eval(r.stdout)  # noqa: S307  # our own print of a list of str
    assert "<go>" in seen, seen
    after = seen[seen.index("<go>") + 1:]
    assert [m for m in after if not m.startswith("pledgepy.")
            and m not in sys.builtin_module_names] == [], seen


@pytest.mark.parametrize("option", [("-u", "nobody"), ("-g", "nogroup"), ("-c", "/"),
                                    ("-n", "5"), ("-C", "100"), ("-M", "1G"), ("-O", "64"),
                                    ("-P", "50"), ("-F", "1M")])
def test_learn_refuses_what_it_would_not_apply(tmp_path: Path,
                                               option: tuple[str, str]) -> None:
    # --learn ran PROG without them, said nothing: `pledge --learn -u nobody PROG` ran
    # PROG as root, and every limit was silently absent
    out = tmp_path / "id"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "pledgepy", "--learn", *option, "sh", "-c",
                        f"id -u > {out}"], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=60, check=False)
    assert r.returncode == 64 and f"takes no {option[0]}" in r.stderr, (r.returncode,
                                                                         r.stderr)
    assert not out.exists()
