"""Per-value work on both cores: a pure function mapped over many distinct values.

Normalization computes readings, company cores and the like once per distinct value in Python
(pykakasi, regular expressions). With the interpreter's lock that runs on one core while the
second waits: at a million records it is most of the normalize stage. `map_values` forks the
process once per call (the child shares every loaded table, the kanji dictionary included, copy
on write), computes the second half of the values in the child and the first half here, and
takes the child's results back through a pipe. The function must be pure (its result depends on
its argument only; anything it changes in the child is lost). Below `PARALLEL_MIN` values, where
platforms have no fork, with one core, or with NAYOSE_SERIAL set, it is a plain loop. If the
child fails in any way its half is computed here, so an error is raised by the same code and
value as in a serial run.

`Forked` runs one pure call in a forked child while the caller does other work (task
parallelism where the values are too few to split: normalize computes the companies in a child
while it does the names), with the same fallback.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")

# Fork, copy-on-write faults, pickling and the pipe cost ~0.1 s a call in a large process: at the
# 100k sample (~25,000 distinct company values) two processes were no faster; at 1M (~250,000)
# normalize went from 14.3 s to 13.0 s.
PARALLEL_MIN = 50_000


def _parallel() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) >= 2 and not os.environ.get("NAYOSE_SERIAL")


# A child forked while another thread of this process held a lock it then needs (an import in
# progress, a library's loading lock) waits for it forever. The parent does not wait with it: a
# child that has used no CPU for STUCK_SECONDS while its result is awaited is killed, and its work
# is done here instead (Linux: /proc; elsewhere the parent simply waits).
STUCK_SECONDS = 0.5


def _cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _receive(pid: int, src) -> bytes:
    """The child's whole output; b"" when it got stuck (then killed) -- the caller computes its
    part itself, as for a failed child."""
    fd = src.fileno()
    last = _cpu_ticks(pid)
    if last is not None:
        while not select.select([fd], [], [], STUCK_SECONDS)[0]:
            now = _cpu_ticks(pid)
            if now is None:  # gone: its exit status tells
                break
            if now == last:
                os.kill(pid, signal.SIGKILL)
                return b""
            last = now
    return src.read()


def map_values(fn: Callable[[object], T], values: Sequence) -> list[T]:
    """[fn(v) for v in values], the second half computed in a forked child (see the module doc)."""
    if len(values) < PARALLEL_MIN or not _parallel():
        return [fn(v) for v in values]
    half = len(values) // 2
    # (an error in the first half is raised here first, as a serial loop raises it, and the child
    # is killed on the way out; an error in the second half is raised by computing it here)
    with Forked(_mapped, fn, values[half:]) as tail:
        head = [fn(v) for v in values[:half]]
        return head + tail.result()


def _mapped(fn: Callable[[object], T], values: Sequence) -> list[T]:
    return [fn(v) for v in values]


class Forked:
    """`fn(*args)` computed in a forked child while the caller goes on with other work; `result()`
    takes it back. The same contract as `map_values`: `fn` is pure, and a child that fails in any
    way is replaced by computing `fn(*args)` here (so an error is raised by the same code, here).
    Without fork (see `_parallel`) `result()` simply computes it. Use it as a context manager:
    leaving the block without `result()` (an error meanwhile) kills the child."""

    def __init__(self, fn: Callable[..., T], *args) -> None:
        self.fn, self.args = fn, args
        self.pid: int | None = None
        self.src = None
        if not _parallel():
            return
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: compute, send, leave without running the parent's exit handlers
            status = 1
            try:
                os.close(read_end)
                data = pickle.dumps(fn(*args), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write_end, "wb") as out:
                    out.write(data)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        self.pid, self.src = pid, os.fdopen(read_end, "rb")

    def result(self) -> T:
        if self.pid is None:
            return self.fn(*self.args)
        pid, self.pid = self.pid, None
        try:
            data = _receive(pid, self.src)
        except BaseException:
            os.kill(pid, signal.SIGKILL)
            raise
        finally:
            self.src.close()
            _, status = os.waitpid(pid, 0)
        if status != 0 or not data:
            return self.fn(*self.args)
        return pickle.loads(data)

    def cancel(self) -> None:
        """Kill the child (its result is not wanted)."""
        if self.pid is None:
            return
        pid, self.pid = self.pid, None
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover - already gone
            pass
        self.src.close()
        os.waitpid(pid, 0)

    def __enter__(self) -> "Forked":
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()
