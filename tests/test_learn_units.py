"""The learn report's pure parts: the set cover and the unveil list."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pledgepy.learn import cover, dump, paths


def ways(*alternatives: str) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(a.split()) for a in alternatives)


def test_forced_promises_cover_the_alternatives() -> None:
    calls = [ways("stdio"), ways("rpath", "wpath", "cpath", "dpath"), ways("rpath wpath")]
    assert cover.minimal(calls) == {"stdio", "rpath", "wpath"}


def test_the_weaker_promise_wins_a_tie() -> None:
    assert cover.minimal([ways("rpath", "wpath", "cpath", "dpath")]) == {"rpath"}
    assert cover.way(ways("cpath", "rpath"), frozenset({"rpath", "cpath"})) == {"rpath"}


def test_the_smallest_cover_not_the_greedy_one() -> None:
    # greedy would take inet (covers two) and then still need unix and dns
    calls = [ways("inet", "unix"), ways("inet", "dns"), ways("unix"), ways("dns")]
    assert cover.minimal(calls) == {"unix", "dns"}


def test_calls_no_promise_allows_are_left_out() -> None:
    assert cover.minimal([frozenset(), ways("stdio")]) == {"stdio"}


def test_read_only_siblings_fold_but_never_into_the_root(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).write_text("x")
    used = {str(tmp_path / n): "r" for n in ("a", "b", "c")}
    assert paths.collapse({**used, str(tmp_path): "r/"}) == [(str(tmp_path), "r")]
    assert paths.collapse({"/etc": "r", "/usr": "r", "/tmp": "r"}) == \
        [("/etc", "r"), ("/tmp", "r"), ("/usr", "r")]


def test_programs_and_writes_are_not_folded(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).write_text("x")
    used = {str(tmp_path / n): v for n, v in (("a", "rx"), ("b", "rx"), ("c", "rx"))}
    assert paths.collapse(used) == sorted((p, "rx") for p in used)
    used = {str(tmp_path / n): "w" for n in ("a", "b", "c")}
    assert paths.collapse(used) == sorted((p, "w") for p in used)


def test_created_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "kept").write_text("x")
    used = {str(tmp_path): "wc", str(tmp_path / "kept"): "r",
            str(tmp_path / "gone" / "f"): "wc", "/nonexistent/config": "r"}
    assert paths.collapse(used) == [(str(tmp_path), "rwc")]


def test_what_the_command_adds_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "x.so").write_text("x")
    used = {str(tmp_path / "lib" / "x.so"): "r", str(tmp_path / "lib"): "r/"}
    assert paths.collapse(used, {str(tmp_path / "lib"): "r"}) == []


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
    | st.dictionaries(st.text() | st.integers() | st.booleans() | st.none(), inner, max_size=4),
    max_leaves=12)


@given(_JSON)
@settings(max_examples=400, deadline=None)
def test_the_report_writes_json_as_json_dumps(v: object) -> None:
    import json

    assert dump.value(v) == json.dumps(v)


@given(st.lists(st.text(), max_size=6))
@settings(max_examples=400, deadline=None)
def test_the_report_quotes_words_as_shlex(words: list[str]) -> None:
    import shlex

    assert dump.join(words) == shlex.join(words)


@given(st.lists(st.binary(min_size=1, max_size=12).filter(lambda b: b"\0" not in b),
                min_size=1, max_size=4))
@settings(max_examples=150, deadline=None)
def test_the_text_reports_command_reads_back_as_its_bytes_in_bash(names: list[bytes]) -> None:
    """A file name with bytes a terminal would act on or UTF-8 cannot decode: the text
    report's command quotes it so that bash reads back the same bytes, and the line is
    printable. On main it held shlex's quotes around the raw character, which the
    terminal-safe text then spelled as four printable ones: a copied command named
    another path (round 12's attack review)."""
    import os
    import subprocess

    line = dump.shell_join(["printf", "%s\\0", *(os.fsdecode(n) for n in names)])
    assert line.isprintable()
    out = subprocess.run(["bash", "-c", line], capture_output=True, check=True).stdout
    assert out.split(b"\0")[:-1] == names


def test_printable_words_are_quoted_as_shlex_in_the_text_too() -> None:
    words = ["pledge", "-p", "stdio rpath", "-v", "r:/a b/it's", "cat", "x"]
    assert dump.shell_join(words) == dump.join(words)


def test_a_learn_run_imports_neither_json_nor_re() -> None:
    import subprocess
    import sys
    import sysconfig

    from tests.childproc import ROOT

    # -S: site's .pth files (an editable install's finder) import what learn does not
    paths = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    code = (f"import sys\nsys.path[:0] = {paths!r}\nfrom pledgepy import cli\n"
            "rc = cli.main(['--learn', '--json', '-o', '/dev/null', '/bin/true'])\n"
            # (enum: native/tables.py's socket import, the backend's)
            "print(sorted(m for m in ('json', 're', 'shlex', 'typing') "
            "if m in sys.modules)); sys.exit(rc)")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True,
                       text=True, cwd=ROOT, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout


def test_a_rule_on_a_path_that_is_now_a_link_names_what_it_grants(tmp_path: Path) -> None:
    """A file read during the run and replaced by a link afterwards (r9 attack review:
    to /etc/shadow): the rule would follow the link, so the report names the target."""
    secret = tmp_path / "elsewhere" / "shadow"
    secret.parent.mkdir()
    secret.write_text("s")
    x = tmp_path / "work" / "x"
    x.parent.mkdir()
    x.symlink_to(secret)
    assert paths.collapse({str(x): "r"}) == [(str(secret.resolve()), "r")]
    # the same letters from the link and the file itself make one rule
    assert paths.collapse({str(x): "r", str(secret): "r"}) == [(str(secret.resolve()), "r")]
