"""One writer at a time on the DuckDB store: an advisory file lock beside the database.

DuckDB itself refuses a second writing process with an immediate "Could not set lock" error. The
store lock turns that into an orderly queue: a writer takes an exclusive `fcntl.flock` on
`<db>.lock` before opening the database, waits up to a configurable time while another process
holds it, and then fails with a message naming the holder. Read-only connections do not take it.

The lock is re-entrant within a process (a Dagster run opens the store once per step, in one
process with the in-process executor): the first holder in the process takes the file lock, later
ones only count, and the file lock is released when the last one lets go. The holder's pid, host,
command and start time are written into the lock file for the error message; the content is
informational only (the kernel's flock decides, and it is released when the process dies).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from nayose.errors import NayoseError

LOCK_TIMEOUT_ENV = "NAYOSE_LOCK_TIMEOUT"
DEFAULT_TIMEOUT = 300.0  # seconds a writer waits for another one to finish
POLL_SECONDS = 0.1


class StoreBusyError(NayoseError):
    """Another process is writing the store and did not finish within the wait."""


def lock_path(db_path: str | Path) -> Path:
    p = Path(db_path)
    return p.with_name(p.name + ".lock")


def default_timeout() -> float:
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise NayoseError(f"{LOCK_TIMEOUT_ENV}={raw!r}: not a number of seconds") from None
    return max(value, 0.0)


@dataclass
class _Held:
    fd: int
    count: int


_HELD: dict[str, _Held] = {}
_GUARD = threading.RLock()


def _key(path: Path) -> str:
    return str(path.resolve())


def _holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    parts = [f"pid {info.get('pid')}" if info.get("pid") else "another process"]
    if info.get("host"):
        parts.append(f"on {info['host']}")
    if info.get("since"):
        parts.append(f"since {info['since']}")
    if info.get("command"):
        parts.append(f"({info['command']})")
    return " ".join(parts)


def _try_flock(fd: int, kind: int) -> bool:
    """Take the flock `kind` (LOCK_SH / LOCK_EX) without waiting: False when another process holds it."""
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise
        return False
    return True


def _write_holder(fd: int) -> None:
    """Who holds the lock, written into the lock file for the error another process shows."""
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv[:3]))[:200],
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps(info).encode("utf-8"))


def acquire(db_path: str | Path, timeout: float | None = None) -> None:
    """Take the writer lock of the store at db_path (re-entrant within the process).

    Waits up to `timeout` seconds (default: $NAYOSE_LOCK_TIMEOUT, else 300 s) while another
    process holds it, then raises StoreBusyError."""
    db = Path(db_path)
    path = lock_path(db)
    key = _key(path)
    wait = default_timeout() if timeout is None else max(float(timeout), 0.0)
    with _GUARD:
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + wait
        try:
            while not _try_flock(fd, fcntl.LOCK_EX):
                if time.monotonic() >= deadline:
                    raise StoreBusyError(
                        f"{db}: the store is being written by {_holder(fd)}; waited {wait:g} s for it "
                        f"to finish. Run again when it has finished, or wait longer with {LOCK_TIMEOUT_ENV}."
                    )
                time.sleep(POLL_SECONDS)
            _write_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        _HELD[key] = _Held(fd, 1)


def release(db_path: str | Path) -> None:
    """Let go of one hold on the writer lock; the file lock is released with the last one."""
    key = _key(lock_path(db_path))
    with _GUARD:
        held = _HELD.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count > 0:
            return
        del _HELD[key]
        try:
            os.ftruncate(held.fd, 0)
        except OSError:
            pass
        fcntl.flock(held.fd, fcntl.LOCK_UN)
        os.close(held.fd)


def held_here(db_path: str | Path) -> bool:
    """Whether this process holds the writer lock of the store."""
    with _GUARD:
        return _key(lock_path(db_path)) in _HELD


@contextmanager
def writer_lock(db_path: str | Path, timeout: float | None = None) -> Iterator[None]:
    """`with writer_lock(db):` — hold the store's writer lock for the block."""
    acquire(db_path, timeout)
    try:
        yield
    finally:
        release(db_path)


@contextmanager
def reader_lock(db_path: str | Path) -> Iterator[None]:
    """`with reader_lock(db):` — a shared hold for a short read by a process that is not a writer
    (a sensor): raises StoreBusyError at once while another process writes, and makes a writer
    that starts meanwhile wait until the read is done (DuckDB refuses a writer while another
    process has the file open, even read-only). Within a writing process it does nothing."""
    if held_here(db_path):
        yield
        return
    path = lock_path(db_path)
    if not path.exists():
        yield
        return
    fd = os.open(path, os.O_RDWR)
    try:
        if not _try_flock(fd, fcntl.LOCK_SH):
            raise StoreBusyError(f"{db_path}: the store is being written by {_holder(fd)}")
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class RunBusyError(NayoseError):
    """Another process is running the same one-at-a-time job (an apply or undo of one plan)."""


@contextmanager
def exclusive_run(path: str | Path, what: str) -> Iterator[None]:
    """`with exclusive_run(lock_file, "apply of plan X"):` — the block runs in one process at a time.
    Does not wait: a second one fails at once with RunBusyError naming the holder (two applies of
    one plan interleaving their journal entries made the journal contradict the org). The kernel
    releases the lock when the process dies; a second hold within the process is refused too."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if not _try_flock(fd, fcntl.LOCK_EX):
            raise RunBusyError(f"{what} is already running ({_holder(fd)}); run again when it has finished")
        _write_holder(fd)
        try:
            yield
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
