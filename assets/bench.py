"""Optional: the nayose-vs-Splink benchmark (`bench/compare.py`) as a Dagster asset and job.

`benchmark_job` materializes `benchmark_comparison`: it runs the comparison on small data by
default (FEBRL1, FEBRL3, the Japanese sample at 10k — a few minutes on two cores) in a work folder
of its own (bench/out/compare_dagster), and attaches the figures table, the time / memory / precision-
recall plots and the raw figures as materialization metadata. The published README figures come
from `make bench-compare` instead (all sizes up to 1M).

Needs the `bench` extra (`pip install -e '.[bench]'`: Splink) and a source checkout (bench/ is not
part of the installed package); without them the run fails with one line saying so.
"""

# No `from __future__ import annotations`: Dagster reads the config type at definition time.

import importlib.util
import sys
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parent.parent
COMPARE = ROOT / "bench" / "compare.py"
WORK = ROOT / "bench" / "out" / "compare_dagster"


class BenchmarkConfig(dg.Config):
    sets: list[str] = ["febrl1", "febrl3", "sample_10000"]
    splink_timeout_seconds: float = 900.0
    nayose_timeout_seconds: float = 900.0


def _compare_module():
    if not COMPARE.is_file():
        raise dg.Failure(description=f"{COMPARE} not found: the benchmark needs a source checkout", allow_retries=False)
    if importlib.util.find_spec("splink") is None:
        raise dg.Failure(description="Splink is not installed: pip install -e '.[bench]'", allow_retries=False)
    spec = importlib.util.spec_from_file_location("nayose_bench_compare", COMPARE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dg.asset(
    group_name="bench",
    description="nayose and Splink 5 on the same data: wall time, peak memory, pairwise precision / recall / F1, "
    "blocking recall, precision-recall curves (bench/compare.py).",
)
def benchmark_comparison(context: dg.AssetExecutionContext, config: BenchmarkConfig) -> dg.MaterializeResult:
    from assets.metadata import png_markdown

    compare = _compare_module()
    unknown = [s for s in config.sets if s not in compare.DATASETS and s not in compare.SETS]
    if unknown:
        raise dg.Failure(description=f"unknown data sets {unknown}; known: {', '.join(compare.DATASETS)}", allow_retries=False)
    keys: list[str] = []
    for s in config.sets:
        for k in compare.SETS.get(s, [s]):
            if k not in keys:
                keys.append(k)
    res = compare.run_compare(
        keys, out=WORK, img=WORK / "img", update_docs=False, make_plots=True,
        splink_timeout=config.splink_timeout_seconds, nayose_timeout=config.nayose_timeout_seconds, merge=False,
    )
    table = "\n".join(line for line in res["markdown"].splitlines() if not line.startswith("!["))
    metadata: dict[str, dg.MetadataValue] = {"figures": dg.MetadataValue.md(table)}
    for p in res["plots"]:
        path = Path(p)
        metadata[path.stem] = dg.MetadataValue.md(png_markdown(path.read_bytes(), path.stem))
        metadata[f"{path.stem}_path"] = dg.MetadataValue.path(str(path))
    summary = {
        r["key"]: {
            s: {"seconds": r[s].get("wall_seconds"), "peak_rss_gb": round((r[s].get("peak_rss_bytes") or 0) / 1024**3, 3),
                "f1": (r[s].get("pairwise") or {}).get("f1"), "blocking_recall": r[s].get("blocking_recall"),
                "timed_out": r[s].get("timed_out")}
            for s in ("nayose", "splink")
        }
        for r in res["results"]
    }
    metadata["results"] = dg.MetadataValue.json(summary)
    metadata["machine"] = dg.MetadataValue.json(res["machine"])
    for r in res["results"]:
        if r.get("ratio"):
            metadata[f"{r['key']}_speedup"] = dg.MetadataValue.float(float(r["ratio"]["speedup_end_to_end"]))
    context.log.info("benchmark: %s", ", ".join(keys))
    return dg.MaterializeResult(metadata=metadata)


benchmark_job = dg.define_asset_job(
    name="benchmark_job",
    selection=dg.AssetSelection.assets(benchmark_comparison),
    executor_def=dg.in_process_executor,
    description="nayose vs Splink 5 on small data (bench/compare.py): figures and plots as metadata. Needs the bench extra.",
)

BENCH_ASSETS = [benchmark_comparison]
