"""The CSV source: realistic Japanese exports (UTF-8 Data Loader, CP932, a business-card export
mapped through the rules file) go through every asset.

The model is estimated without labels from the candidate pairs themselves, so a handful of rows
alone is no basis for it: each run also loads a background export of 500 synthetic records.
"""

import csv

import duckdb
import pytest
from pipeline_helpers import failure_messages, materialization, run_job

HEADER = ["Id", "Object", "LastName", "FirstName", "Company", "Email", "Phone", "MobilePhone",
          "PostalCode", "State", "City", "Street", "LeadSource"]
LEADS = [
    # 山田太郎 three times: web form, business card (full-width, ㈱), a trade-show list in half-width kana.
    ["00Q000000000001AAA", "Lead", "山田", "太郎", "株式会社サンプル商事", "taro.yamada@sample.co.jp", "03-1234-5678",
     "090-1111-2222", "100-0001", "東京都", "千代田区", "千代田1-1-1", "Web"],
    ["00Q000000000002AAA", "Lead", "山田", "太郎", "㈱サンプル商事", "ＴＡＲＯ．ＹＡＭＡＤＡ＠ｓａｍｐｌｅ．ｃｏ．ｊｐ", "０３（１２３４）５６７８",
     "09011112222", "1000001", "東京都", "千代田区", "千代田１－１－１", "名刺"],
    ["00Q000000000003AAA", "Lead", "ﾔﾏﾀﾞ", "ﾀﾛｳ", "サンプル商事", "", "03-1234-5678",
     "090-1111-2222", "100-0001", "東京都", "千代田区", "千代田1丁目1番1号", "展示会"],
    # A colleague at the same company: same switchboard and address, a different person.
    ["00Q000000000004AAA", "Lead", "鈴木", "一郎", "株式会社サンプル商事", "ichiro.suzuki@sample.co.jp", "03-1234-5678",
     "080-3333-4444", "100-0001", "東京都", "千代田区", "千代田1-1-1", "Web"],
    ["00Q000000000005AAA", "Lead", "佐藤", "花子", "有限会社テスト工業", "hanako.sato@test-kogyo.jp", "06-9876-5432",
     "", "530-0001", "大阪府", "大阪市北区", "梅田2-2-2", "Web"],
    ["00Q000000000006AAA", "Lead", "高橋", "健", "合同会社ミライ", "ken.takahashi@mirai.example", "045-111-2222",
     "070-5555-6666", "220-0012", "神奈川県", "横浜市西区", "みなとみらい3-3-3", "Web"],
]
# A Contact export from Data Loader: upper-case headers, CP932 (Shift_JIS) as Excel saves it.
CONTACT_HEADER = ["ID", "LASTNAME", "FIRSTNAME", "EMAIL", "PHONE", "MAILINGPOSTALCODE", "MAILINGSTATE",
                  "MAILINGCITY", "MAILINGSTREET"]
CONTACTS = [
    ["003000000000001AAA", "佐藤", "花子", "hanako.sato@test-kogyo.jp", "06-9876-5432", "530-0001", "大阪府",
     "大阪市北区", "梅田2丁目2-2"],
    ["003000000000002AAA", "高橋", "健", "ken.takahashi@mirai.example", "045-111-2222", "220-0012", "神奈川県",
     "横浜市西区", "みなとみらい3-3-3"],
    # 髙 exists in CP932 only (not in JIS X 0208): the file must be read as CP932, not Shift_JIS.
    ["003000000000003AAA", "髙木", "美咲", "misaki.takagi@example.jp", "011-222-3333", "060-0001", "北海道",
     "札幌市中央区", "北1条西2-1"],
]
# A business-card (Sansan-style) export, mapped by the rules file.
CARD_HEADER = ["名刺ID", "会社名", "姓", "名", "メールアドレス", "携帯電話"]
CARDS = [
    ["card-0001", "株式会社サンプル商事", "山田", "太郎", "taro.yamada@sample.co.jp", "090-1111-2222"],
]
RULES = """\
input:
  columns:
    名刺ID: Id
    会社名: Company
    姓: LastName
    名: FirstName
    メールアドレス: Email
    携帯電話: MobilePhone
  default_object: Contact
"""


@pytest.fixture(scope="module")
def background(tmp_path_factory):
    from nayose.sample import write_sample

    path = tmp_path_factory.mktemp("background") / "org_export.csv"
    write_sample(500, 11, path)
    return path


def _write(path, header, rows, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def _clusters(db) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return dict(con.execute('SELECT "Id", cluster_id FROM clusters').fetchall())
    finally:
        con.close()


def test_csv_source_japanese_exports(tmp_path, background):
    leads = _write(tmp_path / "leads.csv", HEADER, LEADS)
    contacts = _write(tmp_path / "contacts_sjis.csv", CONTACT_HEADER, CONTACTS, encoding="cp932")
    paths = [str(leads), str(contacts), str(background)]
    result, db, out = run_job(tmp_path, {"source": "csv", "csv_paths": paths})
    assert result.success, "\n".join(failure_messages(result))
    assert all(e.passed for e in result.get_asset_check_evaluations())

    md = materialization(result, "raw_records")
    assert md["source"].value == "csv"
    assert md["dagster/row_count"].value == len(LEADS) + len(CONTACTS) + 500
    assert "truth_csv" not in md
    assert "cp932" in md["files"].value
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM raw_records WHERE LastName = '髙木'").fetchall()[0][0] == 1
    finally:
        con.close()
    assert "evaluation" not in materialization(result, "duplicate_clusters")

    c = _clusters(db)
    assert len(c) == len(LEADS) + len(CONTACTS) + 500
    yamada = {c["00Q000000000001AAA"], c["00Q000000000002AAA"]}
    assert len(yamada) == 1, "the web-form and business-card 山田太郎 are one person"
    assert c["00Q000000000004AAA"] not in yamada, "a colleague (same company, phone, address) is not a duplicate"
    assert c["00Q000000000005AAA"] == c["003000000000001AAA"], "Lead and Contact 佐藤花子 are one person"
    assert c["00Q000000000006AAA"] == c["003000000000002AAA"], "Lead and Contact 高橋健 are one person"
    for name in ("clusters.csv", "pairs.csv", "evidence.csv", "summary.json"):
        assert (out / name).is_file()


def test_csv_source_with_rules_file_mapping(tmp_path, background):
    leads = _write(tmp_path / "leads.csv", HEADER, LEADS)
    cards = _write(tmp_path / "sansan.csv", CARD_HEADER, CARDS)
    rules = tmp_path / "nayose.yaml"
    rules.write_text(RULES, encoding="utf-8")
    paths = [str(leads), str(cards), str(background)]
    result, db, _ = run_job(tmp_path, {"source": "csv", "csv_paths": paths}, config_path=rules)
    assert result.success, "\n".join(failure_messages(result))
    c = _clusters(db)
    assert c["card-0001"] == c["00Q000000000001AAA"], "the mapped business card joins 山田太郎's group"
    objects = materialization(result, "raw_records")["records_per_object"].value
    assert "| Contact |" in objects
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            "SELECT object, full_name, email FROM normalized_records WHERE id = 'card-0001'"
        ).fetchall()
    finally:
        con.close()
    assert row == [("Contact", "山田太郎", "taro.yamada@sample.co.jp")]


def test_csv_source_bad_input_fails_with_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Id,LastName\n00Q000000000001AAA,山田\n00Q000000000001AAA,田中\n", encoding="utf-8")
    result, _, out = run_job(tmp_path, {"source": "csv", "csv_paths": [str(bad)]})
    assert not result.success
    (msg,) = failure_messages(result)
    assert "bad.csv" in msg and "duplicate Id" in msg
    assert not out.exists(), "a failed run publishes nothing"


def test_csv_source_needs_paths(tmp_path):
    result, _, _ = run_job(tmp_path, {"source": "csv"})
    assert not result.success
    assert "csv_paths" in failure_messages(result)[0]
