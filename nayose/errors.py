"""Errors a user can act on. Each names the file, and the row and column where they apply."""

from __future__ import annotations

from pathlib import Path


class NayoseError(Exception):
    """Base class for every error nayose reports to a user (CLI exit code 2)."""


class InputError(NayoseError):
    """Bad input data: names the file and, where it applies, the row (1-based line) and column."""

    def __init__(
        self,
        message: str,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class NoRecordsError(InputError):
    """An input file that holds no record (0 bytes, or a header and empty rows only): bad input for
    a plan, no change for an incremental night."""


class ConfigError(NayoseError):
    """The YAML configuration is invalid; names the file and the offending key."""
