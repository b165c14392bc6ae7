"""Where raw_records comes from: the seam for record sources.

A source turns the run config into CSV files the engine's `load_records` reads (Salesforce Data
Loader style: Id, Object, source columns). Today: the built-in synthetic sample org, or CSV
exports already on disk. A Salesforce / Pardot source (a later issue) is one more function in
SOURCES that exports the objects to CSV files under the data folder and returns them the same
way; the assets do not change.
"""


from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import dagster as dg
from pydantic import Field

from nayose.errors import NayoseError

SourceName = Literal["sample", "csv", "salesforce"]


class RecordsSourceConfig(dg.Config):
    """Run config of raw_records: which records to load."""

    source: SourceName = Field(
        default="sample",
        description=(
            "'sample': generate the built-in synthetic Salesforce org; 'csv': load csv_paths; 'salesforce': load "
            "the CSV the salesforce_records asset extracted (job salesforce_extract_job)."
        ),
    )
    sample_records: int = Field(default=10_000, ge=1, description="Records in the generated sample org.")
    sample_seed: int = Field(default=42, description="Random seed of the generated sample org.")
    sample_accounts: bool = Field(
        default=False,
        description="Also load the sample org's Account export (business Accounts, matched as companies); its truth "
                    "joins the people's.",
    )
    csv_paths: list[str] = Field(
        default_factory=list,
        description="CSV exports to load when source is 'csv' (UTF-8, UTF-8 with BOM or CP932).",
    )


@dataclass
class SourceFiles:
    """What a source produced: the CSV files to load, and a truth file when the source knows one."""

    source: str
    paths: list[Path]
    truth_csv: Path | None = None
    details: dict = field(default_factory=dict)


def sample_source(config: RecordsSourceConfig, data_dir: Path) -> SourceFiles:
    """Write the synthetic sample org (and its truth: Id, entity_id) under data_dir."""
    from nayose.sample import write_sample

    data_dir.mkdir(parents=True, exist_ok=True)
    stem = f"sample_{config.sample_records}_seed{config.sample_seed}"
    out_csv = data_dir / f"{stem}.csv"
    truth_csv = data_dir / f"{stem}.truth.csv"
    if not config.sample_accounts:
        stats = write_sample(config.sample_records, config.sample_seed, out_csv, truth_csv)
        return SourceFiles("sample", [out_csv], truth_csv, {"sample": stats or {}})
    accounts_csv = data_dir / f"{stem}.accounts.csv"
    stats = write_sample(config.sample_records, config.sample_seed, out_csv, data_dir / f"{stem}.people.truth.csv",
                         accounts_csv=accounts_csv)
    # one truth for both (entity ids do not collide: P… people, C… / B… / N… / G… companies)
    with open(truth_csv, "w", encoding="utf-8") as f:
        for i, part in enumerate((data_dir / f"{stem}.people.truth.csv", accounts_csv.with_name(accounts_csv.stem + ".truth.csv"))):
            lines = part.read_text(encoding="utf-8").splitlines(keepends=True)
            f.writelines(lines if i == 0 else lines[1:])
    return SourceFiles("sample", [out_csv, accounts_csv], truth_csv, {"sample": stats or {}})


def csv_source(config: RecordsSourceConfig, data_dir: Path) -> SourceFiles:
    """CSV exports already on disk."""
    if not config.csv_paths:
        raise NayoseError("source 'csv' needs csv_paths (one or more CSV files)")
    paths = [Path(p) for p in config.csv_paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise NayoseError(f"{', '.join(missing)}: file not found")
    return SourceFiles("csv", paths)


def salesforce_source(config: RecordsSourceConfig, data_dir: Path) -> SourceFiles:
    """The Data Loader style CSV that the salesforce_records asset wrote under data_dir."""
    import json

    from nayose.extract import SALESFORCE_CSV

    path = data_dir / SALESFORCE_CSV
    if not path.is_file():
        raise NayoseError(
            f"{path}: no Salesforce extract yet; materialize salesforce_records (job salesforce_extract_job) first"
        )
    details: dict = {}
    summary = path.with_suffix(".json")
    if summary.is_file():
        try:
            details = {"salesforce": json.loads(summary.read_text(encoding="utf-8"))}
        except (OSError, ValueError):
            details = {}
    return SourceFiles("salesforce", [path], None, details)


SOURCES: dict[str, Callable[[RecordsSourceConfig, Path], SourceFiles]] = {
    "sample": sample_source,
    "csv": csv_source,
    "salesforce": salesforce_source,
}


def resolve_source(config: RecordsSourceConfig, data_dir: Path) -> SourceFiles:
    """Choose and run the source named in the run config."""
    try:
        source = SOURCES[config.source]
    except KeyError:
        raise NayoseError(f"unknown source {config.source!r}; one of {', '.join(SOURCES)}") from None
    return source(config, data_dir)
