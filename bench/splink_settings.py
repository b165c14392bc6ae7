"""The Splink 5 configuration `bench/compare.py` runs against nayose, kept here so anyone can check it.

Splink runs on DuckDB (`splink.DuckDBAPI`) in its own process, in two steps, each a subprocess of
compare.py so its wall time and peak RSS are measured on their own:

1. ``preprocess``: the competent preprocessing a Splink user would write, taken from nayose so
   both systems see the same columns: the CSV is read by `nayose.records.load_records` and
   normalized by `nayose.normalize.normalize_records` (NFKC and width folding, names split,
   romaji readings of kanji / kana names so 佐藤 / サトウ / Sato compare equal, companies without
   legal forms, emails lower-cased without plus-tags, phones in E.164, mobiles apart, postal codes,
   prefectures, streets, birth dates as ISO). The columns Splink uses are written to Parquet.
2. ``run``: Splink itself (settings below): train, predict, cluster, write the clusters.

The model (one per kind of data: ``febrl`` — names, address, birth date — and ``salesforce`` —
the Japanese sample's Lead / Contact fields):

* **Blocking** for predictions (`_blocking`): names (surname + given name, the order-free name
  key so swapped fields meet), name + birth date, name + postcode, birth date + postcode / suburb,
  initials + birth date, street; for the Salesforce data the personal email, mobile, phone +
  surname, company + surname / given name, name + birth date / postcode, street + postcode. No
  rule is an exact match on one common field alone, so the blocked pairs stay in the millions at
  1M records.
* **Comparisons**: FEBRL — `ForenameSurnameComparison` (exact / swapped / Jaro-Winkler 0.92, 0.88 /
  surname only / given name only, with term-frequency adjustments on the full name, the surname and
  the given name), `DateOfBirthComparison`, Levenshtein on postcodes (term frequencies) and
  streets, Jaro-Winkler on the suburb (term frequencies), state. Salesforce — the names on their
  readings (custom levels: exact full name with term frequencies, swapped, Jaro-Winkler on both,
  surname with the given name missing or similar, surname with another given name, ...),
  `EmailComparison` on the personal email (role mailboxes such as info@ blanked; term frequencies on
  the exact level), exact mobile with term frequencies, one *workplace* comparison (company and
  switchboard / company / switchboard / similar company, term frequencies) and one *address*
  comparison (postcode and street / postcode / city), `DateOfBirthComparison`. Company, phone and
  address as separate comparisons made Splink link whole offices (see docs/benchmarks.md).
* **Training**: the prior from deterministic rules (`estimate_probability_two_random_records_match`,
  recall 0.7); u by random sampling (`estimate_u_using_random_sampling(max_pairs=1e7, seed=1)`);
  m by EM on three blocking rules (`_training`), each fixing u, capped at 2M pairs (`max_pairs`) so
  training stays bounded at 1M records.
* **Decision**: pairs predicted at match probability >= 0.01 are kept (for the precision-recall
  curve); clusters are the connected components of the pairs at match probability >= 0.9
  (`THRESHOLD`), Splink's `cluster_pairwise_predictions_at_threshold`. 0.9 is chosen a priori,
  not tuned on the truth: compare.py also reports the best F1 over all thresholds as a ceiling.

    python bench/splink_settings.py preprocess IN.csv OUT.parquet
    python bench/splink_settings.py run OUT.parquet OUTDIR --kind febrl|salesforce
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

THRESHOLD = 0.9
PREDICT_FLOOR = 0.01
U_MAX_PAIRS = 1e7
EM_MAX_PAIRS = 2e6
SEED = 1

# Columns of nayose's normalized_records handed to Splink.
INPUT_SQL = """
SELECT id AS unique_id,
       first_name, last_name, full_name, name_key,
       first_reading, last_reading,
       last_reading || ' ' || first_reading AS full_reading,
       company_core, email, phone, mobile,
       CASE WHEN email_is_role THEN NULL ELSE email END AS person_email,
       postal_code, prefecture, city, street, state, birthdate
FROM normalized_records
"""


def _blocking(kind: str) -> list:
    from splink import block_on

    if kind == "febrl":
        return [
            block_on("first_name", "last_name"),
            block_on("name_key"),
            block_on("last_name", "birthdate"),
            block_on("first_name", "birthdate"),
            block_on("last_name", "postal_code"),
            block_on("first_name", "postal_code"),
            block_on("birthdate", "postal_code"),
            block_on("birthdate", "city"),
            block_on("substr(last_name, 1, 1)", "substr(first_name, 1, 1)", "birthdate"),
            block_on("street"),
        ]
    if kind == "salesforce":
        return [
            block_on("person_email"),
            block_on("mobile"),
            block_on("phone", "last_reading"),
            block_on("company_core", "last_reading"),
            block_on("company_core", "first_reading"),
            block_on("name_key"),
            block_on("last_reading", "birthdate"),
            block_on("last_reading", "postal_code"),
            block_on("first_reading", "postal_code"),
            block_on("street", "postal_code"),
        ]
    raise ValueError(f"unknown kind {kind!r}")


def _comparisons(kind: str) -> list:
    import splink.comparison_library as cl

    names_raw = cl.ForenameSurnameComparison("first_name", "last_name", forename_surname_concat_col_name="full_name")
    dob = cl.DateOfBirthComparison("birthdate", input_is_string=True, datetime_format="%Y-%m-%d")
    if kind == "febrl":
        return [
            names_raw,
            dob,
            cl.LevenshteinAtThresholds("postal_code", [1]).configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("city", [0.9]).configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("street", [2, 5]),
            cl.ExactMatch("state"),
        ]
    import splink.comparison_level_library as cll

    # Company, switchboard and office address are shared by colleagues: as separate comparisons
    # Splink would add up their evidence as if independent and link whole departments, so each
    # family is one comparison with graded levels.
    workplace = cl.CustomComparison(
        output_column_name="workplace",
        comparison_levels=[
            cll.And(cll.NullLevel("company_core"), cll.NullLevel("phone")),
            cll.And(cll.ExactMatchLevel("company_core"), cll.ExactMatchLevel("phone")),
            cll.ExactMatchLevel("company_core").configure(tf_adjustment_column="company_core"),
            cll.ExactMatchLevel("phone").configure(tf_adjustment_column="phone"),
            cll.JaroWinklerLevel("company_core", 0.9),
            cll.ElseLevel(),
        ],
    )
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.And(cll.NullLevel("postal_code"), cll.NullLevel("street")),
            cll.And(cll.ExactMatchLevel("postal_code"), cll.ExactMatchLevel("street")),
            cll.ExactMatchLevel("postal_code"),
            cll.ExactMatchLevel("city"),
            cll.ElseLevel(),
        ],
    )
    # Readings, so kanji, kana and romaji of one name compare equal. ForenameSurnameComparison's
    # "surname only" level would also hold colleagues and relatives with another given name: a
    # missing given name and a different one are separate levels here.
    first, last = "first_reading", "last_reading"
    names = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.And(cll.NullLevel(first), cll.NullLevel(last)),
            cll.ExactMatchLevel("full_reading").configure(tf_adjustment_column="full_reading"),
            cll.ColumnsReversedLevel(first, last, symmetrical=True),
            cll.And(cll.JaroWinklerLevel(first, 0.92), cll.JaroWinklerLevel(last, 0.92)),
            cll.And(cll.JaroWinklerLevel(first, 0.88), cll.JaroWinklerLevel(last, 0.88)),
            cll.And(cll.ExactMatchLevel(last), cll.Or(cll.NullLevel(first), cll.JaroWinklerLevel(first, 0.7)))
            .configure(tf_adjustment_column=last),
            cll.And(cll.ExactMatchLevel(first), cll.Or(cll.NullLevel(last), cll.JaroWinklerLevel(last, 0.7)))
            .configure(tf_adjustment_column=first),
            cll.ExactMatchLevel(last).configure(label_for_charts="same surname, another given name"),
            cll.ExactMatchLevel(first).configure(label_for_charts="same given name, another surname"),
            cll.ElseLevel(),
        ],
    )
    return [
        names,
        cl.EmailComparison("person_email"),
        cl.ExactMatch("mobile").configure(term_frequency_adjustments=True),
        workplace,
        address,
        dob,
    ]


def _training(kind: str) -> tuple[list, list]:
    """(deterministic rules for the prior, EM blocking rules)."""
    from splink import block_on

    if kind == "febrl":
        return (
            [block_on("first_name", "last_name", "birthdate"), block_on("first_name", "last_name", "street")],
            [block_on("first_name", "last_name"), block_on("birthdate"), block_on("postal_code", "street")],
        )
    return (
        [block_on("name_key", "person_email"), block_on("name_key", "mobile"), block_on("name_key", "birthdate")],
        [block_on("mobile"), block_on("person_email"), block_on("name_key")],
    )


def settings(kind: str):
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=_comparisons(kind),
        blocking_rules_to_generate_predictions=_blocking(kind),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        max_iterations=25,
    )


def blocking_rules_sql(kind: str) -> list[str]:
    """The prediction blocking rules as DuckDB join conditions on `l` / `r` (for blocking recall)."""
    return [br.get_blocking_rule("duckdb").blocking_rule_sql for br in _blocking(kind)]


def preprocess(csv: str, out_parquet: str) -> dict:
    import duckdb

    from nayose.config import Config
    from nayose.normalize import normalize_records, preload
    from nayose.records import load_records

    secs: dict[str, float] = {}
    con = duckdb.connect()
    cfg = Config()
    preload()
    t = time.perf_counter()
    load_records(con, [csv], cfg)
    secs["read records"] = time.perf_counter() - t
    t = time.perf_counter()
    normalize_records(con, cfg)
    secs["normalize"] = time.perf_counter() - t
    t = time.perf_counter()
    lit = "'" + out_parquet.replace("'", "''") + "'"
    con.execute(f"COPY ({INPUT_SQL}) TO {lit} (FORMAT parquet)")
    secs["write parquet"] = time.perf_counter() - t
    rows = con.execute(f"SELECT count(*) FROM read_parquet({lit})").fetchall()[0][0]
    con.close()
    return {"rows": rows, "seconds": {k: round(v, 3) for k, v in secs.items()}}


def run(parquet: str, out_dir: str, kind: str) -> dict:
    import duckdb
    import splink
    from splink import DuckDBAPI, Linker

    logging.getLogger("splink").setLevel(logging.WARNING)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    secs: dict[str, float] = {}
    con = duckdb.connect()
    t = time.perf_counter()
    lit = "'" + parquet.replace("'", "''") + "'"
    con.execute(f"CREATE TABLE splink_input AS SELECT * FROM read_parquet({lit})")
    db_api = DuckDBAPI(connection=con)
    sdf = db_api.register("splink_input")
    linker = Linker(sdf, settings(kind))
    secs["load"] = time.perf_counter() - t

    t = time.perf_counter()
    deterministic, em_rules = _training(kind)
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
    for br in em_rules:
        linker.training.estimate_parameters_using_expectation_maximisation(br, max_pairs=EM_MAX_PAIRS)
    secs["train"] = time.perf_counter() - t

    t = time.perf_counter()
    pred = linker.inference.predict(threshold_match_probability=PREDICT_FLOOR)
    secs["predict"] = time.perf_counter() - t

    t = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, threshold_match_probability=THRESHOLD)
    secs["cluster"] = time.perf_counter() - t

    t = time.perf_counter()
    cl_lit = "'" + str(out / "clusters.csv").replace("'", "''") + "'"
    con.execute(f'COPY (SELECT unique_id AS "Id", cluster_id FROM {clusters.physical_name}) TO {cl_lit} (FORMAT csv, HEADER true)')
    pr_lit = "'" + str(out / "pairs.parquet").replace("'", "''") + "'"
    con.execute(f"COPY (SELECT unique_id_l AS left_id, unique_id_r AS right_id, match_probability "
                f"FROM {pred.physical_name}) TO {pr_lit} (FORMAT parquet)")
    secs["write outputs"] = time.perf_counter() - t
    pairs_out = con.execute(f"SELECT count(*) FROM {pred.physical_name}").fetchall()[0][0]
    model = out / "model.json"
    linker.misc.save_model_to_json(str(model), overwrite=True)
    con.close()
    return {
        "splink_version": splink.__version__,
        "duckdb_version": duckdb.__version__,
        "kind": kind,
        "threshold": THRESHOLD,
        "predicted_pairs_at_floor": pairs_out,
        "seconds": {k: round(v, 3) for k, v in secs.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("preprocess")
    p.add_argument("csv")
    p.add_argument("parquet")
    p.add_argument("--result")
    p = sub.add_parser("run")
    p.add_argument("parquet")
    p.add_argument("out_dir")
    p.add_argument("--kind", choices=("febrl", "salesforce"), required=True)
    p.add_argument("--result")
    a = ap.parse_args()
    res = preprocess(a.csv, a.parquet) if a.cmd == "preprocess" else run(a.parquet, a.out_dir, a.kind)
    text = json.dumps(res, indent=2)
    if a.result:
        Path(a.result).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
