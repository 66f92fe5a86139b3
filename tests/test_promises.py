"""The promise parser: OpenBSD's vocabulary, case-sensitive, clear errors (pure Python)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pledgepy.promises import VOCABULARY, bits, closest, parse

words = st.sampled_from(VOCABULARY)


def test_vocabulary_is_openbsds() -> None:
    assert len(VOCABULARY) == 33 and len(set(VOCABULARY)) == 33
    for promise in ("stdio", "rpath", "tmppath", "mcast", "prot_exec", "wroute", "error"):
        assert promise in VOCABULARY


@given(st.lists(words), st.lists(st.integers(1, 3)))
def test_any_set_of_promises_parses_back(chosen: list[str], gaps: list[int]) -> None:
    text = "".join(w + " " * (gaps[i % len(gaps)] if gaps else 1) for i, w in enumerate(chosen))
    assert parse(text) == frozenset(chosen)


def test_none_and_empty() -> None:
    assert parse(None) is None
    assert parse("") == frozenset()
    assert parse("   ") == frozenset()


@pytest.mark.parametrize("text,word,hint", [
    ("stdio rpth", "rpath", "rpth"), ("STDIO", "stdio", "STDIO"), ("stdio inet6", "inet", "inet6"),
    ("protexec", "prot_exec", "protexec"), ("stdio\trpath", "stdio", "stdio\\trpath"),
])
def test_unknown_word_names_it_and_the_closest(text: str, word: str, hint: str) -> None:
    with pytest.raises(ValueError) as err:
        parse(text)
    assert repr(hint.replace("\\t", "\t")) in str(err.value)
    assert f"did you mean {word!r}" in str(err.value)


@pytest.mark.parametrize("value", [b"stdio", 1, ["stdio"], {"stdio"}, 0.5])
def test_wrong_type(value: object) -> None:
    with pytest.raises(TypeError, match="must be a str or None"):
        parse(value)


def test_nul_byte() -> None:
    with pytest.raises(ValueError, match="NUL"):
        parse("stdio\0rpath")


@given(st.text())
def test_arbitrary_text_parses_or_raises_valueerror(text: str) -> None:
    try:
        result = parse(text)
    except ValueError:
        return
    assert result is not None and result <= frozenset(VOCABULARY)
    assert result == frozenset(w for w in text.split(" ") if w)


@given(st.text(min_size=1))
def test_closest_is_always_a_promise(word: str) -> None:
    assert closest(word) in VOCABULARY


def test_bits_follow_vocabulary_order() -> None:
    assert bits(frozenset({"stdio"})) == 1 and bits(frozenset({"rpath"})) == 2
    assert bits(frozenset(VOCABULARY)) == (1 << len(VOCABULARY)) - 1
