"""Records stage: Data Loader / business-card CSVs into DuckDB (nayose.records.load_records)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from nayose.config import Config, InputConfig
from nayose.errors import InputError
from nayose.records import load_records

LEAD_HEADER = (
    "Id,FirstName,LastName,Company,Title,Email,Phone,MobilePhone,Street,City,State,PostalCode,"
    "Country,LeadSource,OwnerId,CreatedDate,LastModifiedDate"
)
LEAD_ROWS = [
    "00Q5g00000AbCdEEAZ,太郎,山田,株式会社ABC,営業部長,taro.yamada@abc.co.jp,03-1234-5678,090-1111-2222,"
    "丸の内1-1-1,千代田区,東京都,100-0005,日本,Web,0055g00000OwNr1AAA,2024-04-01T09:00:00.000Z,"
    "2025-01-15T10:30:00.000Z",
    "00Q5g00000AbCdFEAZ,John,Smith,Acme Inc.,VP Sales,john.smith@acme.com,+1 415-555-0100,,"
    "1 Market St,San Francisco,CA,94105,USA,Trade Show,0055g00000OwNr1AAA,2023-11-20T02:00:00.000Z,"
    "2024-12-01T08:00:00.000Z",
    "00Q5g00000AbCdGEAZ,花子,佐藤,（株）サンプル商事,,hanako@sample.jp,０３－９８７６－５４３２,,,,,,,名刺,"
    "0055g00000OwNr2AAA,2022-06-30T00:00:00.000Z,2022-06-30T00:00:00.000Z",
]

CONTACT_HEADER = (
    "Id,AccountId,Account.Name,FirstName,LastName,Title,Email,Phone,MobilePhone,MailingStreet,"
    "MailingCity,MailingState,MailingPostalCode,MailingCountry,Birthdate,LeadSource,OwnerId,"
    "CreatedDate,LastModifiedDate,Sansan_Person_Id__c"
)
CONTACT_ROWS = [
    "0035g00000XyZaAAAU,0015g00000AcCtAAAQ,株式会社ABC,一郎,鈴木,課長,ichiro.suzuki@abc.co.jp,03-1234-5678,,"
    "丸の内1-1-1,千代田区,東京都,100-0005,日本,1980-05-05,名刺,0055g00000OwNr1AAA,2021-01-01T00:00:00.000Z,"
    "2025-02-02T00:00:00.000Z,SP-000123",
    "0035g00000XyZbAAAU,0015g00000AcCuAAAQ,Example Co.,Mary,Jones,CTO,mary@example.com,,,,,,,,,Web,"
    "0055g00000OwNr2AAA,2020-03-03T00:00:00.000Z,2024-03-03T00:00:00.000Z,",
]

SANSAN_HEADER = "名刺ID,会社名,部署名,役職,氏名,メールアドレス,郵便番号,住所,電話番号,携帯電話,名刺交換日"
SANSAN_ROWS = [
    "SN-0001,㈱髙島屋システムズ,営業部,部長,髙橋　一郎,takahashi@takashimaya-sys.co.jp,〒103-0027,"
    "東京都中央区日本橋①丁目,03-3211-4111,090-1234-5678,2024/10/01",
    "SN-0002,有限会社 サンプル,総務課,,　山本 さくら　,sakura@sample.co.jp,530-0001,大阪府大阪市北区梅田1-1,"
    "06-6345-0000,,2024/11/15",
]
SANSAN_COLUMNS = {
    "名刺ID": "Id",
    "会社名": "Company",
    "部署名": "Department",
    "役職": "Title",
    "氏名": "LastName",
    "メールアドレス": "Email",
    "郵便番号": "PostalCode",
    "住所": "Street",
    "電話番号": "Phone",
    "携帯電話": "MobilePhone",
    "Eight名刺URL": "Eight_Url__c",  # a header only another export has: ignored here
}


def write(path: Path, text: str, encoding: str = "utf-8", bom: bool = False, newline: str = "\n") -> Path:
    data = text.replace("\n", newline).encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def csv_text(header: str, rows: list[str]) -> str:
    return "\n".join([header, *rows]) + "\n"


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def columns(con: duckdb.DuckDBPyConnection, table: str = "raw_records") -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f'DESCRIBE "{table}"').fetchall()]


def table_exists(con: duckdb.DuckDBPyConnection, table: str = "raw_records") -> bool:
    return bool(rows(con, f"SELECT count(*) FROM duckdb_tables() WHERE table_name = '{table}'")[0][0])


def leftovers(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        r[0]
        for r in rows(
            con,
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '%nayose%' "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE view_name LIKE '%nayose%'",
        )
    ]


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


# ------------------------------------------------------------------------------------------
# happy paths


def test_utf8_lead_export(con, tmp_path):
    path = write(tmp_path / "leads.csv", csv_text(LEAD_HEADER, LEAD_ROWS))
    result = load_records(con, [path], Config())

    assert result.stage == "records" and result.table == "raw_records" and result.rows == 3
    cols = columns(con)
    assert cols[0] == ("Id", "VARCHAR") and cols[1] == ("Object", "VARCHAR")
    assert [c for c, _ in cols[2:-2]] == LEAD_HEADER.split(",")[1:]
    assert all(t == "VARCHAR" for _, t in cols[:-1])
    assert cols[-2:] == [("_source_file", "VARCHAR"), ("_source_row", "BIGINT")]

    got = rows(con, "SELECT Id, Object, LastName, Company, Phone, MobilePhone, Title, _source_file, _source_row "
                    "FROM raw_records ORDER BY _source_row")
    assert got == [
        ("00Q5g00000AbCdEEAZ", "Lead", "山田", "株式会社ABC", "03-1234-5678", "090-1111-2222", "営業部長", str(path), 2),
        ("00Q5g00000AbCdFEAZ", "Lead", "Smith", "Acme Inc.", "+1 415-555-0100", None, "VP Sales", str(path), 3),
        ("00Q5g00000AbCdGEAZ", "Lead", "佐藤", "（株）サンプル商事", "０３－９８７６－５４３２", None, None, str(path), 4),
    ]
    assert result.stats["files"] == [
        {
            "path": str(path),
            "encoding": "utf-8",
            "rows": 3,
            "columns": LEAD_HEADER.split(","),
            "mapped": {},
            "source_row": "line",
        }
    ]
    assert result.stats["objects"] == {"Lead": 3, "Contact": 0, "Account": 0}
    assert result.seconds >= 0
    assert leftovers(con) == []


def test_utf8_bom_contact_export_with_crlf(con, tmp_path):
    path = write(tmp_path / "contacts.csv", csv_text(CONTACT_HEADER, CONTACT_ROWS), bom=True, newline="\r\n")
    result = load_records(con, [str(path)], Config())

    names = [c for c, _ in columns(con)]
    assert names[:4] == ["Id", "Object", "AccountId", "Account.Name"]  # no BOM glued to the first name
    assert "Sansan_Person_Id__c" in names and "Birthdate" in names and "MailingPostalCode" in names
    got = rows(con, 'SELECT Id, Object, "Account.Name", MailingStreet, Birthdate, Sansan_Person_Id__c, '
                    "LastModifiedDate, _source_row FROM raw_records ORDER BY _source_row")
    assert got == [
        ("0035g00000XyZaAAAU", "Contact", "株式会社ABC", "丸の内1-1-1", "1980-05-05", "SP-000123",
         "2025-02-02T00:00:00.000Z", 2),  # no trailing \r kept from CRLF
        ("0035g00000XyZbAAAU", "Contact", "Example Co.", None, None, None, "2024-03-03T00:00:00.000Z", 3),
    ]
    assert result.stats["files"][0]["encoding"] == "utf-8-sig"
    assert result.stats["objects"] == {"Lead": 0, "Contact": 2, "Account": 0}


def test_cp932_sansan_export_mapped_through_config(con, tmp_path):
    path = write(tmp_path / "sansan_export.csv", csv_text(SANSAN_HEADER, SANSAN_ROWS), encoding="cp932",
                 newline="\r\n")
    config = Config(input=InputConfig(columns=SANSAN_COLUMNS, default_object="Lead"))
    result = load_records(con, [path], config)

    assert [c for c, _ in columns(con)] == [
        "Id", "Object", "Company", "Department", "Title", "LastName", "Email", "PostalCode", "Street", "Phone",
        "MobilePhone", "名刺交換日", "_source_file", "_source_row",
    ]
    got = rows(con, "SELECT Id, Object, Company, LastName, PostalCode, Street, Title, 名刺交換日 "
                    "FROM raw_records ORDER BY _source_row")
    assert got == [
        ("SN-0001", "Lead", "㈱髙島屋システムズ", "髙橋\u3000一郎", "〒103-0027", "東京都中央区日本橋①丁目", "部長",
         "2024/10/01"),
        # full-width spaces around a value are trimmed, the one inside a name is kept
        ("SN-0002", "Lead", "有限会社 サンプル", "山本 さくら", "530-0001", "大阪府大阪市北区梅田1-1", None,
         "2024/11/15"),
    ]
    info = result.stats["files"][0]
    assert info["encoding"] == "cp932"
    assert info["mapped"]["会社名"] == "Company" and "Eight名刺URL" not in info["mapped"]
    assert info["columns"][0] == "Id"


def test_explicit_cp932_and_explicit_utf8_are_honoured(con, tmp_path):
    sjis = write(tmp_path / "sansan.csv", csv_text(SANSAN_HEADER, SANSAN_ROWS), encoding="cp932")
    config = Config(input=InputConfig(columns=SANSAN_COLUMNS, default_object="Contact", encoding="cp932"))
    result = load_records(con, [sjis], config)
    assert result.stats["files"][0]["encoding"] == "cp932"
    assert result.stats["objects"]["Contact"] == 2

    utf8 = write(tmp_path / "leads.csv", csv_text(LEAD_HEADER, LEAD_ROWS))
    result = load_records(con, [utf8], Config(input=InputConfig(encoding="utf-8")))
    assert result.rows == 3 and result.stats["files"][0]["encoding"] == "utf-8"


def test_data_loader_upper_case_headers_and_custom_fields(con, tmp_path):
    text = (
        '"ID","FIRSTNAME","LASTNAME","ACCOUNT.NAME","EMAIL","SCORE__C","Unknown Column","ｶﾅ氏名__c"\n'
        '"0035g00000XyZaAAAU","一郎","鈴木","株式会社ABC","ichiro@abc.co.jp","  87 ","keep me","ｽｽﾞｷ ｲﾁﾛｳ"\n'
    )
    load_records(con, [write(tmp_path / "extract.csv", text)], Config())
    assert [c for c, _ in columns(con)] == [
        "Id", "Object", "FirstName", "LastName", "Account.Name", "Email", "SCORE__C", "Unknown Column", "ｶﾅ氏名__c",
        "_source_file", "_source_row",
    ]
    assert rows(con, 'SELECT Object, SCORE__C, "Unknown Column", "ｶﾅ氏名__c" FROM raw_records') == [
        ("Contact", "87", "keep me", "ｽｽﾞｷ ｲﾁﾛｳ")
    ]


def test_object_from_prefix_object_column_and_default(con, tmp_path):
    text = (
        "Id,Object,LastName\n"
        "00Q5g00000AAAAAAAA,,山田\n"  # empty Object: prefix
        "0035g00000BBBBBBBB,,佐藤\n"
        "0015g00000CCCCCCCC,,株式会社ABC\n"
        "a0X5g00000DDDDDDDD,lead,鈴木\n"  # Object column, any case
        "SN-0001,CONTACT,高橋\n"
        "SN-0002, Account ,ABC Holdings\n"
    )
    result = load_records(con, [write(tmp_path / "mixed.csv", text)], Config())
    assert rows(con, "SELECT Id, Object FROM raw_records ORDER BY _source_row") == [
        ("00Q5g00000AAAAAAAA", "Lead"),
        ("0035g00000BBBBBBBB", "Contact"),
        ("0015g00000CCCCCCCC", "Account"),
        ("a0X5g00000DDDDDDDD", "Lead"),
        ("SN-0001", "Contact"),
        ("SN-0002", "Account"),
    ]
    assert "Object" not in [c for c, _ in columns(con)][2:]  # consumed, not repeated
    assert result.stats["objects"] == {"Lead": 2, "Contact": 2, "Account": 2}

    # Unknown prefix, no Object column: input.default_object decides.
    path = write(tmp_path / "eight.csv", "Id,LastName\nE-1,田中\n00Q5g00000EEEEEEEE,Lee\n")
    load_records(con, [path], Config(input=InputConfig(default_object="Contact")))
    assert rows(con, "SELECT Id, Object FROM raw_records ORDER BY _source_row") == [
        ("E-1", "Contact"), ("00Q5g00000EEEEEEEE", "Lead"),
    ]


def test_two_files_with_different_columns_are_unioned_by_name(con, tmp_path):
    leads = write(tmp_path / "leads.csv", csv_text(LEAD_HEADER + ",Campaign__c", [r + ",CP-1" for r in LEAD_ROWS]))
    contacts = write(tmp_path / "contacts.csv", csv_text(CONTACT_HEADER, CONTACT_ROWS), encoding="utf-8", bom=True)
    result = load_records(con, [leads, contacts], Config())

    names = [c for c, _ in columns(con)]
    lead_cols = LEAD_HEADER.split(",")[1:] + ["Campaign__c"]
    assert names[2 : 2 + len(lead_cols)] == lead_cols  # first file's columns first, in file order
    assert {"AccountId", "Account.Name", "MailingStreet", "Birthdate", "Sansan_Person_Id__c"} <= set(names)
    assert names[-2:] == ["_source_file", "_source_row"]
    got = rows(con, "SELECT Id, Object, Company, \"Account.Name\", Campaign__c, _source_file, _source_row "
                    "FROM raw_records")
    assert got == [  # file order, then row order
        ("00Q5g00000AbCdEEAZ", "Lead", "株式会社ABC", None, "CP-1", str(leads), 2),
        ("00Q5g00000AbCdFEAZ", "Lead", "Acme Inc.", None, "CP-1", str(leads), 3),
        ("00Q5g00000AbCdGEAZ", "Lead", "（株）サンプル商事", None, "CP-1", str(leads), 4),
        ("0035g00000XyZaAAAU", "Contact", None, "株式会社ABC", None, str(contacts), 2),
        ("0035g00000XyZbAAAU", "Contact", None, "Example Co.", None, str(contacts), 3),
    ]
    assert result.rows == 5
    assert [(f["path"], f["rows"], f["encoding"]) for f in result.stats["files"]] == [
        (str(leads), 3, "utf-8"), (str(contacts), 2, "utf-8-sig"),
    ]
    assert result.stats["objects"] == {"Lead": 3, "Contact": 2, "Account": 0}


def test_union_matches_column_names_case_insensitively(con, tmp_path):
    a = write(tmp_path / "a.csv", "Id,LastName,Score__c\n00Q000000000001,山田,1\n")
    b = write(tmp_path / "b.csv", "ID,LASTNAME,SCORE__C\n00Q000000000002,佐藤,2\n")
    load_records(con, [a, b], Config())
    assert [c for c, _ in columns(con)] == ["Id", "Object", "LastName", "Score__c", "_source_file", "_source_row"]
    assert rows(con, "SELECT LastName, Score__c FROM raw_records") == [("山田", "1"), ("佐藤", "2")]


def test_source_row_is_the_physical_line_with_multiline_values(con, tmp_path):
    text = (
        "Id,LastName,Street,Description\n"
        '00Q000000000001,山田,"丸の内1-1-1\n丸の内ビル5F","first\nsecond\nthird"\n'
        "00Q000000000002,佐藤,梅田1-1,\n"
        '00Q000000000003,"Smith","1 Market St\nSuite 400",""\n'
        "00Q000000000004,Lee,,\n"
    )
    for newline in ("\n", "\r\n"):
        path = write(tmp_path / "multiline.csv", text, newline=newline)
        result = load_records(con, [path], Config())
        assert rows(con, "SELECT Id, _source_row FROM raw_records") == [
            ("00Q000000000001", 2), ("00Q000000000002", 6), ("00Q000000000003", 7), ("00Q000000000004", 9),
        ]
        assert result.stats["files"][0]["source_row"] == "line"
        street = rows(con, "SELECT Street FROM raw_records WHERE Id = '00Q000000000001'")[0][0]
        assert street == "丸の内1-1-1" + newline + "丸の内ビル5F"


def test_source_row_counts_blank_lines_and_trimmed_line_breaks(con, tmp_path):
    text = (
        "Id,LastName,Street\n"
        "00Q000000000001,山田,\n"
        "\n"  # a blank line (DuckDB skips it)
        '00Q000000000002,佐藤,"梅田1-1\n"\n'  # a line break trimmed off the end of a quoted value
        "00Q000000000003,Smith,x\n"
        "\n\n"
    )
    result = load_records(con, [write(tmp_path / "blank.csv", text)], Config())
    assert rows(con, "SELECT Id, Street, _source_row FROM raw_records") == [
        ("00Q000000000001", None, 2), ("00Q000000000002", "梅田1-1", 4), ("00Q000000000003", "x", 6),
    ]
    assert result.stats["files"][0]["source_row"] == "line"


def test_values_trimmed_and_empty_strings_null(con, tmp_path):
    text = 'Id,FirstName,LastName,Email,Title\n 00Q000000000001 ,"  太郎 ",\u3000山田\u3000,"",\t \n'
    load_records(con, [write(tmp_path / "ws.csv", text)], Config())
    assert rows(con, "SELECT Id, FirstName, LastName, Email, Title FROM raw_records") == [
        ("00Q000000000001", "太郎", "山田", None, None)
    ]


def test_file_without_trailing_newline_and_custom_table_name(con, tmp_path):
    path = write(tmp_path / "nonl.csv", "Id,LastName\n00Q000000000001,山田")
    result = load_records(con, [path], Config(), table="leads_raw")
    assert result.table == "leads_raw"
    assert rows(con, "SELECT Id, _source_row FROM leads_raw") == [("00Q000000000001", 2)]
    assert not table_exists(con)


def test_reload_replaces_the_table(con, tmp_path):
    load_records(con, [write(tmp_path / "a.csv", csv_text(LEAD_HEADER, LEAD_ROWS))], Config())
    load_records(con, [write(tmp_path / "b.csv", csv_text(CONTACT_HEADER, CONTACT_ROWS))], Config())
    assert rows(con, "SELECT count(*), min(Object), max(Object) FROM raw_records") == [(2, "Contact", "Contact")]


def test_path_with_glob_characters(con, tmp_path):
    path = write(tmp_path / "leads [2024] *.csv", csv_text(LEAD_HEADER, LEAD_ROWS))
    result = load_records(con, [path], Config())
    assert result.rows == 3
    assert rows(con, "SELECT DISTINCT _source_file FROM raw_records") == [(str(path),)]


def test_cp932_detected_after_the_first_mebibyte(con, tmp_path):
    # ASCII for more than 1 MiB, then CP932: the UTF-8 read meets the bad bytes late and falls back.
    filler = [f"00Q{i:012d},Smith{i},Acme Inc." for i in range(60_000)]
    text = csv_text("Id,LastName,Company", filler + ["00Q999999999999,髙橋,㈱サンプル"])
    path = write(tmp_path / "late_sjis.csv", text, encoding="cp932")
    assert path.stat().st_size > 1 << 20
    result = load_records(con, [path], Config())
    assert result.stats["files"][0]["encoding"] == "cp932"
    assert rows(con, "SELECT LastName, Company, _source_row FROM raw_records WHERE Id = '00Q999999999999'") == [
        ("髙橋", "㈱サンプル", 60_002)
    ]


# ------------------------------------------------------------------------------------------
# bad input: one InputError naming the file (and row / column); nothing written


def _bad(tmp_path: Path, name: str, data: bytes | None) -> Path:
    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    return path


BAD_CASES = [
    # id, file name, bytes (None: no file), config kwargs, expected message part, row, column
    ("missing", "nope.csv", None, {}, "file not found", None, None),
    ("empty", "empty.csv", b"", {}, "empty file (0 bytes)", None, None),
    ("header-only", "header_only.csv", b"Id,FirstName,LastName\n", {}, "no data rows", None, None),
    ("header-only-no-newline", "h.csv", b"Id,LastName", {}, "no data rows", None, None),
    ("header-and-blank-lines", "hb.csv", b"Id,LastName\n\n\n", {}, "no data rows", None, None),
    ("blank-first-line", "blank_first.csv", b"\nId,LastName\n00Q000000000001,x\n", {}, "no header", 1, None),
    ("json", "export.csv", b'[{"Id": "00Q000000000001"}]\n', {}, "looks like JSON", 1, None),
    ("html", "export.csv", b"<!DOCTYPE html><html>\n", {}, "looks like XML / HTML", 1, None),
    ("tab-separated", "tabs.csv", "Id\t氏名\n00Q000000000001\t山田\n".encode(), {}, "tab-separated", 1, None),
    ("xlsx", "leads.xlsx.csv", b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, {}, "Excel workbook", None, None),
    ("utf16", "unicode.csv", "Id,LastName\n".encode("utf-16"), {}, "UTF-16", None, None),
    ("nul", "bin.csv", b"Id,LastName\n00Q000000000001,a\x00b\n", {}, "NUL", 2, None),
    ("no-id-column", "noid.csv", "LastName,Email\n山田,taro@abc.co.jp\n".encode(), {},
     "no 'Id' column; columns found: LastName, Email", 1, None),
    ("no-header", "noheader.csv", "00Q5g00000AbCdEEAZ,山田,taro@abc.co.jp\n00Q5g00000AbCdFEAZ,佐藤,x@y.jp\n".encode(),
     {}, "looks like a data row", 1, None),
    ("card-export-without-ids", "sansan_export.csv", "会社名,氏名,メールアドレス\nABC,山田,taro@abc.co.jp\n".encode("cp932"), {},
     "has no Ids: match it against the org with `nayose import-plan", 1, None),
    ("no-id-after-mapping", "sansan.csv", "会社名,氏名\nABC,山田\n".encode("cp932"),
     {"columns": {"会社名": "Company", "氏名": "LastName"}},
     "no 'Id' column (after input.columns mapping); columns found: 会社名, 氏名", 1, None),
    ("empty-id", "emptyid.csv", b"Id,LastName\n00Q000000000001,a\n  ,b\n", {}, "empty Id", 3, "Id"),
    ("empty-id-mapped", "sansan.csv", "名刺ID,氏名\nSN-1,山田\n,佐藤\n".encode("cp932"),
     {"columns": {"名刺ID": "Id", "氏名": "LastName"}, "default_object": "Lead"}, "empty Id", 3, "名刺ID"),
    ("duplicate-id", "dup.csv", b"Id,LastName\n00Q000000000001,a\n00Q000000000002,b\n00Q000000000001,c\n", {},
     "duplicate Id '00Q000000000001': already on row 2", 4, "Id"),
    ("ragged", "ragged.csv", "Id,LastName\n00Q000000000001,山田\n00Q000000000002,佐藤,余分\n".encode(), {},
     "ragged row: 3 fields but the header has 2", 3, None),
    # An unquoted comma in a value shifts the later fields; the row's last fields were empty, so
    # DuckDB's strict mode alone would take it (ABC Co. in Company, " Ltd." in Email).
    ("unquoted-comma", "handmade.csv",
     "Id,LastName,FirstName,Company,Email\n00Q000000000001,髙橋,健一,ABC,k@abc.co.jp\n"
     "00Q000000000002,髙橋,健一,ABC Co., Ltd.,,\n".encode(), {},
     "ragged row: 7 fields but the header has 5 (the last 2 empty: a value with an unquoted comma", 3, None),
    ("short", "short.csv", b"Id,LastName,Email\n00Q000000000001,a,b\n00Q000000000002\n", {},
     "short row: 1 field but the header has 3", 3, None),
    ("ragged-after-multiline", "r2.csv", b'Id,Street\n00Q000000000001,"a\nb\nc"\n\n00Q000000000002,x,y\n', {},
     "ragged row", 6, None),
    ("unterminated-quote", "quote.csv", b'Id,LastName\n00Q000000000001,a\n00Q000000000002,"b\n00Q000000000003,c\n',
     {}, "unterminated quote", 3, "LastName"),
    ("text-after-quote", "quote2.csv", b'Id,LastName\n00Q000000000001,"a"b\n', {}, "text after the closing quote",
     2, "LastName"),
    ("duplicate-header", "duphdr.csv", b"Id,Email,LastName,email\n00Q000000000001,a,b,c\n", {},
     "duplicate column name in header (fields 2 and 4)", 1, "email"),
    ("duplicate-after-mapping", "sansan.csv", "Id,メールアドレス,Email\n1,a,b\n".encode(),
     {"columns": {"メールアドレス": "Email"}}, "both map to 'Email'", 1, "Email"),
    ("empty-header-name", "emptyname.csv", b"Id,,LastName\n00Q000000000001,a,b\n", {}, "header field 2 has no name",
     1, None),
    ("value-under-trailing-unnamed-field", "excel.csv", b"Id,LastName,,\r\n00Q000000000001,a,,\r\n00Q000000000002,b,, x\r\n", {},
     "header field 4 has no name, but this row holds a value in it", 3, None),
    ("reserved-name", "reserved.csv", b"Id,_source_row\n00Q000000000001,1\n", {}, "reserved", 1, "_source_row"),
    ("undecodable", "bad.csv", b"Id,LastName\n00Q000000000001,a\n00Q000000000002,\x85\x40\xff\n", {},
     "undecodable bytes 0x85: not UTF-8 (fails at line 3) nor CP932 (fails at line 3)", 3, None),
    ("utf8-then-cp932", "mixed.csv",
     "Id,LastName\n00Q000000000001,山田太郎\n".encode() + "00Q000000000002,佐藤\n".encode("cp932"), {},
     "the file is UTF-8 up to this line but not here", 3, None),
    ("explicit-utf8-on-cp932", "sansan.csv", "Id,LastName\n00Q000000000001,山田\n".encode("cp932"),
     {"encoding": "utf-8"}, "not valid utf-8 (try input.encoding: cp932)", 2, None),
    ("explicit-shift_jis-nec-chars", "sansan.csv", "Id,会社名\n00Q000000000001,ABC\n00Q000000000002,㈱ABC\n".encode("cp932"),
     {"encoding": "shift_jis"}, "not valid shift_jis", 3, None),
    ("cp932-unassigned-byte", "sj.csv", "Id,氏名\n00Q000000000001,山田\n".encode("cp932") + b"00Q000000000002,\xa0\n",
     {}, "nor CP932", 3, None),
    ("salesforce-report-ja", "report.csv", '"リード ID","姓","名","会社名","メール"\n"00Q5F000000I5D6","藤原","誠一","山陰通信運輸(株)","f@sanin.co.jp"\n'.encode(),
     {}, "this looks like a Salesforce report export (field labels, not API names)", 1, None),
    ("salesforce-report-en", "report.csv", b'"Contact ID","Last Name","Email"\n"0035F000000CoB6","Fujiwara","f@sanin.co.jp"\n',
     {}, "export the records with Data Loader or `nayose extract`", 1, None),
    ("unknown-object", "obj.csv", b"Id,LastName\n00Q000000000001,a\nSN-0001,b\n", {}, "cannot tell the object of Id 'SN-0001'",
     3, "Id"),
    ("invalid-object-value", "obj.csv", b"Id,Object,LastName\n00Q000000000001,Lead,a\n00Q000000000002,Opportunity,b\n",
     {}, "Object 'Opportunity' is not one of Lead, Contact, Account", 3, "Object"),
]


@pytest.mark.parametrize(
    "name, data, input_kwargs, expected, row, column", [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
def test_bad_input(con, tmp_path, name, data, input_kwargs, expected, row, column):
    path = _bad(tmp_path, name, data)
    with pytest.raises(InputError) as info:
        load_records(con, [path], Config(input=InputConfig(**input_kwargs)))
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert expected in message, message
    assert err.file == str(path) and message.startswith(str(path))
    assert err.row == row, message
    assert err.column == column, message
    assert not table_exists(con)
    assert leftovers(con) == []


def test_commas_inside_a_multiline_quoted_value_are_not_extra_fields(con, tmp_path):
    """A street on two lines whose second line holds commas (and every field after it) is one
    record of the header's width: read, not mistaken for a row with surplus fields."""
    path = write(tmp_path / "multiline.csv",
                 'Id,Street,City,State,PostalCode\n00Q000000000001,"Suite 100\nFloor 3, Bldg A, Wing B",Austin,TX,78701\n'
                 "00Q000000000002,1-1-1 千代田,千代田区,東京都,100-0001\n")
    result = load_records(con, [path], Config())
    assert result.rows == 2
    assert rows(con, "SELECT Street FROM raw_records ORDER BY Id")[0] == ("Suite 100\nFloor 3, Bldg A, Wing B",)


def test_bad_input_leaves_an_existing_table_unchanged(con, tmp_path):
    good = write(tmp_path / "good.csv", csv_text(LEAD_HEADER, LEAD_ROWS))
    load_records(con, [good], Config())
    before = rows(con, "SELECT * FROM raw_records ORDER BY Id")
    bad = write(tmp_path / "bad.csv", "Id,LastName\n00Q000000000001,山田\n00Q000000000002,佐藤,余分\n")
    with pytest.raises(InputError, match="ragged row"):
        load_records(con, [good, bad], Config())
    assert rows(con, "SELECT * FROM raw_records ORDER BY Id") == before
    assert leftovers(con) == []


def test_not_a_file(con, tmp_path):
    with pytest.raises(InputError) as info:
        load_records(con, [tmp_path], Config())
    assert str(info.value) == f"{tmp_path}: not a file (it is a directory)"
    assert not table_exists(con)


def test_no_paths(con):
    with pytest.raises(InputError, match="no input files"):
        load_records(con, [], Config())


def test_duplicate_ids_across_files_name_both_files_and_rows(con, tmp_path):
    a = write(tmp_path / "leads_2024.csv", "Id,LastName\n00Q000000000001,山田\n00Q000000000002,佐藤\n")
    b = write(tmp_path / "leads_2025.csv", "Id,LastName,Email\n00Q000000000003,鈴木,\n00Q000000000002,佐藤,s@x.jp\n")
    with pytest.raises(InputError) as info:
        load_records(con, [a, b], Config())
    err = info.value
    assert str(err) == (
        f"{b}, row 3, column 'Id': duplicate Id '00Q000000000002': already on {a} row 3"
    )
    assert not table_exists(con)
    assert leftovers(con) == []


def test_one_record_as_a_15_and_an_18_character_id_is_a_duplicate(con, tmp_path):
    """A report exports 15-character Ids, Data Loader 18-character ones: the same record in both
    was grouped with itself and planned as a merge into itself. Two different records whose
    15-character Ids differ only in case stay two records."""
    a = write(tmp_path / "dataloader.csv", "Id,LastName\n00Q5F000000dc1DUAQ,山田\n00Q5F000000dc1GUAQ,佐藤\n")
    b = write(tmp_path / "report.csv", "Id,LastName\n00Q5F000000dc1d,鈴木\n00Q5F000000dc1D,山田\n")
    with pytest.raises(InputError) as info:
        load_records(con, [a, b], Config())
    assert str(info.value) == (
        f"{b}, row 3, column 'Id': duplicate Id '00Q5F000000dc1D': already on {a} row 2 as '00Q5F000000dc1DUAQ' "
        "(one record: a 15-character Id is the first 15 characters of the 18-character one)"
    )
    assert not table_exists(con)
    c = write(tmp_path / "cases.csv", "Id,LastName\n00Q5F000000dc1d,鈴木\n00Q5F000000dc1D,山田\n")
    load_records(con, [c], Config())
    assert con.execute("SELECT count(*) FROM raw_records").fetchall() == [(2,)]


def test_duplicate_ids_count_all_duplicates(con, tmp_path):
    text = "Id,LastName\n" + "".join(f"00Q00000000000{i},x\n00Q00000000000{i},y\n" for i in range(3))
    with pytest.raises(InputError, match=r"already on row 2 \(3 duplicated Ids in all\)"):
        load_records(con, [write(tmp_path / "d.csv", text)], Config())


def test_ids_are_case_sensitive(con, tmp_path):
    # 15-character Salesforce Ids differ by case only: not duplicates.
    path = write(tmp_path / "ids.csv", "Id,LastName\n00Q5g00000abcde,a\n00Q5g00000ABCDE,b\n")
    assert load_records(con, [path], Config()).rows == 2


def test_bad_row_late_in_a_big_file_is_named_by_line(con, tmp_path):
    body = [f'00Q{i:012d},"Street {i}\nFloor 2",x' if i % 500 == 0 else f"00Q{i:012d},s,x" for i in range(40_000)]
    body.append("00Q999999999999,s")  # short row at the end
    path = write(tmp_path / "late.csv", csv_text("Id,Street,Note", body))
    with pytest.raises(InputError) as info:
        load_records(con, [path], Config())
    assert info.value.row == 1 + 40_000 + 40_000 // 500 + 1
    assert "short row: 2 fields but the header has 3" in str(info.value)


def test_one_column_file_skips_blank_lines(con, tmp_path):
    # DuckDB reads blank lines of a one-column file as NULL rows; they are skipped like in wider files.
    path = write(tmp_path / "ids.csv", "Id\n00Q000000000001\n\n0035g00000XyZaAAAU\n\n\n", newline="\r\n")
    result = load_records(con, [path], Config())
    assert rows(con, "SELECT Id, Object, _source_row FROM raw_records") == [
        ("00Q000000000001", "Lead", 2), ("0035g00000XyZaAAAU", "Contact", 4),
    ]
    assert result.stats["files"][0]["source_row"] == "line"


def test_rows_of_empty_fields_are_skipped_like_blank_lines(con, tmp_path):
    """Excel saves rows whose cells were cleared as ",,,": skipped (they stopped the run with "empty
    Id"); line numbers stay the file's; a row with a value but no Id is still an error."""
    text = "Id,LastName,Company\n00Q000000000001,山田,A社\n,,\n 　,,\n00Q000000000002,佐藤,B社\n,,\n"
    result = load_records(con, [write(tmp_path / "ghost.csv", text)], Config())
    assert rows(con, "SELECT Id, _source_row FROM raw_records") == [("00Q000000000001", 2), ("00Q000000000002", 5)]
    assert result.rows == 2
    with pytest.raises(InputError, match=r"row 3, column 'Id': empty Id"):
        load_records(con, [write(tmp_path / "noid.csv", "Id,LastName,Company\n00Q000000000001,山田,A社\n,佐藤,B社\n")], Config())
    with pytest.raises(InputError, match="no data rows"):
        load_records(con, [write(tmp_path / "none.csv", "Id,LastName,Company\n,,\n,,\n")], Config())


def test_cp932_multiline_address_keeps_true_line_numbers(con, tmp_path):
    text = csv_text(
        SANSAN_HEADER,
        [
            SANSAN_ROWS[0],
            'SN-0003,株式会社ＡＢＣ,開発部,主任,田中 花子,hanako@abc.co.jp,〒150-0002,"東京都渋谷区渋谷2-21-1\n'
            'ヒカリエ 11F",03-5468-0000,,2025/01/20',
            SANSAN_ROWS[1],
        ],
    )
    path = write(tmp_path / "sansan_ml.csv", text, encoding="cp932", newline="\r\n")
    config = Config(input=InputConfig(columns=SANSAN_COLUMNS, default_object="Lead"))
    load_records(con, [path], config)
    assert rows(con, "SELECT Id, Street, _source_row FROM raw_records") == [
        ("SN-0001", "東京都中央区日本橋①丁目", 2),
        ("SN-0003", "東京都渋谷区渋谷2-21-1\r\nヒカリエ 11F", 3),
        ("SN-0002", "大阪府大阪市北区梅田1-1", 5),
    ]


def test_explicit_shift_jis_and_utf8_sig(con, tmp_path):
    sjis = write(tmp_path / "jis.csv", "Id,LastName,Company\n00Q000000000001,山田,株式会社サンプル\n",
                 encoding="shift_jis")
    result = load_records(con, [sjis], Config(input=InputConfig(encoding="shift_jis")))
    assert result.stats["files"][0]["encoding"] == "shift_jis"
    assert rows(con, "SELECT Company FROM raw_records") == [("株式会社サンプル",)]

    bom = write(tmp_path / "bom.csv", "Id,LastName\n00Q000000000001,山田\n", bom=True)
    result = load_records(con, [bom], Config(input=InputConfig(encoding="utf-8-sig")))
    assert result.stats["files"][0]["encoding"] == "utf-8-sig"
    assert [c for c, _ in columns(con)][:3] == ["Id", "Object", "LastName"]


def test_file_order_kept_even_if_the_connection_does_not_preserve_insertion_order(con, tmp_path):
    con.execute("SET preserve_insertion_order = false")
    body = [f'00Q{i:012d},"s\n{i}"' if i % 7 == 0 else f"00Q{i:012d},s{i}" for i in range(20_000)]
    load_records(con, [write(tmp_path / "order.csv", csv_text("Id,Street", body))], Config())
    # row i starts on line 2 + i + (rows before it with a two-line value)
    got = rows(con, "SELECT CAST(substr(Id, 4) AS BIGINT), _source_row FROM raw_records")
    assert [line for _, line in got] == [2 + i + (i + 6) // 7 for i in range(20_000)]
    assert rows(con, "SELECT current_setting('preserve_insertion_order')") == [(False,)]


def test_rows_of_a_file_read_in_parallel_keep_their_line_numbers(con, tmp_path):
    """A file big enough for DuckDB to parse in parallel (~40 MB): every record keeps its line,
    so a duplicate Id late in the file is named on the right rows (DuckDB 2.0.1 stored the rows
    of a trimming projection over read_csv out of file order: both rows were wrong)."""
    pad = "東京都千代田区丸の内1-1-1 " * 8
    body = [f"00Q{i:012d},山田{i},{pad}{i},株式会社テスト{i % 97}" for i in range(120_000)]
    body[99_999] = "00Q000000059999" + body[99_999][15:]  # line 100,001 repeats line 60,001's Id
    path = write(tmp_path / "big.csv", csv_text("Id,LastName,Street,Company", body))
    with pytest.raises(InputError) as info:
        load_records(con, [path], Config())
    assert info.value.row == 100_001
    assert "duplicate Id '00Q000000059999': already on row 60001" in str(info.value)
    body[99_999] = "00Q999999999999" + body[99_999][15:]
    write(path, csv_text("Id,LastName,Street,Company", body))
    load_records(con, [path], Config())
    wrong = rows(con, "SELECT count(*) FROM raw_records WHERE LastName <> '山田' || (_source_row - 2)")
    assert wrong == [(0,)]


def test_trailing_unnamed_fields_of_a_spreadsheet_export_are_left_out(con, tmp_path):
    """Excel writes ",,," after the last column when cells to the right were ever touched: the
    unnamed trailing fields are read, found empty and left out; the rows keep their line numbers."""
    path = tmp_path / "excel.csv"
    path.write_bytes("Id,LastName,Company,,\r\n00Q000000000001,山田,ABC株式会社,,\r\n00Q000000000002,佐藤,,,\r\n"
                     .encode("utf-8-sig"))
    load_records(con, [path], Config())
    cols = [r[0] for r in con.execute("DESCRIBE raw_records").fetchall()]
    assert cols == ["Id", "Object", "LastName", "Company", "_source_file", "_source_row"]
    assert con.execute('SELECT "Id", "LastName", _source_row FROM raw_records ORDER BY _source_row').fetchall() == [
        ("00Q000000000001", "山田", 2), ("00Q000000000002", "佐藤", 3)]
