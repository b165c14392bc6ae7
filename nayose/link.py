"""Link mode: an incoming file (a purchased or event list, a business-card export, a legacy CRM)
matched against the records already in the org, before anything is loaded.

The dedupe run compares every record with every other; link mode compares each incoming row with
the existing records and with the other incoming rows (so the file's own duplicates collapse
first), never two existing records with each other. Everything else is the engine's: the same
loader, normalization, blocking rules, Fellegi–Sunter scoring with its person-evidence gates, the
same thresholds and the same cluster guard for the incoming rows' own groups.

Tables written (all prefixed `import_`, so a store holding a dedupe run keeps it intact):

* `import_existing_raw`, `import_incoming_raw`: the two inputs as `load_records` reads them
  (the existing side may instead be a table already in the store, e.g. the extracted org's
  `raw_records`);
* `import_rows(row_no, incoming_id, "Id")`: every incoming data row, 1-based in file order, its
  `incoming_id` (the file's Id column, or the row number where it has none) and the internal Id it
  carries in the matching tables (`~in~` + row number);
* `import_raw`: existing and incoming records in one table (union by column name), incoming
  rows under their internal Id, with `import_plan.incoming_lead_source` filled in where set;
* `import_normalized`, `import_candidate_pairs`, `import_scored_pairs`, `import_match_model`:
  the engine's stages in link mode (candidate pairs have at least one incoming side);
* `import_side(rec_idx, "Id", incoming, row_no)`;
* `import_in_clusters`: the engine's clusters over incoming x incoming pairs only (existing
  records are single there): the file's own duplicate groups with their auto / review status.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

from nayose.block import block_pairs
from nayose.cluster import cluster_records
from nayose.config import Config
from nayose.errors import ConfigError, InputError, NayoseError
from nayose.normalize import normalize_records, preload
from nayose.records import load_records
from nayose.score import score_pairs
from nayose.stage import StageResult, timed

INCOMING_PREFIX = "~in~"
INCOMING_SQL = f"starts_with(id, '{INCOMING_PREFIX}')"
ROW_COLUMN = "__nayose_incoming_row"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {_q(table)}").fetchall()]


def incoming_config(config: Config, headers: list[str] | None = None) -> Config:
    """The config the incoming file is read with: the import's header mapping under input.columns
    (which wins), and the import's object for rows whose Id does not tell it. With the file's
    `headers`, a default mapping that would give a field a second column is left out (氏名 and 姓
    both map to LastName by default: 姓 wins; a header the config maps, or one already named
    like the field, wins over a default)."""
    cfg = config.model_copy(deep=True)
    mapping = {**config.import_plan.incoming_columns, **config.input.columns}
    if headers:
        mapping = _resolve_default_collisions(mapping, headers, config)
    cfg.input.columns = mapping
    cfg.input.default_object = config.input.default_object or config.import_plan.incoming_object
    return cfg


_WS = " \t\r\n\u00a0\u3000\ufeff"


def _mapping_key(header: str, mapping: dict[str, str]) -> str | None:
    """The mapping key the loader applies to `header` (exact, else without case and spaces)."""
    if header in mapping:
        return header
    folded = header.casefold()
    return next((k for k in mapping if k.strip(_WS).casefold() == folded), None)


def _resolve_default_collisions(mapping: dict[str, str], headers: list[str], config: Config) -> dict[str, str]:
    from nayose.config import _default_incoming_columns

    defaults = _default_incoming_columns()
    order = {k: i for i, k in enumerate(defaults)}
    user = set(config.input.columns) | {k for k, v in config.import_plan.incoming_columns.items() if defaults.get(k) != v}
    claims: dict[str, list[tuple[str | None, str]]] = {}  # target -> [(mapping key or None, header)]
    for h in headers:
        key = _mapping_key(h, mapping)
        target = (mapping[key].strip() if key is not None else "") or h
        claims.setdefault(target.casefold(), []).append((key if key is not None and mapping[key].strip() else None, h))
    out = dict(mapping)
    for claimants in claims.values():
        if len(claimants) < 2:
            continue
        default_keys = [k for k, _ in claimants if k is not None and k not in user]
        if len(default_keys) == len(claimants):  # defaults only: the first in the default's order wins
            default_keys.sort(key=lambda k: order.get(k, len(order)))
            default_keys = default_keys[1:]
        for k in default_keys:
            out[k] = ""
    return out


def _read_header(path: Path, config: Config) -> list[str] | None:
    """The incoming file's header names, or None when it cannot be read (the loader reports why)."""
    try:
        text, _ = _decode(path, config)
        first = next(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")), None)
    except (InputError, OSError, csv.Error):
        return None
    return [h.strip(_WS) for h in first] if first else None


#: Fields that identify a person: an incoming file needs one of them (after mapping).
NAME_FIELDS = ("LastName", "FirstName")
EMAIL_FIELDS = ("Email", "PersonEmail")
PHONE_FIELDS = ("Phone", "MobilePhone", "HomePhone", "PersonMobilePhone", "PersonHomePhone")


def check_mapping_targets(config: Config, existing_columns: list[str], existing: str) -> None:
    """Every header mapping's target is a field the import can write: a standard field, a custom
    (`__c`) one, a relationship path, or a column of the org export. Else a config error naming the
    key (会社名: Compnay): the column would be written into the Data Loader files under a name no
    org has, and not take part in matching."""
    from nayose.config import field_suggestion, is_known_field

    have = {c.casefold() for c in existing_columns}
    where = f"{config._path}: " if config._path else ""
    for section, mapping in (("import_plan.incoming_columns", config.import_plan.incoming_columns),
                             ("input.columns", config.input.columns)):
        for header, target in mapping.items():
            t = (target or "").strip()
            if not t or is_known_field(t) or t.casefold() in have or t.casefold() == config.input.id_column.casefold():
                continue
            raise ConfigError(
                f"{where}{section}: {header}: {t!r} is not a field the import can write (neither a standard "
                f"Salesforce field, a custom __c field nor a column of the org export {existing}){field_suggestion(t)}"
            )


def _check_person_columns(con: duckdb.DuckDBPyConnection, table: str, given: str, headers: list[str] | None,
                          cfg: Config) -> None:
    """An incoming file with no column for a name, an email or a phone (after mapping) cannot be
    matched: every row would be an insert with nothing to tell who it is."""
    cols = {c.casefold() for c in columns(con, table)}
    if any(f.casefold() in cols for f in (*NAME_FIELDS, *EMAIL_FIELDS, *PHONE_FIELDS)):
        return
    found = headers if headers is not None else [c for c in columns(con, table) if c not in ("Id", "Object", "_source_file", "_source_row")]
    shown = ", ".join(found[:40]) + (f", ... ({len(found)} columns)" if len(found) > 40 else "")
    keys = ", ".join(f"{k}: {v}" for k, v in cfg.input.columns.items() if v.strip())
    raise InputError(
        f"no column maps to a name, an email or a phone ({', '.join((*NAME_FIELDS, 'Email', 'Phone', 'MobilePhone'))}); "
        f"headers: {shown}; mapping (import_plan.incoming_columns and input.columns): {keys}",
        given, row=1,
    )


def _contact_fields(con: duckdb.DuckDBPyConnection, config: Config, table: str) -> int:
    """Incoming Contacts carry Lead fields under their Contact names (survivorship.lead_to_contact_fields:
    Company -> Account.Name, Street -> MailingStreet ...): a Contact has no Company, and Data Loader
    rejects the column. A file of Contacts only loses the Lead columns; a mixed file moves the
    Contacts' values. Returns the Contact rows."""
    cols = columns(con, table)
    if "Object" not in cols:
        return 0
    n_contact, n_other = con.execute(
        f"""SELECT count(*) FILTER (WHERE "Object" = 'Contact'), count(*) FILTER (WHERE "Object" IS DISTINCT FROM 'Contact')
            FROM {_q(table)}"""
    ).fetchall()[0]
    if not n_contact:
        return 0
    for lead_f, contact_f in config.survivorship.lead_to_contact_fields.items():
        cols = columns(con, table)
        if lead_f not in cols or not contact_f or lead_f == contact_f:
            continue
        if contact_f not in cols:
            if not n_other:
                con.execute(f"ALTER TABLE {_q(table)} RENAME COLUMN {_q(lead_f)} TO {_q(contact_f)}")
                continue
            con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(contact_f)} VARCHAR")
        con.execute(
            f"""UPDATE {_q(table)} SET {_q(contact_f)} = coalesce(nullif(trim({_q(contact_f)}), ''), {_q(lead_f)}),
                       {_q(lead_f)} = NULL
                WHERE "Object" = 'Contact'"""
        )
        if not n_other:
            con.execute(f"ALTER TABLE {_q(table)} DROP COLUMN {_q(lead_f)}")
    return int(n_contact)


# ---------------------------------------------------------------------------------------------
# Reading the inputs


def _no_id_error(exc: InputError, config: Config) -> bool:
    return exc.row == 1 and exc.message.startswith(f"no {config.input.id_column!r} column")


def _decode(path: Path, config: Config) -> tuple[str, str]:
    """The whole file as text, with the encoding rule of the records stage (auto: UTF-8 with or
    without BOM, else CP932)."""
    data = path.read_bytes()
    wanted = config.input.encoding
    order = ["utf-8-sig", "cp932"] if wanted == "auto" else [wanted]
    first_error: UnicodeDecodeError | None = None
    for enc in order:
        try:
            return data.decode(enc if enc != "utf-8" else "utf-8-sig"), enc
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
    assert first_error is not None
    line = data.count(b"\n", 0, first_error.start) + 1
    raise InputError(f"undecodable bytes: not valid {' nor '.join(order)}", path, row=line)


def _with_row_numbers(path: Path, given: str, config: Config, tmpdir: Path) -> Path:
    """A UTF-8 copy of an incoming file without an Id column, with the 1-based data-row number
    as its first column. Physical lines are kept, so the loader's row numbers still point into
    the original file."""
    text, _ = _decode(path, config)
    out = tmpdir / "incoming_rows.csv"
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    n = 0
    try:
        with open(out, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            for i, rec in enumerate(reader):
                if i == 0:
                    w.writerow([ROW_COLUMN, *rec])
                    continue
                if not rec or (len(rec) == 1 and not rec[0].strip()):
                    fh.write("\n")  # a blank line stays a blank line
                    continue
                n += 1
                w.writerow([str(n), *rec])
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", given, row=reader.line_num) from None
    return out


def load_incoming(con: duckdb.DuckDBPyConnection, path: str | Path, config: Config, table: str = "import_incoming_raw") -> StageResult:
    """Read the incoming file into `table` and write `import_rows`. A file without an Id column
    gets its 1-based data-row numbers as Ids."""
    given = str(path)
    headers = _read_header(Path(given), config) if Path(given).is_file() else None
    cfg = incoming_config(config, headers)
    try:
        result = load_records(con, [given], cfg, table=table)
        has_id = True
    except InputError as exc:
        if not _no_id_error(exc, cfg):
            raise
        has_id = False
    if not has_id:
        tmp = Path(tempfile.mkdtemp(prefix="nayose-import-"))
        try:
            numbered = _with_row_numbers(Path(given), given, cfg, tmp)
            row_cfg = cfg.model_copy(deep=True)
            row_cfg.input.id_column = ROW_COLUMN
            row_cfg.input.encoding = "utf-8"
            try:
                result = load_records(con, [str(numbered)], row_cfg, table=table)
            except InputError as exc:
                # (the numbered copy has one field more per row than the file: counts as the file has them)
                def fields(m: re.Match) -> str:
                    n = int(m.group(1)) - 1
                    return f"{n} field{'' if n == 1 else 's'} but the header has {int(m.group(2)) - 1}"

                message = re.sub(r"(\d+) fields? but the header has (\d+)", fields, exc.message)
                raise InputError(message, given, exc.row, exc.column) from None
            con.execute(f"UPDATE {_q(table)} SET _source_file = ?", [given])
            for f in result.stats.get("files", []):
                f["path"] = given
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    result.stats["incoming_id"] = "Id column" if has_id else "row number"
    _check_person_columns(con, table, given, headers, cfg)
    result.stats["contacts_with_contact_fields"] = _contact_fields(con, config, table)
    con.execute(
        f"""CREATE OR REPLACE TABLE import_rows AS
        SELECT row_number() OVER (ORDER BY _source_row) AS row_no, "Id" AS incoming_id,
               {_lit(INCOMING_PREFIX)} || lpad(CAST(row_number() OVER (ORDER BY _source_row) AS VARCHAR), 9, '0') AS "Id"
        FROM {_q(table)}"""
    )
    return result


def build_import_raw(
    con: duckdb.DuckDBPyConnection, config: Config, existing: str, incoming: str = "import_incoming_raw"
) -> None:
    """`import_raw`: existing and incoming rows in one table (union by column name)."""
    bad = con.execute(
        f'SELECT "Id" FROM {_q(existing)} WHERE starts_with("Id", {_lit(INCOMING_PREFIX)}) LIMIT 1'
    ).fetchall()
    if bad:
        raise NayoseError(f"existing record Id {bad[0][0]!r} starts with {INCOMING_PREFIX!r}, reserved for incoming rows")
    in_cols = columns(con, incoming)
    ls = config.import_plan.incoming_lead_source
    extra = ""
    replace = ['r."Id" AS "Id"']
    if ls:
        from nayose.survive import card_sql, is_card_lead_source

        # (a business-card row -- a Sansan person ID -- keeps its own LeadSource, blank or not: a
        # purchased list's 購入リスト would relabel the card as a list record)
        fill = _lit(ls)
        if not is_card_lead_source(ls, config.survivorship):
            fill = f"CASE WHEN coalesce({card_sql(con, config, table=incoming, alias='i')}, false) THEN NULL ELSE {_lit(ls)} END"
        if "LeadSource" in in_cols:
            replace.append(f'coalesce(i."LeadSource", {fill}) AS "LeadSource"')
        else:
            extra = f', {fill} AS "LeadSource"'
    con.execute(
        f"""CREATE OR REPLACE TABLE import_raw AS
        SELECT * FROM {_q(existing)}
        UNION ALL BY NAME
        SELECT i.* REPLACE ({", ".join(replace)}){extra}
        FROM {_q(incoming)} i JOIN import_rows r ON r.incoming_id = i."Id" """
    )


# ---------------------------------------------------------------------------------------------
# Matching


def link_records(con: duckdb.DuckDBPyConnection, config: Config, progress=None) -> list[StageResult]:
    """Normalize `import_raw`, block and score in link mode, and cluster the incoming rows' own
    duplicates. Returns the stage results (normalize, block, score, cluster)."""
    results = [normalize_records(con, config, source="import_raw", target="import_normalized")]
    con.execute(
        f"""CREATE OR REPLACE TABLE import_side AS
        SELECT n.rec_idx, n.id AS "Id", starts_with(n.id, {_lit(INCOMING_PREFIX)}) AS incoming, r.row_no
        FROM import_normalized n LEFT JOIN import_rows r ON r."Id" = n.id"""
    )
    # Incoming rows are the newest information: for survivorship (most recent value, most recent
    # card) they rank after every existing record, whatever dates the file carries. Among
    # themselves they rank by the card's exchange date (名刺交換日, a CardExchangeDate column, else
    # CreatedDate / LastModifiedDate), so of two cards of one person the more recent one wins; a row
    # without a date ranks before the dated ones, and the file order breaks ties (the earlier row
    # wins, as the group's decision is made on its first row).
    exchange = exchange_date_sql(con, "r")
    con.execute(
        f"""UPDATE import_normalized SET
              created_date = x.t + to_seconds(k.c_rank), last_modified_date = x.t + to_seconds(k.m_rank)
        FROM (SELECT coalesce(greatest(max(created_date), max(last_modified_date)), TIMESTAMP '1970-01-01') AS t
              FROM import_normalized WHERE NOT {INCOMING_SQL}) x,
             (SELECT rec_idx,
                     row_number() OVER (ORDER BY c_key NULLS FIRST, row_no DESC) AS c_rank,
                     row_number() OVER (ORDER BY m_key NULLS FIRST, row_no DESC) AS m_rank
              FROM (SELECT n.rec_idx, o.row_no, coalesce({exchange}, n.created_date) AS c_key,
                           coalesce({exchange}, n.last_modified_date, n.created_date) AS m_key
                    FROM import_normalized n JOIN import_rows o ON o."Id" = n.id JOIN import_raw r ON r."Id" = n.id)) k
        WHERE {INCOMING_SQL} AND k.rec_idx = import_normalized.rec_idx"""
    )
    results.append(block_pairs(con, config, source="import_normalized", target="import_candidate_pairs",
                               incoming_sql=INCOMING_SQL))
    n_in, n_ex = con.execute("SELECT count(*) FILTER (WHERE incoming), count(*) FILTER (WHERE NOT incoming) FROM import_side").fetchall()[0]
    comparable = float(n_in) * float(n_ex) + float(n_in) * (n_in - 1) / 2
    results.append(score_pairs(con, config, source="import_normalized", pairs="import_candidate_pairs",
                               target="import_scored_pairs", progress=progress, comparable_pairs=comparable,
                               model_table="import_match_model"))
    con.execute(
        """CREATE OR REPLACE TABLE import_in_pairs AS
        SELECT p.* FROM import_scored_pairs p
        JOIN import_side a ON a.rec_idx = p.left_idx JOIN import_side b ON b.rec_idx = p.right_idx
        WHERE a.incoming AND b.incoming"""
    )
    results.append(cluster_records(con, config, source="import_normalized", pairs="import_in_pairs",
                                   target="import_in_clusters"))
    results[0].stats["incoming_names_split"] = split_whole_names(con)
    return results


#: Headers of a card's exchange date (a mapped CardExchangeDate__c, any …ExchangeDate… column, too).
EXCHANGE_DATE_HEADERS = ("名刺交換日", "名刺交換日時", "交換日")


def exchange_date_columns(cols: list[str]) -> list[str]:
    return [c for c in cols if c.strip() in EXCHANGE_DATE_HEADERS or "exchangedate" in c.casefold().replace("_", "")]


def exchange_date_sql(con: duckdb.DuckDBPyConnection, alias: str) -> str:
    """SQL timestamp over import_raw `alias`: the row's card exchange date, NULL when it has none."""
    from nayose.normalize import _sql_timestamp

    found = exchange_date_columns(columns(con, "import_incoming_raw"))
    if not found:
        return "NULL::TIMESTAMP"
    return "coalesce(" + ", ".join(
        f"CAST({_sql_timestamp(f'trim(CAST({alias}.{_q(c)} AS VARCHAR))')} AS TIMESTAMP)" for c in found) + ")"


def split_whole_names(con: duckdb.DuckDBPyConnection) -> int:
    """Incoming rows with the whole name in LastName (a card export's 氏名) get it split into
    LastName / FirstName in `import_raw`, as normalize split it (surname first or last, with or
    without a space), so an update or an insert never writes 佐藤 健 into LastName. The written
    form is kept (only cut). Python runs once per distinct name. Returns the rows split."""
    from nayose.normalize import normalize_name, strip_name_extras

    cols = columns(con, "import_raw")
    if "LastName" not in cols:
        return 0
    first_col = '"FirstName"' if "FirstName" in cols else "NULL"
    pairs = con.execute(
        f"""SELECT DISTINCT r."LastName", n.last_name FROM import_raw r JOIN import_normalized n ON n.id = r."Id"
        WHERE starts_with(r."Id", {_lit(INCOMING_PREFIX)}) AND {first_col} IS NULL
          AND r."LastName" IS NOT NULL AND n.first_name IS NOT NULL AND n.last_name IS NOT NULL"""
    ).fetchall()
    raw_v, last_v, first_v = [], [], []
    for raw, last in pairs:
        # (様 / 殿, a title or a note are no part of either name: 山田 太郎 様 gave FirstName 太郎 様; a
        # katakana name with its middle dot is given name first: ジョン・スミス; a comma parts the
        # surname from the given name: 山田、太郎)
        plain = strip_name_extras(raw).strip()
        dotted = re.fullmatch(r"([^\s・･·]+)\s*[・･·]\s*([^\s・･·]+)", plain)
        tokens = ([dotted.group(2), dotted.group(1)] if dotted
                  else [t for t in re.split(r"\s*[,，、]\s*|\s+", plain, maxsplit=1) if t])
        split = None
        if len(tokens) == 2:
            if normalize_name(tokens[0]) == last:
                split = (tokens[0], tokens[1])
            elif normalize_name(tokens[1]) == last:
                split = (tokens[1], tokens[0])
        elif len(plain) > len(last) and normalize_name(plain[: len(last)]) == last:
            split = (plain[: len(last)], plain[len(last):])
        if split and split[1].strip():
            raw_v.append(raw)
            last_v.append(split[0].strip())
            first_v.append(split[1].strip())
    if not raw_v:
        return 0
    if "FirstName" not in cols:
        con.execute('ALTER TABLE import_raw ADD COLUMN "FirstName" VARCHAR')
    if "FirstName" not in columns(con, "import_incoming_raw"):
        con.execute('ALTER TABLE import_incoming_raw ADD COLUMN "FirstName" VARCHAR')
    import pyarrow as pa

    con.register("_link_split", pa.table({"raw": pa.array(raw_v, pa.string()), "last": pa.array(last_v, pa.string()),
                                          "first": pa.array(first_v, pa.string())}))
    try:
        n = con.execute(
            f"""UPDATE import_raw SET "LastName" = s.last, "FirstName" = s.first FROM _link_split s
            WHERE import_raw."LastName" = s.raw AND import_raw."FirstName" IS NULL
              AND starts_with(import_raw."Id", {_lit(INCOMING_PREFIX)})"""
        ).fetchall()[0][0]
    finally:
        con.unregister("_link_split")
    return int(n)


def load_link_inputs(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    incoming: str | Path,
    existing_paths: list[str | Path] | None = None,
    existing_table: str | None = None,
) -> list[StageResult]:
    """Read both sides and build `import_raw`. The existing side comes from CSV files, or from a
    table already in the store (`existing_table`, e.g. the extracted org's raw_records)."""
    preload()
    results = []
    if existing_paths:
        ex = load_records(con, [str(p) for p in existing_paths], config, table="import_existing_raw")
        ex.stage = "read existing"
        results.append(ex)
        source = "import_existing_raw"
    elif existing_table:
        ex = StageResult(stage="read existing", table=existing_table)
        with timed(ex):
            ex.rows = int(con.execute(f"SELECT count(*) FROM {_q(existing_table)}").fetchall()[0][0])
            ex.stats = {"table": existing_table}
        results.append(ex)
        source = existing_table
    else:
        raise NayoseError("import-plan needs the existing records (--existing ORG.csv)")
    check_mapping_targets(config, columns(con, source),
                          ", ".join(str(p) for p in existing_paths) if existing_paths else f"(table {existing_table})")
    inc = load_incoming(con, incoming, config)
    inc.stage = "read incoming"
    results.append(inc)
    t0 = time.perf_counter()
    build_import_raw(con, config, source)
    inc.seconds = round(inc.seconds + time.perf_counter() - t0, 3)
    return results
