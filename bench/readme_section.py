"""Write a benchmark's figures into a Markdown file between its markers.

A section is `<!-- bench:NAME:start -->` ... `<!-- bench:NAME:end -->`; what is between is
replaced by the benchmark's Markdown, nothing else in the file changes.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def replace_section(name: str, md: str, path: Path = README) -> bool:
    """Put `md` between the `bench:NAME` markers of `path`; False when the file or a marker is missing."""
    if not path.exists():
        return False
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = path.read_text(encoding="utf-8")
    if start not in text or end not in text:
        return False
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{md}\n{end}", text, flags=re.S)
    path.write_text(text, encoding="utf-8")
    return True


def metrics_cells(row: dict) -> str:
    """The table cells the accuracy benchmarks share: all groups' precision / recall / **F1**, then
    the auto groups' precision / recall (`row["all"]`, `row["auto"]` as nayose.evaluate gives them)."""
    a, u = row["all"], row["auto"]
    return f"{a['precision']:.4f} / {a['recall']:.4f} / **{a['f1']:.4f}** | {u['precision']:.4f} / {u['recall']:.4f}"
