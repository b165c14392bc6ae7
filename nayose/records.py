"""Records stage: Salesforce Data Loader CSVs and business-card exports -> one DuckDB table.

`load_records` reads one or more CSV files into `raw_records` (or the table you name):

    Id, Object, <every source column, under its mapped name>, _source_file, _source_row

* Headers are Salesforce API field names (Data Loader writes them in upper case; the standard
  Lead / Contact fields are given their canonical spelling, e.g. FIRSTNAME -> FirstName). Other
  exports (Sansan: 会社名, 氏名, メールアドレス ...) are renamed through `input.columns`; a mapping
  naming a header the file lacks is ignored, so one config can serve several exports. Custom
  (`*__c`) and unknown columns are carried through unchanged. Files are unioned by column name
  (case-insensitive, as DuckDB names are); a column a file lacks is NULL for its rows.
* Every value is VARCHAR, trimmed of surrounding whitespace (ASCII, NBSP and the full-width
  space U+3000); an empty value is NULL.
* `Object` comes from an `Object` column (Lead / Contact / Account, any case) where it is filled
  (it wins over the Id prefix), else from the Id prefix (00Q Lead, 003 Contact, 001 Account),
  else `input.default_object`, else the load fails naming the row. A filled Object value that is
  not one of the three is an error (a typo must not be silently replaced by the prefix).
* Blank lines are skipped (DuckDB does so; in a one-column file they are dropped explicitly).
* `_source_file` is the path as given; `_source_row` is the 1-based physical line on which the
  record starts (the header is line 1), counting the lines of quoted multi-line values and any
  blank lines. (If the line count cannot be reconciled - which needs a file DuckDB and Python's
  csv module parse differently - it falls back to data-row number + 1; the file's stats say
  which with `source_row: "line" | "record"`.)
* Encodings: `auto` takes a file that is valid UTF-8 (with or without BOM) as UTF-8, else a file
  that decodes strictly as CP932 (Shift_JIS with the Windows extensions: ①, ㈱, 髙 ...) as CP932,
  else fails naming the line of the first undecodable bytes (a file with valid multi-byte UTF-8
  before its first bad bytes is reported as broken UTF-8, never re-read as CP932 mojibake).
  An explicit encoding is honoured
  as given (`shift_jis` is Python's strict JIS X 0208 codec; use `cp932` for Windows exports).
  CP932 is transcoded to a temporary UTF-8 file in 16 MiB chunks and then read by DuckDB.

Speed: the CSV is parsed by DuckDB's `read_csv` (strict mode, explicit dialect, all VARCHAR),
trimmed while it is read, and checked (empty / duplicate Ids, objects) with SQL. Python only
reads the first MiB (header, sniffing) and counts newlines; it decodes the whole file only
when it must (CP932, or to locate invalid UTF-8 that DuckDB reported).

Bad input raises a one-line `InputError` naming the file, and the row (line) and column where
they apply; the target table is only written (CREATE OR REPLACE) once every check has passed.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from nayose.config import SALESFORCE_OBJECTS, STANDARD_FIELDS, Config
from nayose.errors import InputError, NoRecordsError
from nayose.stage import StageResult, fine_grained_scans, timed

STAGE = "records"

#: Salesforce Id key prefixes -> object.
ID_PREFIXES = {"00Q": "Lead", "003": "Contact", "001": "Account"}
#: A Salesforce record Id in its 15-character, case-sensitive form.
SALESFORCE_ID15_RE = "[0-9A-Za-z]{15}"
_ID18_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(id15: str) -> str:
    """A 15-character Salesforce Id in its 18-character form: each 5-character chunk adds the letter
    that encodes which of its characters are upper case (bit i for character i)."""
    out = id15
    for k in range(0, 15, 5):
        out += _ID18_SUFFIX[sum(1 << i for i, ch in enumerate(id15[k:k + 5]) if "A" <= ch <= "Z")]
    return out


@contextmanager
def utf8_view(path: str | Path, what: str = "file"):
    """`with utf8_view(path) as readable:` -- the path to give DuckDB's CSV reader for a small side
    file (a truth file, a prospects export): the file itself when it is UTF-8 (with or without BOM),
    else a temporary UTF-8 copy of its CP932 text (removed afterwards). Neither: an InputError."""
    p = Path(path)
    data = p.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp932")
        except UnicodeDecodeError:
            raise InputError(f"{what} is neither UTF-8 nor CP932", str(p)) from None
        fd, name = tempfile.mkstemp(suffix=".csv", prefix="nayose-utf8-")
        try:
            with open(fd, "w", encoding="utf-8", newline="") as f:
                f.write(text)
            yield Path(name)
        finally:
            Path(name).unlink(missing_ok=True)
        return
    yield p


def canonical_id(record_id: str) -> str:
    """A record's Id as one form: a 15-character Salesforce Id in its 18-character form, any other as written."""
    return id18(record_id) if len(record_id) == 15 and record_id.isascii() and record_id.isalnum() else record_id


def canonical_id_sql(expr: str) -> str:
    """SQL twin of canonical_id: a 15-character Salesforce Id in its 18-character form, any other as written."""
    return f"CASE WHEN regexp_full_match({expr}, {_lit(SALESFORCE_ID15_RE)}) THEN {id18_sql(expr)} ELSE {expr} END"


def id18_sql(expr: str) -> str:
    """SQL twin of id18 for a 15-character Id expression."""
    def chunk(k: int) -> str:
        bits = " + ".join(f"(CASE WHEN ascii(substr({expr}, {k + i + 1}, 1)) BETWEEN 65 AND 90 THEN {1 << i} ELSE 0 END)"
                          for i in range(5))
        return f"substr('{_ID18_SUFFIX}', 1 + {bits}, 1)"
    return f"({expr} || {chunk(0)} || {chunk(5)} || {chunk(10)})"

_CANONICAL = {f.casefold(): f for f in STANDARD_FIELDS}

#: Output columns the stage adds itself; a source column may not take these names.
RESERVED = ("_source_file", "_source_row")

_CHUNK = 16 << 20  # streaming block size
_HEAD = 1 << 20  # bytes read for the header and sniffing
_BOM = b"\xef\xbb\xbf"
# Surrounding whitespace trimmed from values: space, tab, LF, CR, NBSP, ideographic space.
_WS_CLASS = r"[ \t\n\r\x{00A0}\x{3000}]"  # (RE2)
_WS_ENDS_RE = f"^{_WS_CLASS}|{_WS_CLASS}$"
_WS_SQL = "(' ' || chr(9) || chr(10) || chr(13) || chr(160) || chr(12288))"
_WS_PY = " \t\r\n\u00a0\u3000\ufeff"
# Python's cp932 codec maps the bytes 0x80, 0xA0, 0xFD-0xFF (unassigned in CP932) to U+0080 and
# private-use U+F8F0-F8F3 instead of failing; a strict decode treats them as undecodable.
_CP932_UNASSIGNED = "\u0080\uf8f0\uf8f1\uf8f2\uf8f3"
_UTF8_EVIDENCE = 8  # bytes of valid multi-byte UTF-8 (~3 Japanese characters) that rule out CP932
_SF_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_CODECS = {"cp932": "cp932", "shift_jis": "shift_jis"}
_MALFORMED_QUOTE = "malformed quoted value (an unterminated quote, or text after a closing quote)"


@dataclass
class _File:
    """One input file while it is being loaded."""

    index: int
    given: str  # the path as given (goes into _source_file)
    path: Path
    encoding: str = "utf-8"
    data_path: Path | None = None  # the UTF-8 file DuckDB reads (a temp file after transcoding)
    header: list[str] = field(default_factory=list)  # source header names (trimmed)
    fields: int = 0  # fields per row: the header's, with trailing unnamed ones (Excel's ",,,")
    names: list[str] = field(default_factory=list)  # output names after mapping
    mapped: dict[str, str] = field(default_factory=dict)
    id_pos: int = -1
    object_pos: int | None = None
    header_lines: int = 1
    lines: int = 0  # physical lines with content (trailing blank lines not counted)
    rows: int = 0
    table: str = ""
    source_row: str = "line"


@dataclass
class _Undecodable:
    offset: int
    line: int
    bad: bytes
    #: For UTF-8: bytes of valid multi-byte characters before the failure (evidence the file is UTF-8).
    evidence: int = 0


# --------------------------------------------------------------------------------------------
# public entry point


def load_records(
    con: duckdb.DuckDBPyConnection,
    paths: list[str | Path],
    config: Config,
    table: str = "raw_records",
) -> StageResult:
    """Read Salesforce / business-card CSV exports into `table` (see the module docstring)."""
    result = StageResult(stage=STAGE, table=table)
    with timed(result):
        if isinstance(paths, (str, Path)):
            paths = [paths]
        if not paths:
            raise InputError("no input files given")
        token = uuid.uuid4().hex[:12]
        tmpdir: list[Path] = []  # created on first need
        temps: list[str] = []
        view = f"_nayose_records_{token}"
        # Line numbers come from the order rows are inserted in: make sure DuckDB keeps file order.
        keep_order = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
        if not keep_order:
            con.execute("SET preserve_insertion_order = true")
        try:
            files = []
            for i, given in enumerate(paths):
                f = _File(index=i, given=str(given), path=Path(given), table=f"_nayose_rec_{token}_{i}")
                temps.append(f.table)
                _load_file(con, f, config, tmpdir)
                files.append(f)
            columns = _union_columns(files)
            with fine_grained_scans(con, sum(f.rows for f in files)):
                # (the checks read a view of the Id and Object columns alone: binding every column's
                # trim expression costs ~10 ms a query)
                _create_view(con, f"{view}_check", files, [], config)
                _validate(con, f"{view}_check", files)
                _create_view(con, view, files, columns, config)
                out_cols = ", ".join(_q(c) for c in columns)
                con.execute(
                    f"CREATE OR REPLACE TABLE {_q(table)} AS SELECT Id, Object"
                    f"{', ' + out_cols if out_cols else ''}, _source_file, _source_row FROM {_q(view)}"
                )
                counts = dict(con.execute(f"SELECT Object, count(*) FROM {_q(table)} GROUP BY Object").fetchall())
        finally:
            con.execute(f"DROP VIEW IF EXISTS {_q(view)}")
            con.execute(f"DROP VIEW IF EXISTS {_q(view + '_check')}")
            for t in temps:
                con.execute(f"DROP TABLE IF EXISTS {_q(t)}")
            for d in tmpdir:
                shutil.rmtree(d, ignore_errors=True)
            if not keep_order:
                con.execute("SET preserve_insertion_order = false")
        result.rows = sum(f.rows for f in files)
        result.stats = {
            "files": [
                {
                    "path": f.given,
                    "encoding": f.encoding,
                    "rows": f.rows,
                    "columns": f.names,
                    "mapped": f.mapped,
                    "source_row": f.source_row,
                }
                for f in files
            ],
            "objects": {o: int(counts.get(o, 0)) for o in SALESFORCE_OBJECTS},
        }
    return result


# --------------------------------------------------------------------------------------------
# one file


def _load_file(con: duckdb.DuckDBPyConnection, f: _File, config: Config, tmpdir: list[Path]) -> None:
    p = f.path
    try:
        if not p.exists():
            raise InputError("file not found", f.given)
        if not p.is_file():
            raise InputError("not a file" + (" (it is a directory)" if p.is_dir() else ""), f.given)
        size = p.stat().st_size
        with open(p, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror or exc}", f.given) from None
    if size == 0:
        raise NoRecordsError("empty file (0 bytes)", f.given)
    _sniff_binary(f, head)

    wanted = config.input.encoding
    lines_future = None
    if wanted in _CODECS:
        _transcode_or_fail(f, _CODECS[wanted], tmpdir, utf8_error=None)
    else:
        bad = _utf8_head_error(head, whole=size <= _HEAD)
        if bad is None:
            f.data_path = _glob_safe(p, f, tmpdir)
            f.encoding = "utf-8-sig" if head.startswith(_BOM) else "utf-8"
            # (counted by a thread while DuckDB parses the file: both read it from the page cache)
            counting = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nayose-count-lines")
            lines_future = counting.submit(_count_lines, p)
            counting.shutdown(wait=False)
        elif wanted == "auto":
            _transcode_or_fail(f, "cp932", tmpdir, utf8_error=bad)
        else:
            raise _decode_error(f, wanted, bad)

    _read_header(f, config)
    # (rows with surplus empty fields are looked for on a second connection while DuckDB reads;
    # the look ends before this function does, whatever happens: no query outlives the stage)
    checking = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nayose-extra-fields")
    extra_future = checking.submit(_lines_with_extra_fields, con, f)
    checking.shutdown(wait=False)
    try:
        try:
            _read_csv(con, f)
            if lines_future is not None:
                f.lines = lines_future.result()
        except _InvalidUtf8:
            # DuckDB met invalid UTF-8 after the first MiB: locate it exactly, then try CP932.
            bad = _scan_utf8(p)
            if bad is None:  # pragma: no cover - DuckDB and Python disagree on UTF-8 validity
                raise InputError("invalid UTF-8 (reported by DuckDB)", f.given) from None
            if wanted != "auto":
                raise _decode_error(f, wanted, bad) from None
            _transcode_or_fail(f, "cp932", tmpdir, utf8_error=bad)
            _read_header(f, config)
            _read_csv(con, f)
            extra_future.result()
            suspect = _lines_with_extra_fields(con, f)  # (the decoded file's)
        else:
            suspect = extra_future.result()
        _number_lines(con, f)
        _drop_empty_rows(con, f)
        _check_unnamed_fields(con, f)
    finally:
        wait([extra_future])  # (its outcome is read above, or an error is already on its way)
    if suspect:
        _check_extra_empty_fields(f)


def _drop_empty_rows(con: duckdb.DuckDBPyConnection, f: _File) -> None:
    """Rows with every field empty (",,,,": what Excel writes for rows whose cells were cleared) are
    skipped like blank lines, after the lines are numbered; they stopped the run with "empty Id"."""
    first = f.id_pos if f.id_pos is not None and 0 <= f.id_pos < f.fields else 0
    order = [first, *(i for i in range(f.fields) if i != first)]
    blank = " AND ".join(f"coalesce(trim(c{i}, {_WS_SQL}), '') = ''" for i in order)
    gone = con.execute(f"DELETE FROM {_q(f.table)} WHERE {blank}").fetchall()[0][0]  # (the count deleted)
    if gone:
        f.rows -= gone
        if f.rows == 0:
            raise NoRecordsError("no data rows (the file has only a header and empty rows)", f.given)


def _check_unnamed_fields(con: duckdb.DuckDBPyConnection, f: _File) -> None:
    """The trailing header fields without a name must be empty in every row (a spreadsheet's
    ",,,"): the first row that holds a value there is an error naming the field."""
    extra = range(len(f.header), f.fields)
    if not extra:
        return
    held = " OR ".join(f"coalesce(trim(c{i}, {_WS_SQL}), '') <> ''" for i in extra)
    first = con.execute(
        f"SELECT _source_row, [{', '.join(f'c{i}' for i in extra)}] FROM {_q(f.table)} WHERE {held} "
        f"ORDER BY _source_row LIMIT 1"
    ).fetchall()
    if first:
        row, values = first[0]
        k = next(i for i, v in zip(extra, values) if v is not None and v.strip(_WS_PY))
        raise InputError(f"header field {k + 1} has no name, but this row holds a value in it", f.given, row=row)


def _lines_with_extra_fields(con: duckdb.DuckDBPyConnection, f: _File) -> int:
    """Lines of the file with more commas outside quotes than the header has separators (DuckDB,
    every line as one column, on a connection of its own: run beside the file's read). A line
    inside a multi-line quoted value may miscount: `_check_extra_empty_fields` decides."""
    n = f.fields
    assert f.data_path is not None
    outside = "regexp_replace(line, '\"[^\"]*\"', '', 'g')"
    cur = con.cursor()
    try:
        return cur.execute(
            f"SELECT count(*) FROM read_csv({_sql_path(f.data_path)}, columns = {{'line': 'VARCHAR'}}, header = true, "
            f"delim = chr(31), quote = '', escape = '', auto_detect = false, strict_mode = false, ignore_errors = true) "
            f"WHERE length(line) - length(replace(line, ',', '')) > {n - 1} "
            f"AND length({outside}) - length(replace({outside}, ',', '')) > {n - 1}"
        ).fetchall()[0][0]
    except duckdb.Error:  # (the file's own read reports what is wrong with it)
        return 0
    finally:
        cur.close()


def _check_extra_empty_fields(f: _File) -> None:
    """A row with more fields than the header is an error even when the extra ones are empty.

    DuckDB's strict mode lets a row through when its surplus fields are all empty (nothing is
    lost, it reasons), which hides the commonest shift in a hand-made CSV: a value with an
    unquoted comma (ABC Co., Ltd.) pushes every later field one column on, and a row whose last
    field was empty still "fits". Called when `_lines_with_extra_fields` found such lines: the
    records are read with Python's csv module and the first with more fields than the header is
    reported."""
    n = f.fields
    try:
        for line, rec in _csv_records(f):
            if len(rec) > n:
                empty = len(rec) - n if not any(v.strip(_WS_PY) for v in rec[n:]) else 0
                hint = (f" (the last {empty} empty: a value with an unquoted comma, such as 'Co., Ltd.', "
                        "moves every later field one column on)") if empty else ""
                raise InputError(f"ragged row: {len(rec)} fields but the header has {n}{hint}", f.given, row=line)
    except (csv.Error, UnicodeDecodeError, StopIteration):  # pragma: no cover - DuckDB read the file: valid CSV
        return


def _tmpdir(tmpdir: list[Path]) -> Path:
    if not tmpdir:
        tmpdir.append(Path(tempfile.mkdtemp(prefix="nayose-records-")))
    return tmpdir[0]


def _glob_safe(p: Path, f: _File, tmpdir: list[Path]) -> Path:
    """DuckDB expands * ? [ ] { } in read_csv paths: read such a file through a plain-named symlink."""
    if not any(ch in str(p) for ch in "*?[]{}"):
        return p
    link = _tmpdir(tmpdir) / f"file{f.index}.csv"
    link.unlink(missing_ok=True)
    try:
        link.symlink_to(p.resolve())
    except OSError:
        shutil.copyfile(p, link)
    return link


def _sniff_binary(f: _File, head: bytes) -> None:
    """Reject what is obviously not a text CSV before trying to decode it."""
    if head.startswith(b"PK\x03\x04"):
        raise InputError("not a CSV file: looks like an Excel workbook (.xlsx) or a zip archive", f.given)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError("not a CSV file: looks like a legacy Excel workbook (.xls)", f.given)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            "file is UTF-16 encoded (Excel 'Unicode text'?); save it as CSV in UTF-8 or CP932", f.given
        )
    nul = head.find(b"\x00")
    if nul >= 0:
        raise InputError("binary data (NUL byte): not a CSV text file", f.given, row=head.count(b"\n", 0, nul) + 1)


def _read_header(f: _File, config: Config) -> None:
    """Parse the header record with Python's csv module and map it to output names."""
    assert f.data_path is not None
    with open(f.data_path, "rb") as fh:
        raw = fh.read(_HEAD)
    text = codecs.getincrementaldecoder("utf-8-sig")("replace").decode(raw)
    first = text.lstrip("\ufeff").split("\n", 1)[0].strip("\r")
    if not first.strip(_WS_PY):
        raise InputError("no header: the first line is empty (expected a header row of field names)", f.given, row=1)
    if first.lstrip()[:1] in ("{", "[", "<"):
        kind = "XML / HTML" if first.lstrip().startswith("<") else "JSON"
        raise InputError(f"not a CSV file: the first line looks like {kind}", f.given, row=1)
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as exc:
        raise InputError(f"header is not valid CSV ({exc})", f.given, row=1) from None
    f.header_lines = max(reader.line_num, 1)
    if len(raw) >= _HEAD and text.count("\n") < reader.line_num:
        # The header record does not end within the first MiB: parsing it would truncate a name.
        raise InputError(
            f"header row is longer than {_HEAD >> 20} MiB (no line break in the first MiB): not a CSV export?",
            f.given, row=1,
        )
    names = [h.strip(_WS_PY) for h in header]
    if len(names) == 1:
        for sep, label in (("\t", "tab"), (";", "semicolon"), ("|", "pipe")):
            if sep in names[0]:
                raise InputError(
                    f"header is not comma-separated CSV (it looks {label}-separated): {first[:80]!r}", f.given, row=1
                )
    # Trailing fields without a name (a spreadsheet's ",,," after the last column) are read and
    # must be empty in every row (checked after the read); one without a name before a named
    # field is an error.
    f.fields = len(names)
    while len(names) > 1 and not names[-1]:
        names.pop()
    for i, n in enumerate(names):
        if not n:
            raise InputError(f"header field {i + 1} has no name", f.given, row=1)
        if "\n" in n or "\r" in n:
            raise InputError(f"header field {i + 1} contains a line break", f.given, row=1, column=n)
    seen: dict[str, int] = {}
    for i, n in enumerate(names):
        k = n.casefold()
        if k in seen:
            raise InputError(
                f"duplicate column name in header (fields {seen[k] + 1} and {i + 1})", f.given, row=1, column=n
            )
        seen[k] = i

    mapping = config.input.columns
    folded = {k.strip(_WS_PY).casefold(): v for k, v in mapping.items()}
    out: list[str] = []
    f.mapped = {}
    for n in names:
        target = mapping.get(n)
        if target is None:
            target = folded.get(n.casefold())
        if target is not None and target.strip():
            target = target.strip()
            f.mapped[n] = _CANONICAL.get(target.casefold(), target)
        out.append(_CANONICAL.get((target or n).casefold(), target or n))
    seen_out: dict[str, int] = {}
    for i, n in enumerate(out):
        k = n.casefold()
        if k in seen_out:
            j = seen_out[k]
            raise InputError(
                f"columns {names[j]!r} (field {j + 1}) and {names[i]!r} (field {i + 1}) both map to {n!r}",
                f.given,
                row=1,
                column=names[i],
            )
        seen_out[k] = i

    id_key = config.input.id_column.casefold()
    id_pos = next((i for i, n in enumerate(out) if n.casefold() == id_key), None)
    if id_pos is None:
        found = ", ".join(names[:40]) + (f", ... ({len(names)} columns)" if len(names) > 40 else "")
        hint = ""
        if any(_SF_ID.match(n) and n[:3] in ID_PREFIXES or "@" in n for n in names):
            hint = "; the first line looks like a data row - the file needs a header row of field names"
        elif any(re.sub(r"\s", "", n).casefold() in _REPORT_ID_LABELS for n in names):
            # (a Salesforce report exported to CSV: labels for headers, local times without a zone)
            hint = ("; this looks like a Salesforce report export (field labels, not API names): export the records "
                    "with Data Loader or `nayose extract` (API names, and times in UTC the applier can check), "
                    "or map the labels to API names in input.columns")
        elif any(n in config.import_plan.incoming_columns for n in names):
            # (a business-card or list export: its rows have no Salesforce Ids yet)
            hint = ("; a business-card or list export (Sansan, Eight, a purchased list) has no Ids: match it against "
                    "the org with `nayose import-plan --existing ORG.csv --incoming FILE`")
        how = " (after input.columns mapping)" if mapping else ""
        raise InputError(
            f"no {config.input.id_column!r} column{how}; columns found: {found}{hint}", f.given, row=1
        )
    object_pos = None
    for i, n in enumerate(out):
        k = n.casefold()
        if i == id_pos:
            continue
        if k == "id":
            raise InputError(
                f"column {names[i]!r} would clash with the Id output column "
                f"(input.id_column is {config.input.id_column!r}); map it to another name in input.columns",
                f.given,
                row=1,
                column=names[i],
            )
        if k == "object":
            object_pos = i
        elif k in RESERVED:
            raise InputError(f"column name {n!r} is reserved for the records stage", f.given, row=1, column=names[i])
    f.header, f.names, f.id_pos, f.object_pos = names, out, id_pos, object_pos


# --------------------------------------------------------------------------------------------
# DuckDB read


class _InvalidUtf8(Exception):
    pass


# The record Id columns of a Salesforce report exported to CSV (English and Japanese labels, spaces removed)
_REPORT_ID_LABELS = frozenset({"leadid", "contactid", "リードid", "取引先責任者id", "personaccountid", "個人取引先id"})


def _read_csv(con: duckdb.DuckDBPyConnection, f: _File) -> None:
    """CREATE the file's temp table: the raw VARCHAR columns c0..cN in file order (trimmed later,
    in the view: DuckDB 2.0.1 stores the rows of `SELECT <CASE expressions> FROM read_csv(...)`
    out of file order on a parallel read, despite preserve_insertion_order, and the table's
    order is what numbers the rows; a plain `SELECT *` keeps it)."""
    assert f.data_path is not None
    n = f.fields
    rj, rs = f"{f.table}_rj", f"{f.table}_rs"
    spec = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n))
    source = _sql_path(f.data_path)
    # DuckDB skips blank lines, except in a one-column file, where they read as NULL rows: drop those.
    where = f" WHERE trim(c0, {_WS_SQL}) <> ''" if n == 1 else ""
    con.execute(f"DROP TABLE IF EXISTS {_q(f.table)}")
    try:
        con.execute(
            f"CREATE TEMP TABLE {_q(f.table)} AS SELECT *, NULL::BIGINT AS _source_row "
            f"FROM read_csv({source}, header = true, delim = ',', quote = '\"', escape = '\"', "
            f"strict_mode = true, null_padding = false, auto_detect = false, all_varchar = true, "
            f"columns = {{{spec}}}, store_rejects = true, rejects_table = '{rj}', rejects_scan = '{rs}'){where}"
        )
        rejects = con.execute(
            f"SELECT line, line_byte_position, byte_position, column_idx, error_type, error_message "
            f"FROM {_q(rj)} ORDER BY (error_type = 'INVALID ENCODING') DESC, line_byte_position, line LIMIT 1"
        ).fetchall()
    except duckdb.Error as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read CSV: {msg}", f.given) from None
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_q(rj)}")
        con.execute(f"DROP TABLE IF EXISTS {_q(rs)}")
    if rejects:
        line, line_pos, byte_pos, col_idx, kind, message = rejects[0]
        if kind == "INVALID ENCODING":
            raise _InvalidUtf8()
        raise _reject_error(f, line, line_pos, byte_pos, col_idx, kind, message)
    f.rows = con.execute(f"SELECT count(*) FROM {_q(f.table)}").fetchall()[0][0]
    if f.rows == 0:
        raise NoRecordsError("no data rows (the file has only a header)", f.given)


def _reject_error(
    f: _File, line: int, line_pos: int | None, byte_pos: int | None, col_idx: int | None, kind: str, message: str
) -> InputError:
    row = _line_at(f, line_pos, line)
    column = f.header[col_idx - 1] if col_idx and 0 < col_idx <= len(f.header) else None
    n = f.fields
    if kind in ("TOO MANY COLUMNS", "MISSING COLUMNS"):
        m = re.search(r"Found:\s*(\d+)", message or "")
        found = (
            f"{m.group(1)} field{'' if m.group(1) == '1' else 's'}"
            if m
            else ("more fields" if kind == "TOO MANY COLUMNS" else "fewer fields")
        )
        what = "ragged row" if kind == "TOO MANY COLUMNS" else "short row"
        return InputError(f"{what}: {found} but the header has {n}", f.given, row=row)
    if kind == "UNQUOTED VALUE":
        detail = _quote_problem(f, byte_pos)
        return InputError(detail, f.given, row=row, column=column)
    if kind == "LINE SIZE OVER MAXIMUM":
        return InputError(f"row too long ({message})", f.given, row=row)
    return InputError(f"malformed CSV ({kind.lower()}: {message})", f.given, row=row, column=column)


def _quote_problem(f: _File, byte_pos: int | None) -> str:
    """Tell an unterminated quoted value from text after a closing quote."""
    assert f.data_path is not None
    if byte_pos is None:
        return _MALFORMED_QUOTE
    with open(f.data_path, "rb") as fh:
        fh.seek(max(byte_pos - 1, 0))
        buf = fh.read(_CHUNK)
        rest_is_all = len(buf) < _CHUNK
    start = buf.find(b'"')
    if start < 0:
        return _MALFORMED_QUOTE
    i = start + 1
    while True:
        j = buf.find(b'"', i)
        if j < 0:
            if rest_is_all:
                return "unterminated quote: a quoted value is never closed"
            return _MALFORMED_QUOTE
        if buf[j + 1 : j + 2] == b'"':
            i = j + 2
            continue
        if buf[j + 1 : j + 2] in (b"", b",", b"\n", b"\r"):
            return _MALFORMED_QUOTE
        return "text after the closing quote of a quoted value (a stray '\"' in the data?)"


def _line_at(f: _File, line_pos: int | None, record_line: int) -> int:
    """Physical 1-based line of the row DuckDB reported at byte `line_pos`."""
    if line_pos is None or f.data_path is None:
        return record_line
    nl = 0
    remaining = line_pos
    with open(f.data_path, "rb") as fh:
        while remaining > 0:
            chunk = fh.read(min(_CHUNK, remaining))
            if not chunk:
                break
            nl += chunk.count(b"\n")
            remaining -= len(chunk)
    return max(nl + 1, record_line)


def _number_lines(con: duckdb.DuckDBPyConnection, f: _File) -> None:
    """Fill _source_row with the physical line each record starts on."""
    t = _q(f.table)
    first = f.header_lines + 1
    if f.lines == f.header_lines + f.rows:  # no multi-line values, no blank lines
        con.execute(f"UPDATE {t} SET _source_row = rowid + {first}")
        return
    n = f.fields
    has_nl = con.execute(
        "SELECT " + ", ".join(f"coalesce(bool_or(contains(c{i}, chr(10))), false)" for i in range(n)) + f" FROM {t}"
    ).fetchall()[0]
    cols = [i for i in range(n) if has_nl[i]]
    if cols:
        nl = " + ".join(f"coalesce(length(c{i}) - length(replace(c{i}, chr(10), '')), 0)" for i in cols)
        lines_tab = f"{f.table}_ln"
        try:
            con.execute(
                f"CREATE TEMP TABLE {_q(lines_tab)} AS SELECT rowid AS r, {first} + rowid + coalesce(sum({nl}) "
                f"OVER (ORDER BY rowid ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS line, "
                f"{nl} AS n FROM {t}"
            )
            total = con.execute(f"SELECT sum(n) FROM {_q(lines_tab)}").fetchall()[0][0] or 0
            if f.lines == f.header_lines + f.rows + total:
                con.execute(f"UPDATE {t} SET _source_row = l.line FROM {_q(lines_tab)} l WHERE {t}.rowid = l.r")
                return
        finally:
            con.execute(f"DROP TABLE IF EXISTS {_q(lines_tab)}")
    # Blank lines, or line breaks trimmed off the ends of quoted values: ask Python's csv module.
    starts = _python_line_starts(f)
    if starts is not None and len(starts) == f.rows:
        import pyarrow as pa

        name = f"{f.table}_py"
        con.register(name, pa.table({"r": pa.array(range(f.rows), pa.int64()), "line": pa.array(starts, pa.int64())}))
        try:
            con.execute(f"UPDATE {t} SET _source_row = l.line FROM {_q(name)} l WHERE {t}.rowid = l.r")
        finally:
            con.execute(f"DROP VIEW IF EXISTS {_q(name)}")
        return
    f.source_row = "record"
    con.execute(f"UPDATE {t} SET _source_row = rowid + {first}")


def _csv_records(f: _File) -> Iterator[tuple[int, list[str]]]:
    """(physical line it starts on, fields) per data record of the (decoded) file, read with
    Python's csv module; csv.Error, UnicodeDecodeError and StopIteration (no header) are the
    caller's."""
    assert f.data_path is not None
    with open(f.data_path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        prev = reader.line_num
        for rec in reader:
            yield prev + 1, rec
            prev = reader.line_num


def _python_line_starts(f: _File) -> list[int] | None:
    try:
        return [line for line, rec in _csv_records(f) if rec and (len(rec) > 1 or rec[0].strip(_WS_PY))]
    except (csv.Error, UnicodeDecodeError, StopIteration):
        return None


# --------------------------------------------------------------------------------------------
# union and checks


def _union_columns(files: list[_File]) -> list[str]:
    """Output columns (besides Id / Object) in first-seen order, matched case-insensitively."""
    cols: dict[str, str] = {}
    for f in files:
        for i, n in enumerate(f.names):
            if i == f.id_pos or i == f.object_pos:
                continue
            cols.setdefault(n.casefold(), n)
    return list(cols.values())


def _create_view(
    con: duckdb.DuckDBPyConnection, view: str, files: list[_File], columns: list[str], config: Config
) -> None:
    parts = []
    for f in files:
        pos = {n.casefold(): i for i, n in enumerate(f.names)}
        sel = [f"{_trim_sql(f'c{f.id_pos}')} AS Id"]
        sel.append(f"{_trim_sql(f'c{f.object_pos}')} AS __nayose_obj" if f.object_pos is not None
                   else "NULL::VARCHAR AS __nayose_obj")
        for c in columns:
            i = pos.get(c.casefold())
            sel.append(f"{_trim_sql(f'c{i}')} AS {_q(c)}" if i is not None else f"NULL::VARCHAR AS {_q(c)}")
        sel.append(f"{_lit(f.given)}::VARCHAR AS _source_file")
        sel.append("_source_row")
        sel.append(f"{f.index} AS __nayose_f")
        parts.append(f"SELECT {', '.join(sel)} FROM {_q(f.table)}")
    objects = " ".join(f"WHEN lower(__nayose_obj) = '{o.lower()}' THEN '{o}'" for o in SALESFORCE_OBJECTS)
    prefixes = " ".join(f"WHEN left(Id, 3) = '{p}' THEN '{o}'" for p, o in ID_PREFIXES.items())
    default = _lit(config.input.default_object) if config.input.default_object else "NULL"
    obj = f"CASE WHEN __nayose_obj IS NOT NULL THEN (CASE {objects} END) {prefixes} ELSE {default} END"
    body = " UNION ALL ".join(parts)
    con.execute(f"CREATE TEMP VIEW {_q(view)} AS SELECT *, ({obj})::VARCHAR AS Object FROM ({body})")


def _validate(con: duckdb.DuckDBPyConnection, view: str, files: list[_File]) -> None:
    v = _q(view)
    order = "ORDER BY __nayose_f, _source_row LIMIT 1"

    def id_col(fi: int) -> str:
        return files[fi].header[files[fi].id_pos]

    r = con.execute(f"SELECT __nayose_f, _source_row FROM {v} WHERE Id IS NULL {order}").fetchall()
    if r:
        fi, row = r[0]
        raise InputError("empty Id", files[fi].given, row=row, column=id_col(fi))

    r = con.execute(
        f"SELECT __nayose_f, _source_row, __nayose_obj FROM {v} "
        f"WHERE __nayose_obj IS NOT NULL AND Object IS NULL {order}"
    ).fetchall()
    if r:
        fi, row, value = r[0]
        f = files[fi]
        raise InputError(
            f"Object {value!r} is not one of {', '.join(SALESFORCE_OBJECTS)}",
            f.given,
            row=row,
            column=f.header[f.object_pos] if f.object_pos is not None else "Object",
        )

    # One record is one Id whichever way it is written: a Salesforce Id's 15-character form (reports)
    # is its 18-character form (Data Loader, the API) less the 3-character checksum of its letters'
    # case, so a 15-character Id is compared in its 18-character form; any other Id as written.
    key = canonical_id_sql("Id")
    r = con.execute(
        f"""
        WITH k AS (SELECT Id, __nayose_f, _source_row, {key} AS k FROM {v}),
        d AS (SELECT k FROM k GROUP BY k HAVING count(*) > 1),
        o AS (
            SELECT x.k, x.Id, x.__nayose_f AS fi, x._source_row AS row,
                   row_number() OVER (PARTITION BY x.k ORDER BY x.__nayose_f, x._source_row) AS rn
            FROM k x SEMI JOIN d ON x.k = d.k
        )
        SELECT b.Id, a.fi, a.row, b.fi, b.row, (SELECT count(*) FROM d), a.Id
        FROM o a JOIN o b ON a.k = b.k AND a.rn = 1 AND b.rn = 2
        ORDER BY b.fi, b.row LIMIT 1
        """
    ).fetchall()
    if r:
        dup_id, fa, ra, fb, rb, n, first_id = r[0]
        first = f"row {ra}" if fa == fb else f"{files[fa].given} row {ra}"
        more = f" ({n} duplicated Ids in all)" if n > 1 else ""
        if fa != fb and Path(files[fa].given).resolve() == Path(files[fb].given).resolve():
            more += " - the same file is given twice"
        if first_id != dup_id:
            first = (f"{first} as {first_id!r} (one record: a 15-character Id is the first 15 characters "
                     "of the 18-character one)")
        raise InputError(
            f"duplicate Id {dup_id!r}: already on {first}{more}", files[fb].given, row=rb, column=id_col(fb)
        )

    r = con.execute(f"SELECT __nayose_f, _source_row, Id FROM {v} WHERE Object IS NULL {order}").fetchall()
    if r:
        fi, row, rid = r[0]
        known = ", ".join(f"{p} {o}" for p, o in ID_PREFIXES.items())
        raise InputError(
            f"cannot tell the object of Id {rid!r}: no Object value and its prefix is not a known one ({known}); "
            "add an Object column or set input.default_object",
            files[fi].given,
            row=row,
            column=id_col(fi),
        )


# --------------------------------------------------------------------------------------------
# encodings


def _utf8_head_error(head: bytes, whole: bool) -> _Undecodable | None:
    """First invalid UTF-8 in the first MiB (a sequence cut at the MiB boundary is fine)."""
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=whole)
    except UnicodeDecodeError as exc:
        valid = head[: exc.start]
        return _Undecodable(
            exc.start, valid.count(b"\n") + 1, head[exc.start : exc.end], len(valid) - len(valid.decode("utf-8"))
        )
    return None


def _scan_utf8(path: Path) -> _Undecodable | None:
    """First invalid UTF-8 in the whole file, streamed (ASCII blocks are skipped fast)."""
    dec = codecs.getincrementaldecoder("utf-8")("strict")
    offset = nl = multibyte = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            pending = len(dec.getstate()[0])
            try:
                if not chunk:
                    dec.decode(b"", final=True)
                    return None
                if pending or not chunk.isascii():
                    multibyte += len(chunk) - len(dec.decode(chunk))
            except UnicodeDecodeError as exc:
                valid = exc.object[: exc.start]
                return _Undecodable(
                    offset - pending + exc.start,
                    nl + valid.count(b"\n") + 1,
                    exc.object[exc.start : exc.end],
                    multibyte + len(valid) - len(valid.decode("utf-8", "replace")),
                )
            nl += chunk.count(b"\n")
            offset += len(chunk)


def _transcode_or_fail(f: _File, codec: str, tmpdir: list[Path], utf8_error: _Undecodable | None) -> None:
    if utf8_error is not None and utf8_error.evidence >= _UTF8_EVIDENCE:
        # Valid multi-byte UTF-8 before the bad bytes: a UTF-8 file with a corrupt (or CP932) part,
        # not a CP932 file (CP932 Japanese text is practically never valid UTF-8 for long).
        raise InputError(
            f"undecodable bytes {_hex(utf8_error.bad)}: the file is UTF-8 up to this line but not here "
            "(mixed encodings or corrupt data?)",
            f.given,
            row=utf8_error.line,
        )
    out = _tmpdir(tmpdir) / f"file{f.index}.utf8.csv"
    res = _transcode(f.path, codec, out)
    if isinstance(res, _Undecodable):
        out.unlink(missing_ok=True)
        if utf8_error is None:
            raise _decode_error(f, codec, res)
        # Neither decodes: the encoding that gets further is most likely the intended one.
        worst = max(res, utf8_error, key=lambda u: u.offset)
        raise InputError(
            f"undecodable bytes {_hex(worst.bad)}: not UTF-8 (fails at line {utf8_error.line}) "
            f"nor CP932 (fails at line {res.line})",
            f.given,
            row=worst.line,
        )
    f.data_path = out
    f.encoding = "shift_jis" if codec == "shift_jis" else "cp932"
    f.lines = res


def _transcode(src: Path, codec: str, dst: Path) -> int | _Undecodable:
    """Decode `src` strictly with `codec` into UTF-8 `dst`, in chunks; return its content line count."""
    dec = codecs.getincrementaldecoder(codec)("strict")
    offset = nl = trailing = 0
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        while True:
            chunk = fi.read(_CHUNK)
            pending = len(dec.getstate()[0])
            try:
                text = dec.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return _Undecodable(
                    offset - pending + exc.start, nl + exc.object.count(b"\n", 0, exc.start) + 1,
                    exc.object[exc.start : exc.end],
                )
            if codec == "cp932" and any(ch in text for ch in _CP932_UNASSIGNED):
                at = min(i for i in (text.find(ch) for ch in _CP932_UNASSIGNED) if i >= 0)
                rel = max(len(text[:at].encode(codec)) - pending, 0)  # a single byte: never pending
                return _Undecodable(offset + rel, nl + chunk.count(b"\n", 0, rel) + 1, chunk[rel : rel + 1])
            out = text.encode("utf-8")
            fo.write(out)
            if not chunk:
                break
            nl += chunk.count(b"\n")
            offset += len(chunk)
            stripped = out.rstrip(b"\r\n")
            trailing = trailing + out.count(b"\n") if not stripped else out.count(b"\n", len(stripped))
    return nl - trailing + 1


def _count_lines(path: Path) -> int:
    """Physical lines up to the last non-blank byte (trailing line breaks do not add lines)."""
    nl = trailing = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            c = chunk.count(b"\n")
            nl += c
            end = len(chunk)  # (the line breaks at the chunk's end, without copying it as rstrip would)
            while end and chunk[end - 1] in (10, 13):
                end -= 1
            trailing = trailing + c if not end else chunk.count(b"\n", end)
    return nl - trailing + 1


def _decode_error(f: _File, encoding: str, bad: _Undecodable) -> InputError:
    hint = " (try input.encoding: cp932)" if encoding in ("utf-8", "utf-8-sig", "shift_jis") else ""
    return InputError(f"undecodable bytes {_hex(bad.bad)}: not valid {encoding}{hint}", f.given, row=bad.line)


def _hex(b: bytes) -> str:
    return " ".join(f"0x{x:02X}" for x in b[:4]) or "(truncated sequence at end of file)"


# --------------------------------------------------------------------------------------------
# SQL helpers


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_path(path: Path) -> str:
    """An absolute path as a SQL literal for read_csv (glob characters are handled by _glob_safe)."""
    return _lit(os.path.abspath(path))


def _trim_sql(c: str) -> str:
    """Trim surrounding whitespace (only computed when an end is whitespace), '' -> NULL.
    (One regular expression per value: a third faster than testing ord() of both ends.)"""
    return f"CASE WHEN regexp_matches({c}, '{_WS_ENDS_RE}') THEN nullif(trim({c}, {_WS_SQL}), '') ELSE nullif({c}, '') END"
