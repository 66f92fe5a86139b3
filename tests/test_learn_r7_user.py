"""Learned unveil lists never fold into a top-level directory such as /etc."""

from __future__ import annotations

from pathlib import Path

from pledgepy.learn import paths
from tests.learning import command, learn, run, violated

_ETC = ["/etc/hostname", "/etc/passwd", "/etc/group"]


def test_top_level_siblings_stay_one_by_one() -> None:
    used = {p: "r" for p in _ETC}
    assert paths.collapse(used) == sorted((p, "r") for p in _ETC)


def test_learned_etc_reads_do_not_unveil_shadow(tmp_path: Path) -> None:
    # a real run of cat reading three /etc files: the rule must name the files, so the
    # suggested command (run as root here) still cannot read /etc/shadow
    _, report = learn(["cat", *_ETC], str(tmp_path))
    rules = dict(report["unveil"])
    assert "/etc" not in rules, report["unveil"]
    assert all(rules.get(p) == "r" for p in _ETC), report["unveil"]
    argv = command(report)
    r = run(argv, str(tmp_path))
    assert r.returncode == 0 and not violated(r), r.stderr
    shadow = [*argv[:argv.index("cat") + 1], "/etc/shadow"]
    r = run(shadow, str(tmp_path))
    assert r.returncode == 1 and "Permission denied" in r.stderr, (r.returncode, r.stderr)
