"""Input fuzzing: hypothesis over the CSV reader (`nayose.records.load_records`), the config loader
(`nayose.config.load_config`) and the `nayose plan` command line.

Every generated case must end in one of two ways:

* a clear error: an `InputError` / `ConfigError` (a `NayoseError`) whose one-line message starts
  with the file name and, where it gives a row or a column, names a row of the file and a column of
  its header; through the CLI: exit code 2, one line on stderr, no traceback, and no output folder
  (not even a half-written one, nor a temporary folder left beside it);
* a correct result: the table holds exactly what Python's csv module reads from the decoded file
  (values trimmed, empty -> NULL, blank lines skipped).

Never anything else. The cases are generated (seeded: `derandomize=True`) from Salesforce-like
exports mutated with wrong and mixed encodings, BOMs, ragged rows, 1 MB cells, NUL bytes,
duplicate headers, formula cells, empty and 0-byte files and unterminated quotes; the figures
(cases per outcome) are reported at the end of the run.

The fixed bad-input catalogue (one case per message) is tests/nayose/test_records.py::test_bad_input
and tests/nayose/test_cli.py::test_bad_input_is_one_clear_line_exit_2_and_nothing_written.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nayose.config import Config, load_config
from nayose.errors import ConfigError, InputError, NayoseError
from nayose.records import load_records

ROOT = Path(__file__).resolve().parents[2]
WS = " \t\r\n\u00a0\u3000\ufeff"

READER_CASES = 200
CONFIG_CASES = 200
CLI_CASES = 25

# ---------------------------------------------------------------------------------------------
# generators

HEADER_POOL = ["Id", "LastName", "FirstName", "Company", "Email", "Phone", "MobilePhone", "Title",
               "LeadSource", "Description", "Object", "Custom__c", "会社名", "氏名", "メールアドレス",
               "email", "ID", "", " Id ", "=cmd|' /C calc'!A0", "Name\nBreak", "a,b", '"Q"']
FORMULAS = ["=1+1", "+81 3-1234-5678", "-2", "@SUM(A1)", "\t=x", "\r=y", "=HYPERLINK(\"http://x\",\"y\")"]
JAPANESE = "山田太郎佐藤花子髙橋①㈱株式会社サンプルｱｲｳｴｵ　ー～"


csv.field_size_limit(1 << 30)


class Case(tuple):
    """(label, bytes) whose repr stays short (hypothesis prints failing cases)."""

    def __repr__(self) -> str:
        data = self[1]
        shown = data if len(data) <= 300 else data[:150] + b"..." + data[-100:]
        return f"Case({self[0]!r}, {len(data)} bytes: {shown!r})"


def _id(n: int) -> str:
    return f"00Q5F{n:010d}"


cell_text = st.one_of(
    st.text(alphabet=st.sampled_from(list("abcXYZ019 ,;\"'\\\n\r\t\u00a0") + list(JAPANESE)), max_size=12),
    st.sampled_from(FORMULAS),
    st.sampled_from(["", " ", "\u3000", "NULL", "null"]),
)


SPECIAL = [
    ("zero bytes", b""),
    ("bom only", b"\xef\xbb\xbf"),
    ("newlines only", b"\n\r\n\n"),
    ("header only", b"Id,LastName\r\n"),
    ("utf-16", "Id,LastName\n00Q5F0000000001,山田\n".encode("utf-16")),
    ("nul", b"Id,LastName\n00Q5F0000000001,a\x00b\n"),
    ("xlsx", b"PK\x03\x04" + bytes(60)),
    ("unterminated", b'Id,LastName\n00Q5F0000000001,"open\n00Q5F0000000002,b\n'),
    ("quote after text", b'Id,LastName\n00Q5F0000000001,a"b"c\n'),
    ("text after quote", b'Id,LastName\n00Q5F0000000001,"a"b\n'),
    ("only a quote", b'"'),
    ("cr line ends", b"Id,LastName\r00Q5F0000000001,a\r00Q5F0000000002,b\r"),
    ("mixed encodings", "Id,LastName\n00Q5F0000000001,山田太郎さん\n".encode()
     + "00Q5F0000000002,佐藤\n".encode("cp932")),
    ("latin-1", "Id,LastName\n00Q5F0000000001,Müller Ångström\n".encode("latin-1")),
    ("1 MB cell", b"Id,Description\n00Q5F0000000001," + b"x" * (1 << 20) + b"\n00Q5F0000000002,y\n"),
    ("1 MB quoted cell with line breaks", b'Id,Description\n00Q5F0000000001,"'
     + (b"\xe5\xb1\xb1\xe7\x94\xb0\n" * 150_000) + b'"\n'),
    ("1 MB header", b"Id," + b"H" * (1 << 20) + b"\n00Q5F0000000001,x\n"),
    ("duplicate header", b"Id,Email,EMAIL\n00Q5F0000000001,a,b\n"),
    ("formula id", b"Id,LastName\n=HYPERLINK(1),a\n"),
    ("formula cells", b"Id,LastName,Phone\n00Q5F0000000001,=1+1,+81 3-1234\n00Q5F0000000002,@SUM(A1),-1\n"),
]


@st.composite
def csv_files(draw) -> Case:
    """A Data Loader style export: clean (valid CSV, any cell text), messy (duplicate / empty Ids,
    ragged rows, odd headers), mutated (bytes inserted, deleted, truncated) or a special case."""
    kind = draw(st.sampled_from(["clean", "clean", "clean", "messy", "mutated", "mutated", "special"]))
    if kind == "special":
        label, data = draw(st.sampled_from(SPECIAL))
        return Case((label, data))
    messy = kind == "messy"
    header = ["Id", *draw(st.lists(st.sampled_from(HEADER_POOL[1:14]), max_size=5, unique_by=str.casefold))]
    if messy and draw(st.booleans()):
        header.append(draw(st.sampled_from(HEADER_POOL)))  # maybe a duplicate, empty or odd name
    n_rows = draw(st.integers(0 if messy else 1, 6))
    rows = []
    for r in range(n_rows):
        row = [draw(cell_text) for _ in header]
        row[0] = draw(st.sampled_from([_id(r + 1), _id(1), "", "SN-1"])) if messy else _id(r + 1)
        if "Object" in header:
            row[header.index("Object")] = draw(st.sampled_from(["Lead", "contact", "", "Opportunity" if messy else "LEAD"]))
        if messy and draw(st.integers(0, 3)) == 0:  # ragged
            row = row + [draw(cell_text)] if draw(st.booleans()) else row[:-1]
        rows.append(row)
    buf = io.StringIO()
    csv.writer(buf, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows([header, *rows])
    text = buf.getvalue()
    if draw(st.integers(0, 5)) == 0:
        text += "\n\n"  # trailing blank lines
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "cp932"]))
    data = text.encode(encoding, errors="replace") if encoding != "cp932" else text.encode("cp932", errors="replace")
    label = f"{kind} {encoding}"
    if kind == "mutated":
        for _ in range(draw(st.integers(1, 3))):
            op = draw(st.sampled_from(["truncate", "insert", "delete", "bom", "nul", "quote", "bytes"]))
            pos = draw(st.integers(0, len(data)))
            if op == "truncate":
                data = data[:pos]
            elif op == "insert":
                data = data[:pos] + draw(st.sampled_from([b",", b"\n", b"\r", b'"', b'""', b"=", b"\xef\xbb\xbf"])) + data[pos:]
            elif op == "delete":
                data = data[:pos] + data[pos + 1:]
            elif op == "bom":
                data = b"\xef\xbb\xbf" + data
            elif op == "nul":
                data = data[:pos] + b"\x00" + data[pos:]
            elif op == "quote":
                data = data[:pos] + b'"' + data[pos:]
            else:
                data = data[:pos] + draw(st.binary(min_size=1, max_size=4)) + data[pos:]
            label += f" {op}"
    return Case((label, data))


# ---------------------------------------------------------------------------------------------
# the oracle


def expected_rows(data: bytes, encoding: str) -> tuple[list[str], list[list[str | None]]]:
    """What a correct reader returns: Python's csv module over the decoded text, values trimmed,
    empty -> None, blank records skipped."""
    text = data.decode(encoding)
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = [h.strip(WS) for h in next(reader)]
    out = []
    for rec in reader:
        if not rec or (len(rec) == 1 and not rec[0].strip(WS)):
            continue
        out.append([(v.strip(WS) or None) for v in rec])
    return header, out


def check_error(err: NayoseError, path: Path, data: bytes) -> None:
    msg = str(err)
    assert "\n" not in msg and msg.strip() == msg, repr(msg)
    assert isinstance(err, InputError), repr(err)
    assert err.file == str(path) and msg.startswith(str(path)), msg
    if err.row is not None:
        lines = data.count(b"\n") + data.count(b"\r") + 1
        assert 1 <= err.row <= lines + 1, (err.row, lines, msg)


# ---------------------------------------------------------------------------------------------
# the reader


READER_OUTCOMES: Counter[str] = Counter()


@pytest.fixture(scope="module")
def work():
    d = Path(tempfile.mkdtemp(prefix="nayose-fuzz-"))
    yield d
    import shutil

    shutil.rmtree(d, ignore_errors=True)


@settings(max_examples=READER_CASES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                                 HealthCheck.function_scoped_fixture])
@given(case=csv_files())
def test_reader_never_tracebacks_and_reads_correctly(work, case):
    label, data = case
    path = work / "export.csv"
    path.write_bytes(data)
    con = duckdb.connect()
    con.execute("CREATE TABLE raw_records AS SELECT 'sentinel' AS Id")
    try:
        result = load_records(con, [path], Config())
    except NayoseError as err:
        check_error(err, path, data)
        # nothing written: the previous table is untouched, no temp table / view left behind
        assert con.execute("SELECT Id FROM raw_records").fetchall() == [("sentinel",)]
        left = con.execute("SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '_nayose%' "
                           "UNION ALL SELECT view_name FROM duckdb_views() WHERE view_name LIKE '_nayose%'").fetchall()
        assert left == []
        READER_OUTCOMES["clear error"] += 1
        con.close()
        return
    # a correct result
    enc = result.stats["files"][0]["encoding"]
    header, rows = expected_rows(data, "utf-8-sig" if enc.startswith("utf-8") else enc)
    got = con.execute("SELECT * FROM raw_records").fetchall()
    cols = [d[0] for d in con.execute("SELECT * FROM raw_records LIMIT 0").description]
    assert len(got) == len(rows), (label, len(got), len(rows))
    id_pos = [h.casefold() for h in header].index("id")
    by_id = {r[cols.index("Id")]: r for r in got}
    for row in rows:
        assert row[id_pos] in by_id, (label, row[id_pos])
        rec = by_id[row[id_pos]]
        for name, value in zip(header, row):
            if name.casefold() in ("id", "object"):
                continue
            col = next(c for c in cols if c.casefold() == name.casefold())
            assert rec[cols.index(col)] == value, (label, name, rec[cols.index(col)], value)
    READER_OUTCOMES["correct result"] += 1
    con.close()


def test_reader_figures(figures):
    """Runs after the property test (file order): report how the generated cases ended."""
    total = READER_OUTCOMES["clear error"] + READER_OUTCOMES["correct result"]
    figures.update({"cases": total, "clear errors": READER_OUTCOMES["clear error"],
                    "correct results": READER_OUTCOMES["correct result"]})
    if total:  # both outcomes must have been exercised, else the generator is broken
        assert READER_OUTCOMES["clear error"] > total // 10 and READER_OUTCOMES["correct result"] > total // 10


# ---------------------------------------------------------------------------------------------
# the config loader


CONFIG_OUTCOMES: Counter[str] = Counter()
DEFAULT_DOC = Config().model_dump(mode="json")

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                         st.text(max_size=10), st.sampled_from(["[unclosed", "*", "((", "auto", "cp932", "Id", ".*"]))
yaml_values = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)


def _paths(doc, prefix=()):
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


ALL_PATHS = list(_paths(DEFAULT_DOC))


@st.composite
def config_files(draw) -> bytes:
    kind = draw(st.sampled_from(["mutated default", "mutated default", "random yaml", "bytes", "special"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "special":
        return draw(st.sampled_from([
            b"", b"\xef\xbb\xbf", b"---\n", b"- a\n- b\n", b"42\n", b"input: {encoding: latin-1}\n",
            b"matching: [unclosed\n", b"\xff\xfe" + "input: {}".encode("utf-16-le"), "input:\n  columns: {会社名: Company}\n".encode("cp932"),
            b"a: &x [*x]\n", b"[" * 2000 + b"]" * 2000, b"{" * 500, b"input: !!python/object/apply:os.system ['true']\n",
            b"delete_rules:\n  rules:\n    - {name: x, reason: y, fields: [LastName], patterns: ['(']}\n",
            b"matching:\n  blocking_rules:\n    - {name: x, keys: ['Email; DROP TABLE']}\n",
            b"input: {columns: {a: null}}\n", b"key: \x00\n", b"\t\tinput: {}\n",
        ]))
    if kind == "random yaml":
        doc = draw(st.dictionaries(st.sampled_from([*DEFAULT_DOC, "x"]), yaml_values, max_size=4))
    else:
        import copy

        doc = copy.deepcopy(DEFAULT_DOC)
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(ALL_PATHS))
            node = doc
            try:
                for k in path[:-1]:
                    node = node[k]
                node[path[-1]] = draw(yaml_values)
            except (KeyError, IndexError, TypeError):
                pass
    return yaml.safe_dump(doc, allow_unicode=True).encode("utf-8")


@settings(max_examples=CONFIG_CASES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=config_files())
def test_config_loader_never_tracebacks(work, data):
    path = work / "nayose.yaml"
    path.write_bytes(data)
    try:
        cfg = load_config(path)
    except ConfigError as err:
        msg = str(err)
        assert msg.startswith(str(path)) and "\n" not in msg.strip(), msg
        CONFIG_OUTCOMES["clear error"] += 1
        return
    assert isinstance(cfg, Config)
    # a valid config survives a round trip through its own YAML
    again = work / "again.yaml"
    again.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), allow_unicode=True), encoding="utf-8")
    assert load_config(again) == cfg
    CONFIG_OUTCOMES["valid"] += 1


def test_config_loader_special_paths(tmp_path, figures):
    """A folder, an unreadable file and a missing file are clear errors too."""
    for p in (tmp_path, tmp_path / "missing.yaml"):
        with pytest.raises(ConfigError, match=str(p)):
            load_config(p)
    if os.geteuid() != 0:
        locked = tmp_path / "locked.yaml"
        locked.write_text("input: {}\n", encoding="utf-8")
        locked.chmod(0)
        with pytest.raises(ConfigError, match="locked.yaml"):
            load_config(locked)
    figures.update({"cases": sum(CONFIG_OUTCOMES.values()), **CONFIG_OUTCOMES})


# ---------------------------------------------------------------------------------------------
# the command line: exit 2, one line, nothing written (or the whole output folder)


CLI_OUTCOMES: Counter[str] = Counter()
PLAN_FILES = {"clusters.csv", "pairs.csv", "evidence.csv", "account_pairs.csv", "lead_accounts.csv", "summary.json", "merge_plan.json", "merge_plan.csv",
              "field_changes.csv", "delete_plan.csv"}


@settings(max_examples=CLI_CASES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                                 HealthCheck.function_scoped_fixture])
@given(case=csv_files())
def test_cli_plan_exit_2_or_whole_outputs(work, capsys, case):
    from nayose.cli import main

    label, data = case
    root = Path(tempfile.mkdtemp(dir=work))
    path = root / "export.csv"
    path.write_bytes(data)
    out = root / "out"
    code = main(["plan", str(path), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nayose: error: ") and str(path) in lines[0], err
        assert not out.exists()
        CLI_OUTCOMES["exit 2"] += 1
    else:
        assert code == 0, (label, err)
        assert {p.name for p in out.iterdir()} == PLAN_FILES
        CLI_OUTCOMES["exit 0"] += 1
    assert sorted(p.name for p in root.iterdir()) == sorted(["export.csv"] + (["out"] if out.exists() else [])), \
        "a temporary output folder was left behind"


def test_cli_subprocess_bad_inputs(tmp_path, figures):
    """The real process: exit code 2, one stderr line, no traceback, nothing written."""
    cases = {"zero.csv": b"", "nul.csv": b"Id,LastName\n00Q5F0000000001,a\x00\n",
             "ragged.csv": b"Id,LastName\n00Q5F0000000001,a,b\n", "dup.csv": b"Id,ID\n1,2\n",
             "quote.csv": b'Id,LastName\n00Q5F0000000001,"a\n'}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        proc = subprocess.run([sys.executable, "-m", "nayose.cli", "plan", str(p), "--out", str(tmp_path / "out")],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()
    bad_cfg = tmp_path / "bad.yaml"
    bad_cfg.write_bytes(b"\xff\xfe\x00garbage")
    proc = subprocess.run([sys.executable, "-m", "nayose.cli", "config", "--check", str(bad_cfg)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    CLI_OUTCOMES["subprocess exit 2"] += len(cases) + 1
    figures.update({"cases": sum(CLI_OUTCOMES.values()), **CLI_OUTCOMES})


@pytest.mark.parametrize("argv, expect", [
    (["evaluate", "--clusters", "/nonexistent/c.csv", "--truth", "/nonexistent/t.csv"], "file not found"),
    (["plan", "{ok}", "--out", "/proc/nayose-forbidden/out", "--quiet"], "/proc/nayose-forbidden"),
    (["plan", "{ok}", "--out", "{tmp}/out", "--db", "/proc/nayose.duckdb", "--quiet"], "/proc/nayose.duckdb"),
    (["plan", "{ok}", "--out", "{tmp}/out", "--truth", "/nonexistent.csv", "--quiet"], "truth file not found"),
    (["config", "--check", "{tmp}"], "cannot read the config file"),
    (["apply", "{tmp}/missing.json", "--offline"], "plan not found"),
])
def test_cli_environment_errors_are_one_line(tmp_path, capsys, argv, expect):
    """Paths that cannot be read or written: one line, exit 2, no traceback (not only bad data)."""
    from nayose.cli import main

    ok = tmp_path / "ok.csv"
    ok.write_text("Id,LastName\n00Q5F0000000001,a\n00Q5F0000000002,b\n", encoding="utf-8")
    args = [a.format(ok=ok, tmp=tmp_path) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("nayose: error: ") and expect in err, err
    assert not (tmp_path / "out").exists()
