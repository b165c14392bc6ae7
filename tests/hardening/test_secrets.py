"""Secrets: the password, the security token, the consumer secret and the session token never appear
in any artefact of a run.

The whole loop runs through the command line (`nayose.cli.main`, in this process so every log
record is captured at DEBUG, urllib3's and simple-salesforce's included) against the local fake org
over HTTPS, with known secrets in the NAYOSE_SF_* environment (OAuth username-password flow):
extract (Salesforce + Pardot) -> plan -> apply (dry run) -> apply --execute -> undo (dry run), plus
failing runs (a wrong password, a server error mid-extract) and a run after the session expired. Then
every artefact is searched for every secret in its raw, URL-encoded and XML-escaped forms: every
file under out/ (CSVs, JSON, reports, the extracted CSV), every DuckDB table dumped as text, the raw
bytes of the DuckDB files (and the lock file), the captured logs, stdout and stderr, and the text
and repr of every exception.

Dagster metadata, run config and failures are searched the same way in
tests/pipelines/test_dagster_salesforce_source.py::test_extract_then_raw_records_from_salesforce and
::test_bad_credentials_fail_with_a_scrubbed_message; the journal under faults in
tests/nayose/test_apply.py::test_no_secret_in_journal_report_logs_or_errors.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape

import duckdb

from nayose.cli import main
from nayose.fakeorg.server import FakeOrg

PASSWORD = "S3cret-パス&<pw>+/=!"
TOKEN = "SecTokHardening0099"
CONSUMER_SECRET = "ConsumerSecret-Hardening-7788"


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), escape(secret)}


def test_no_secret_in_any_artefact(tmp_path, monkeypatch, caplog, capsys, figures):
    from test_extract import seed

    store, _ = seed(6)
    out = tmp_path / "out"
    db = tmp_path / "data" / "nayose.duckdb"
    texts: dict[str, str] = {}
    caplog.set_level(logging.DEBUG)
    with FakeOrg(store, password=PASSWORD, security_token=TOKEN) as org:
        env = {
            "NAYOSE_SF_LOGIN_URL": org.instance_url, "NAYOSE_SF_USERNAME": org.username,
            "NAYOSE_SF_PASSWORD": PASSWORD, "NAYOSE_SF_SECURITY_TOKEN": TOKEN,
            "NAYOSE_SF_CONSUMER_KEY": org.consumer_key, "NAYOSE_SF_CONSUMER_SECRET": CONSUMER_SECRET,
            "NAYOSE_SF_CA_BUNDLE": org.ca_path, "NAYOSE_SF_BACKOFF": "0.01", "NAYOSE_SF_MAX_RETRIES": "1",
            "NAYOSE_PARDOT_BASE_URL": org.pardot_base_url, "NAYOSE_PARDOT_BUSINESS_UNIT_ID": org.business_unit_id,
            "NAYOSE_LOCK_TIMEOUT": "30",
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)

        codes = []

        def run(*args) -> int:
            argv = [str(a) for a in args]
            code = main(argv)
            cap = capsys.readouterr()
            texts[f"stdout {' '.join(argv[:2])} #{len(codes)}"] = cap.out
            texts[f"stderr {' '.join(argv[:2])} #{len(codes)}"] = cap.err
            codes.append(code)
            return code

        assert run("extract", "--out", out / "extract", "--db", db, "--pardot", "--mode", "rest") == 0
        assert run("plan", out / "extract" / "salesforce_records.csv", "--out", out / "plan", "--db", db) == 0
        plan = out / "plan" / "merge_plan.json"
        assert run("apply", plan, "--deletes", out / "plan" / "delete_plan.csv", "--db", db,
                   "--report", out / "apply_dry.json") == 0
        assert run("apply", plan, "--deletes", out / "plan" / "delete_plan.csv", "--db", db, "--execute",
                   "--report", out / "apply_exec.json") in (0, 1)
        assert json.loads((out / "apply_exec.json").read_text(encoding="utf-8"))["steps_done"] >= 1
        assert run("undo", plan, "--db", db, "--report", out / "undo_dry.json") in (0, 1)
        # failing runs: a server error mid-extract, an expired session, a wrong password
        org.faults.status(500, "GET", r"/query", times=None)
        assert run("extract", "--out", out / "extract2", "--db", db, "--full") == 2
        org.faults.clear()
        token = org.access_token
        org.rotate_access_token()
        # (the old session expired: the next command logs in again and gets a new token, also a secret)
        assert run("apply", plan, "--db", db, "--execute", "--report", out / "apply_again.json") == 0
        monkeypatch.setenv("NAYOSE_SF_PASSWORD", PASSWORD + "x")
        assert run("extract", "--out", out / "extract3", "--db", db) == 2
        secrets = [PASSWORD, TOKEN, PASSWORD + TOKEN, CONSUMER_SECRET, token, org.access_token]
    err = "".join(v for k, v in texts.items() if k.startswith("stderr"))
    assert "HTTP 500" in err and "authentication failure" in err  # the failures were named

    texts["logs"] = caplog.text + "\n".join(f"{r.name} {r.msg} {r.args}" for r in caplog.records)
    blobs: dict[str, bytes] = {}
    for p in sorted(tmp_path.rglob("*")):
        if p.is_file():
            blobs[str(p.relative_to(tmp_path))] = p.read_bytes()  # out/, the DuckDB file, its WAL, the lock
    con = duckdb.connect(str(db), read_only=True)
    try:
        for (t,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            rows = con.execute(f'SELECT * FROM "{t}"').fetchall()
            texts[f"table {t}"] = "\n".join(map(str, rows))
    finally:
        con.close()
    checked_text = sum(len(v.encode("utf-8")) for v in texts.values())
    checked_bytes = sum(len(v) for v in blobs.values())
    leaks = []
    for s in secrets:
        for f in forms(s):
            leaks += [name for name, text in texts.items() if f in text]
            leaks += [name for name, data in blobs.items() if f.encode("utf-8") in data]
    assert not leaks, sorted(set(leaks))
    assert "table apply_journal" in texts and "table sf_records" in texts and len(blobs) >= 10
    figures.update({"secrets": len(secrets), "forms per secret": 4, "files": len(blobs),
                    "tables dumped": sum(k.startswith("table ") for k in texts), "log records": len(caplog.records),
                    "bytes grepped": checked_text + checked_bytes, "leaks": 0})
