"""What every stage returns: counts, timings and figures for the CLI summary and Dagster metadata."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass
class StageResult:
    """Outcome of one stage: the table it wrote, its row count, wall time and stage-specific stats."""

    stage: str
    table: str
    rows: int = 0
    seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)


@contextmanager
def timed(result: StageResult) -> Iterator[StageResult]:
    start = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = round(time.perf_counter() - start, 3)
