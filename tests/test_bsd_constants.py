"""Capsicum rights constants and bundles against the reference table (tests/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pledgepy.backends.freebsd import rights as R

DATA = Path(__file__).parent / "data" / "freebsd_rights.tsv"


def _rows() -> list[list[str]]:
    lines = DATA.read_text().splitlines()
    return [ln.split("\t") for ln in lines if ln and not ln.startswith("#")]


RIGHTS = [(n, int(v, 16)) for kind, n, v, _ in _rows() if kind == "right"]
BUNDLES = {n: (int(a, 16), None if b == "-" else int(b, 16))
           for kind, n, a, b in _rows() if kind == "bundle"}


def test_table_is_complete() -> None:
    assert len(RIGHTS) >= 85
    assert {n for n, _ in RIGHTS} == set(R.NAMES)


@pytest.mark.parametrize("name,value", RIGHTS, ids=[n for n, _ in RIGHTS])
def test_constant_matches_reference(name: str, value: int) -> None:
    assert getattr(R, name) == value, f"{name}: {getattr(R, name):#018x} != {value:#018x}"


@pytest.mark.parametrize("name,value", RIGHTS, ids=[n for n, _ in RIGHTS])
def test_every_right_has_one_valid_index(name: str, value: int) -> None:
    idx = R.word_index(value)
    assert value >> 57 & 0x1F == 1 << idx


def test_capright_encoding() -> None:
    assert R.CAPRIGHT(0, 0) == 0x0200000000000000
    assert R.CAPRIGHT(1, 0) == 0x0400000000000000
    assert R.NONE.words == (0x0200000000000000, 0x0400000000000000)


def _words(rights: R.Rights) -> tuple[int, int | None]:
    return rights.words[0], rights.words[1]


@pytest.mark.parametrize("name,bundle", [
    ("R_dir", R.R_DIR),
    ("R+W_dir", R.R_DIR | R.W_ADD),
    ("R+W+C_dir", R.R_DIR | R.W_ADD | R.C_ADD),
    ("stdio_fd", R.STDIO_FD),
])
def test_full_bundles(name: str, bundle: R.Rights) -> None:
    assert _words(bundle) == BUNDLES[name]


@pytest.mark.parametrize("name,bundle", [
    ("W_add", R.W_ADD), ("C_add", R.C_ADD), ("fattr_add", R.FATTR_ADD),
    ("chown_add", R.CHOWN_ADD), ("dpath_add", R.DPATH_ADD),
    ("unix_add", R.UNIX_CONNECT_ADD | R.UNIX_BIND_ADD),
])
def test_word0_additions(name: str, bundle: R.Rights) -> None:
    assert bundle.words[0] == BUNDLES[name][0]
    assert bundle.words[1] == R.CAPRIGHT(1, 0)


def test_mixing_words_is_refused_not_aborted() -> None:
    with pytest.raises(ValueError, match="index bits 0x3"):
        R.Rights.of(R.CAP_READ | R.CAP_EVENT)
    with pytest.raises(ValueError, match="outside CAP_ALL1"):
        R.Rights.of(R.CAPRIGHT(1, 0x200000))
    with pytest.raises(ValueError):
        R.word_index(1 << 64)


def test_set_operations() -> None:
    rw = R.Rights.of(R.CAP_READ, R.CAP_WRITE, R.CAP_EVENT)
    r = R.Rights.of(R.CAP_READ)
    assert rw.contains(r) and not r.contains(rw)
    assert (rw & r) == r
    assert rw.without(r).has(R.CAP_WRITE) and not rw.without(r).has(R.CAP_READ)
    assert rw.without(r).is_valid() and (rw & r).is_valid()
    assert not R.Rights((1 << 62 | R.CAPRIGHT(0, 0), R.CAPRIGHT(1, 0))).is_valid()
    # lookup stripping keeps fstat but removes every *at lookup.
    stripped = R.R_DIR.without(R.LOOKUP_RIGHTS)
    assert stripped.has(R.CAP_FSTAT) and not stripped.has(R.CAP_FSTATAT)
    assert not stripped.has(R.CAP_LOOKUP)
