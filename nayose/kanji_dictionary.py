"""pykakasi's kanji dictionary, read one leading kanji's words at a time from a cache file.

pykakasi unpickles its whole dictionary (kanwadict4.db: 6,823 leading kanji, 269k words, some
570k Python objects) the first time it reads a kanji: ~0.3 s of CPU holding the GIL at the start
of every run, while a batch of names needs a few thousand of those kanji. Here the same
dictionary is written once into a cache file (one marshal blob per leading kanji behind an index)
and a kanji's words are read when it is first looked up. The contents are exactly pykakasi's:
the file is keyed by the dictionary file's name, size and modification time and by the Python
version (a reinstalled or new pykakasi, or another Python, gets its own), written to a temporary
name and renamed (never half-written), and checked when opened (a damaged file is rebuilt). Where
no cache directory is writable, the pickle is used as before. `install` makes pykakasi's own
converter (`Kanwa`) read the same table.

Cache directory: $NAYOSE_CACHE_DIR, else $XDG_CACHE_HOME/nayose, else ~/.cache/nayose.
"""

from __future__ import annotations

import marshal
import mmap
import os
import pickle
import struct
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

MAGIC = b"NYKW0001"  # format of the cache file (bump when the layout changes)
_HEAD = struct.Struct("<8sQQ")  # magic, index length, data length


def cache_dir() -> Path:
    """Where nayose keeps files it can rebuild ($NAYOSE_CACHE_DIR, $XDG_CACHE_HOME/nayose, ~/.cache/nayose)."""
    given = os.environ.get("NAYOSE_CACHE_DIR")
    if given:
        return Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nayose"


class KanjiTable(Mapping):
    """The dictionary as pykakasi holds it -- leading kanji's code point -> {word: [(reading,
    okurigana tail or None), ...]} -- with each kanji's words read from the cache file the first
    time they are asked for (thread-safe: a race reads one entry twice, with the same result)."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            magic, index_len, data_len = _HEAD.unpack_from(mm, 0)
            if magic != MAGIC or len(mm) != _HEAD.size + index_len + data_len:
                raise ValueError(f"{path}: not a complete kanji dictionary cache")
            index = marshal.loads(mm[_HEAD.size:_HEAD.size + index_len])
            if not isinstance(index, dict):
                raise ValueError(f"{path}: damaged index")
        except Exception:
            mm.close()
            raise
        self._mm, self._index, self._start = mm, index, _HEAD.size + index_len
        self._loaded: dict[int, Any] = {}

    def __getitem__(self, key: int) -> Any:
        got = self._loaded.get(key)
        if got is None:
            off, size = self._index[key]  # KeyError for a kanji the dictionary lacks
            got = marshal.loads(self._mm[self._start + off:self._start + off + size])
            self._loaded[key] = got
        return got

    def get(self, key: int, default: Any = None) -> Any:
        got = self._loaded.get(key)  # (the common case first: pykakasi asks once per character)
        if got is not None:
            return got
        return self[key] if key in self._index else default

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[int]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)


def _source() -> Path:
    from pykakasi.properties import Configurations

    return Path(Configurations.dictpath(Configurations.jisyo_kanwa))


def cache_path(source: Path | None = None) -> Path:
    """The cache file for pykakasi's installed dictionary."""
    source = source or _source()
    st = source.stat()
    # (marshal's format belongs to the Python version: another Python writes its own file)
    py = f"py{sys.version_info[0]}{sys.version_info[1]}m{marshal.version}"
    return cache_dir() / f"{source.stem}-{st.st_size}-{st.st_mtime_ns}-{py}-{MAGIC.decode()}.bin"


def write_cache(table: Mapping, path: Path) -> None:
    """Write `table` (pykakasi's dictionary) as a cache file at `path`, atomically."""
    index: dict[int, tuple[int, int]] = {}
    blobs: list[bytes] = []
    off = 0
    for key, words in table.items():
        blob = marshal.dumps(words)
        index[key] = (off, len(blob))
        blobs.append(blob)
        off += len(blob)
    head = marshal.dumps(index)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_HEAD.pack(MAGIC, len(head), off))
            f.write(head)
            for blob in blobs:
                f.write(blob)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def load_table() -> Mapping:
    """pykakasi's dictionary: from the cache file (written first if missing or damaged), or, where
    the cache cannot be written or read, unpickled as pykakasi does."""
    source = _source()
    try:
        path = cache_path(source)
    except OSError:
        path = None
    if path is not None and path.exists():
        try:
            return KanjiTable(path)
        except (OSError, ValueError, EOFError, TypeError, struct.error):
            pass  # damaged or foreign: rebuilt below
    with open(source, "rb") as f:  # (callers pause garbage collection: nayose.normalize)
        table = pickle.load(f)
    if path is not None:
        try:
            write_cache(table, path)
        except OSError:
            pass  # no writable cache directory: this run uses the pickle, as pykakasi would
        else:
            _remove_outdated(path)
    return table


def _remove_outdated(path: Path) -> None:
    """Remove the cache files of earlier installs of pykakasi for this Python (same name but for
    the dictionary's size and time); another Python's files are left alone."""
    stem, tail = path.name.split("-", 1)[0], path.name.rsplit("-", 2)[-2:]
    for old in path.parent.glob(f"{stem}-*-{tail[0]}-{tail[1]}"):
        if old != path:
            try:
                old.unlink()
            except OSError:
                pass


def install() -> Mapping:
    """Load the table (once per process) and hand it to pykakasi's `Kanwa`, so that pykakasi's
    own lookups read the same table instead of unpickling the dictionary again. (Under Kanwa's
    own lock: a `Kanwa()` made meanwhile waits for this table instead of loading its own.)"""
    from pykakasi.kanji import Kanwa

    state = Kanwa._shared_state
    with state["_lock"]:
        if state.get("_jisyo_table") is None:
            state["_jisyo_table"] = load_table()
        return state["_jisyo_table"]
