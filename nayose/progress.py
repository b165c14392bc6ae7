"""Progress on stderr (rich) for every stage; silent with --quiet."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator



class StageProgress:
    """One progress line per stage: a spinner, or a bar where the stage reports its total."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        if enabled:  # rich is imported only when there is something to show (--quiet skips ~25 ms)
            from rich.console import Console
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
            )
        self._progress = (
            Progress(
                SpinnerColumn(),
                TextColumn("{task.description:<14}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            if enabled
            else None
        )
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> "StageProgress":
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        if self._progress is None:
            yield
            return
        task = self._progress.add_task(label, total=None)
        self._tasks[label] = task
        try:
            yield
        except BaseException:
            # A failed stage leaves no bar behind: the error is the one line the user reads.
            self._progress.remove_task(task)
            raise
        t = self._progress.tasks[task]
        total = t.total if t.total is not None else 1
        self._progress.update(task, total=total, completed=total)

    def advance_callback(self, label: str) -> Callable[[int, int], None] | None:
        """A callback(done_now, total) for stages that can count their work."""
        if self._progress is None:
            return None

        def advance(done: int, total: int) -> None:
            task = self._tasks.get(label)
            if task is not None:
                self._progress.update(task, total=total, advance=done)

        return advance
