"""pykakasi's kanji dictionary read from nayose's cache file: the same words and readings as
pykakasi's own pickle, a damaged file rebuilt, and no cache directory at all still working."""

from __future__ import annotations

import functools
import pickle

import pytest

from nayose import kanji_dictionary as kd


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NAYOSE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@functools.lru_cache(maxsize=1)
def _pickled() -> dict:
    """pykakasi's own dictionary, unpickled once for the module (~0.3 s a load)."""
    with open(kd._source(), "rb") as f:
        return pickle.load(f)


def test_the_cache_holds_exactly_pykakasis_dictionary(cache):
    first = kd.load_table()  # no cache yet: the pickle, and the cache is written
    assert isinstance(first, dict)
    path = kd.cache_path()
    assert path.parent == cache and path.exists()
    table = kd.load_table()
    assert isinstance(table, kd.KanjiTable)
    original = _pickled()
    assert len(table) == len(original) == len(first)
    assert set(table) == set(original)
    for cp, words in original.items():
        assert table[cp] == words, chr(cp)
    # what the readers look up: 根 (根本 nemoto / konpon), a kanji the dictionary lacks
    assert ("ねもと", None) in table.get(ord("根"))["根本"]
    assert table.get(0x20) is None and 0x20 not in table
    with pytest.raises(KeyError):
        table[0x20]


def test_a_damaged_cache_file_is_rebuilt(cache):
    kd.load_table()
    path = kd.cache_path()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # cut off, as by a full disk
    table = kd.load_table()  # read from the pickle again, and the file rewritten
    assert table[ord("根")] == _pickled()[ord("根")]
    assert path.read_bytes() == data
    path.write_bytes(b"not a cache" + data[11:])  # same length, wrong header
    assert kd.load_table()[ord("佐")] == _pickled()[ord("佐")]
    assert isinstance(kd.load_table(), kd.KanjiTable)


def test_a_cache_directory_that_is_a_file_uses_the_pickle(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("NAYOSE_CACHE_DIR", str(blocker / "nayose"))
    table = kd.load_table()
    assert isinstance(table, dict) and table[ord("根")] == _pickled()[ord("根")]


def test_readings_through_the_cache_match_pykakasi(cache):
    """Names read through nayose's reader (the cached table) and through pykakasi's own converter
    give the same hiragana."""
    import pykakasi

    from nayose.normalize import _KANJI

    _KANJI.load()
    kakasi = pykakasi.kakasi()
    for name in ("渡邉健太郎", "佐藤", "高橋美帆", "根本", "東京都港区芝浦", "大阪府大阪市北区梅田", "株式会社"):
        assert _KANJI.to_hiragana(name) == "".join(x["hira"] for x in kakasi.convert(name)), name


def test_a_truncated_or_empty_cache_file_is_rebuilt(cache):
    kd.load_table()
    path = kd.cache_path()
    data = path.read_bytes()
    for damaged in (b"", data[:10]):  # empty (mmap refuses it), shorter than the header
        path.write_bytes(damaged)
        assert kd.load_table()[ord("根")] == _pickled()[ord("根")]
        assert path.read_bytes() == data


def test_an_earlier_installs_cache_file_is_removed_when_a_new_one_is_written(cache):
    path = kd.cache_path()
    cache.mkdir(parents=True)
    tag = "-".join(path.name.rsplit("-", 2)[-2:])
    earlier = cache / f"kanwadict4-123-456-{tag}"  # an earlier pykakasi, this Python
    other_python = cache / "kanwadict4-123-456-py27m2-NYKW0001.bin"
    earlier.write_bytes(b"old")
    other_python.write_bytes(b"other")
    kd.load_table()
    assert path.exists() and not earlier.exists() and other_python.exists()
