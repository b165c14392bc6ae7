"""nayose import-plan: link an incoming file to the org and decide insert / update / review / skip.

Fast tests run on a 2,000-record sample org with hand-made and generated incoming files; the
FEBRL4 and full-size sample figures are in the accuracy tests at the end (deselected by
`-k "not accuracy"`, like tests/nayose/test_accuracy.py).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from nayose.cli import main
from nayose.evaluate import write_febrl_contacts
from nayose.sample import CARD_COLUMNS, write_card_export, write_sample

IMPORT_FILES = {"import_insert.csv", "import_update.csv", "import_changes.csv", "import_review.csv",
                "import_decisions.csv", "import_summary.json"}


@pytest.fixture(scope="module")
def org(tmp_path_factory):
    d = tmp_path_factory.mktemp("org")
    csv_path, truth = d / "org.csv", d / "org.truth.csv"
    write_sample(2000, 5, csv_path, truth)
    return csv_path, truth


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _org_rows(org_csv: Path) -> list[dict]:
    t = pacsv.read_csv(str(org_csv), convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    return t.to_pylist()


def _run(args: list[str], capsys) -> tuple[int, str]:
    code = main(["import-plan", *args, "--quiet"])
    return code, capsys.readouterr().err


def _write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def card_run(org, tmp_path_factory):
    """A generated CP932 card export (300 rows, 40 % in the org) imported as business cards."""
    org_csv, org_truth = org
    d = tmp_path_factory.mktemp("cards")
    cards = d / "cards.csv"
    write_card_export(org_csv, org_truth, 300, 3, cards)
    out = d / "out"
    code = main(["import-plan", "--existing", str(org_csv), "--incoming", str(cards), "--out", str(out), "--quiet",
                 "--lead-source", "Sansan", "--existing-truth", str(org_truth),
                 "--incoming-truth", str(d / "cards.truth.csv")])
    assert code == 0
    return cards, out


def test_card_export_is_cp932_with_japanese_headers(card_run):
    cards, _ = card_run
    raw = cards.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    header = raw.decode("cp932").splitlines()[0].split(",")
    assert header == CARD_COLUMNS
    truth = _rows(cards.with_name("cards.truth.csv"))
    assert len(truth) == 300
    share = sum(r["in_org"] == "true" for r in truth) / len(truth)
    assert 0.35 <= share <= 0.45


def test_every_row_one_decision_and_outputs(card_run):
    _, out = card_run
    assert {p.name for p in out.iterdir()} == IMPORT_FILES
    decisions = _rows(out / "import_decisions.csv")
    assert [r["incoming_id"] for r in decisions] == [str(i) for i in range(1, 301)]  # no Id column: row numbers
    assert {r["decision"] for r in decisions} <= {"insert", "update", "review", "skip"}
    by = {d: [r for r in decisions if r["decision"] == d] for d in ("insert", "update", "review", "skip")}
    assert by["insert"] and by["update"]
    assert all(r["Id"] for r in by["update"])
    summary = json.loads((out / "import_summary.json").read_text(encoding="utf-8"))
    assert summary["decisions"] == {d: len(v) for d, v in by.items()}
    assert summary["incoming_id"] == "row number"
    assert summary["card_values_overwritten"] == 0
    ev = summary["evaluation"]
    assert ev["update"]["precision"] >= 0.99, ev
    assert ev["insert"]["precision"] >= 0.97, ev

    inserts = _rows(out / "import_insert.csv")
    assert [r["incoming_id"] for r in inserts] == [r["incoming_id"] for r in by["insert"]]
    header = list(inserts[0])
    assert header[:2] == ["incoming_id", "object"]
    assert {"Company", "LastName", "FirstName", "Email", "LeadSource"} <= set(header)
    assert all(h.isascii() for h in header)  # API field names only; 名刺交換日 is left out
    assert "名刺交換日" in summary["columns_not_imported"]
    assert {r["LeadSource"] for r in inserts} == {"Sansan"}
    assert all(" " not in r["LastName"].strip() and "\u3000" not in r["LastName"] for r in inserts if r["FirstName"])

    updates = _rows(out / "import_update.csv")
    assert list(updates[0])[:6] == ["Id", "object", "incoming_id", "match_probability", "as_of", "changed_fields"]
    assert {r["incoming_id"] for r in updates} == {r["incoming_id"] for r in by["update"]}
    for r in updates:
        assert r["Id"] and r["changed_fields"]
        for f in r["changed_fields"].split(";"):
            assert r[f] != "", (r["Id"], f)
    review = _rows(out / "import_review.csv")
    assert [r["incoming_id"] for r in review] == [r["incoming_id"] for r in by["review"]]
    if review:
        assert {"Id", "match_probability", "gate", "incoming_full_name", "candidate_full_name"} <= set(review[0])
    raw = (out / "import_update.csv").read_bytes()
    raw.decode("utf-8")
    assert not raw.startswith(b"\xef\xbb\xbf")


def _card_and_list_rows(org_csv: Path) -> tuple[dict, list[str], list[list[str]]]:
    """A business-card record of the org with a title, and an incoming row for the same person
    with another title."""
    rec = next(r for r in _org_rows(org_csv)
               if r["LeadSource"] in ("名刺", "Sansan", "Business Card") and r["Title"] and r["Email"]
               and r["FirstName"] and r["LastName"] and r["Object"] == "Lead" and r["Company"])
    header = ["Company", "LastName", "FirstName", "Email", "Title"]
    new_title = "代表取締役社長" if rec["Title"] != "代表取締役社長" else "顧問"
    return rec, header, [[rec["Company"], rec["LastName"], rec["FirstName"], rec["Email"], new_title]]


def test_card_value_in_org_is_not_overwritten_by_a_list(org, tmp_path, capsys):
    org_csv, _ = org
    rec, header, rows = _card_and_list_rows(org_csv)
    incoming = _write_csv(tmp_path / "list.csv", header, rows)
    code, err = _run(["--existing", str(org_csv), "--incoming", str(incoming), "--out", str(tmp_path / "list"),
                      "--lead-source", "購入リスト"], capsys)
    assert code == 0, err
    d = _rows(tmp_path / "list" / "import_decisions.csv")[0]
    assert d["Id"] == rec["Id"] and d["incoming_id"] == "1"
    changes = _rows(tmp_path / "list" / "import_changes.csv")
    assert not [c for c in changes if c["field"] == "Title"]
    assert d["decision"] in ("skip", "update")

    code, err = _run(["--existing", str(org_csv), "--incoming", str(incoming), "--out", str(tmp_path / "card"),
                      "--lead-source", "Sansan"], capsys)
    assert code == 0, err
    d = _rows(tmp_path / "card" / "import_decisions.csv")[0]
    assert (d["decision"], d["Id"]) == ("update", rec["Id"])
    title = [c for c in _rows(tmp_path / "card" / "import_changes.csv") if c["field"] == "Title"]
    assert [(c["current_value"], c["new_value"], c["rule"]) for c in title] == [(rec["Title"], rows[0][4], "business_card")]
    upd = _rows(tmp_path / "card" / "import_update.csv")[0]
    assert upd["Id"] == rec["Id"] and upd["Title"] == rows[0][4] and upd["incoming_id"] == "1"


def test_a_killed_import_runs_temporary_folder_is_removed_by_the_next_run(org, tmp_path, capsys):
    """A run killed while writing leaves `.<DIR>.tmp-<pid>.<random>` beside DIR: the next run removes
    those whose process is gone (they used to stay, named without the pid), and never another's."""
    org_csv, _ = org
    rec, header, rows = _card_and_list_rows(org_csv)
    incoming = _write_csv(tmp_path / "list.csv", header, rows)
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".imp.tmp-{dead.pid}.x1"
    stale.mkdir()
    (stale / "import_decisions.csv").write_text("half", encoding="utf-8")
    alive = tmp_path / f".imp.tmp-{os.getpid()}.x2"
    alive.mkdir()
    code, err = _run(["--existing", str(org_csv), "--incoming", str(incoming), "--out", str(tmp_path / "imp")], capsys)
    assert code == 0, err
    assert not stale.exists() and alive.exists()
    assert (tmp_path / "imp" / "import_decisions.csv").exists()


def test_file_duplicates_collapse_and_ids_are_kept(org, tmp_path, capsys):
    org_csv, _ = org
    header = ["Id", "Company", "LastName", "FirstName", "Email", "MobilePhone"]
    person = ["架空商事株式会社", "本多", "葵", "aoi.honda@kakuu-shoji.example", "090-1111-2222"]
    rows = [
        ["L-1", *person],
        ["L-2", "架空商事(株)", "本多", "葵", "AOI.HONDA@kakuu-shoji.example", "09011112222"],  # same person, other spelling
        ["L-3", *person],  # exact duplicate of L-1
        ["L-4", "別会社合同会社", "森", "一郎", "ichiro.mori@betsu.example", ""],
        ["L-5", "テスト株式会社", "テスト", "太郎", "test@example.com", ""],  # test data: skip rule
    ]
    incoming = _write_csv(tmp_path / "in.csv", header, rows)
    code, err = _run(["--existing", str(org_csv), "--incoming", str(incoming), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    d = {r["incoming_id"]: r for r in _rows(tmp_path / "out" / "import_decisions.csv")}
    assert d["L-1"]["decision"] == "insert"
    assert (d["L-2"]["decision"], d["L-2"]["duplicate_of"]) == ("skip", "L-1")
    assert (d["L-3"]["decision"], d["L-3"]["duplicate_of"]) == ("skip", "L-1")
    assert "exact duplicate" in d["L-3"]["reason"]
    assert d["L-4"]["decision"] == "insert"
    assert d["L-5"]["decision"] == "skip" and "test_or_dummy" in d["L-5"]["reason"]
    inserts = _rows(tmp_path / "out" / "import_insert.csv")
    assert [r["incoming_id"] for r in inserts] == ["L-1", "L-4"]
    assert inserts[0]["object"] == "Lead"


def test_excel_safe_switch(org, tmp_path, capsys):
    org_csv, _ = org
    incoming = _write_csv(tmp_path / "in.csv", ["Company", "LastName", "FirstName", "Phone"],
                          [["架空物産株式会社", "新谷", "学", "+81 3-9999-0000"]])
    code, err = _run(["--existing", str(org_csv), "--incoming", str(incoming), "--out", str(tmp_path / "a")], capsys)
    assert code == 0, err
    assert _rows(tmp_path / "a" / "import_insert.csv")[0]["Phone"] == "'+81 3-9999-0000"
    cfg = tmp_path / "raw.yaml"
    cfg.write_text("import_plan:\n  excel_safe: false\n", encoding="utf-8")
    code, err = _run(["--existing", str(org_csv), "--incoming", str(incoming), "--out", str(tmp_path / "b"),
                      "--config", str(cfg)], capsys)
    assert code == 0, err
    assert _rows(tmp_path / "b" / "import_insert.csv")[0]["Phone"] == "+81 3-9999-0000"


@pytest.mark.parametrize("content, row, what", [
    # (the counts are the file's own: the row-numbered copy read for a file without Ids has one more)
    ("会社名,氏名,メールアドレス\n架空,山田 太郎,a@example.com\n架空,佐藤,b@example.com,extra\n", 3,
     "ragged row: 4 fields but the header has 3"),
    ("会社名,氏名,メールアドレス\n架空,山田 太郎,a@example.com\n架空,佐藤\n", 3, "short row: 2 fields but the header has 3"),
    ("会社名,氏名\n", None, "no data rows"),
])
def test_bad_incoming_file_one_line_exit_2_nothing_written(org, tmp_path, capsys, content, row, what):
    org_csv, _ = org
    bad = tmp_path / "bad.csv"
    bad.write_bytes(content.encode("cp932"))
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org_csv), "--incoming", str(bad), "--out", str(out)], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert str(bad) in lines[0] and what in lines[0]
    if row is not None:
        assert f"row {row}" in lines[0]
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_bad_existing_file_names_it(tmp_path, capsys):
    org_csv = _write_csv(tmp_path / "org.csv", ["Id", "LastName"], [["00Q000000000001AAA", "山田"], ["00Q000000000001AAA", "佐藤"]])
    incoming = _write_csv(tmp_path / "in.csv", ["LastName"], [["山田"]])
    code, err = _run(["--existing", str(org_csv), "--incoming", str(incoming), "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "duplicate Id" in err and str(org_csv) in err
    assert not (tmp_path / "out").exists()


def test_dedupe_tables_untouched_by_an_import(org, tmp_path):
    """import-plan on a store holding a dedupe run leaves the dedupe run's tables as they were."""
    import duckdb

    from nayose.config import Config
    from nayose.importplan import run_import_stages
    from nayose.pipeline import run_stages

    org_csv, _ = org
    con = duckdb.connect()
    try:
        cfg = Config()
        run_stages(con, [org_csv], cfg, with_plan=True)
        before = {t: con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {t}").fetchall()
                  for t in ("raw_records", "normalized_records", "scored_pairs", "clusters", "match_model",
                            "survivors", "surviving_fields")}
        incoming = _write_csv(tmp_path / "in.csv", ["Company", "LastName", "FirstName"], [["架空商事", "本多", "葵"]])
        run_import_stages(con, cfg, incoming, existing_table="raw_records")
        after = {t: con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {t}").fetchall() for t in before}
        assert before == after
        assert con.execute("SELECT count(*) FROM import_decisions").fetchall()[0][0] == 1
    finally:
        con.close()


# ---------------------------------------------------------------------------------------------
# Accuracy (FEBRL4 link, the sample's card export): deselected by -k "not accuracy"


def _febrl4_split(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    both, truth = tmp_path / "f4.csv", tmp_path / "f4.truth.csv"
    write_febrl_contacts("febrl4", both, truth)
    rows = _rows(both)
    header = list(rows[0])
    out = []
    for name, keep, id_col in (("4a", lambda i: i.endswith("-org"), "Id"), ("4b", lambda i: not i.endswith("-org"), "incoming_id")):
        sel = [r for r in rows if keep(r["Id"])]
        out.append(_write_csv(tmp_path / f"{name}.csv", header, [[r[h] for h in header] for r in sel]))
        out.append(_write_csv(tmp_path / f"{name}.truth.csv", [id_col, "entity_id"],
                              [[r["Id"], r["Id"].split("-")[1]] for r in sel]))
    return out[0], out[1], out[2], out[3]


def _cli_summary(tmp_path: Path, *args: str) -> dict:
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "nayose.cli", "import-plan", *args, "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "import_summary.json").read_text(encoding="utf-8"))


def test_febrl4_link_accuracy(tmp_path):
    """FEBRL4 as link (4a the org, 4b incoming). Zero config stays at the engine's rule that different
    given names at one address are different people (F1 0.992); with the register setting the
    config documents for FEBRL-like data the issue's 0.996 is met (0.998)."""
    a, at, b, bt = _febrl4_split(tmp_path)
    s = _cli_summary(tmp_path, "--existing", str(a), "--incoming", str(b), "--existing-truth", str(at),
                     "--incoming-truth", str(bt))
    e = s["evaluation"]
    print("zero config", json.dumps(e))
    assert e["link"]["f1"] >= 0.99 and e["link"]["precision"] >= 0.999, e
    cfg = tmp_path / "register.yaml"
    cfg.write_text("matching:\n  same_home_other_given_name: review\n", encoding="utf-8")
    s = _cli_summary(tmp_path, "--existing", str(a), "--incoming", str(b), "--existing-truth", str(at),
                     "--incoming-truth", str(bt), "--config", str(cfg))
    e = s["evaluation"]
    print("register", json.dumps(e))
    assert e["link"]["f1"] >= 0.996, e
    assert e["update"]["precision"] >= 0.999, e


def test_sample_card_import_accuracy(tmp_path):
    """2,000 business cards, 40 % already in a 20,000-record sample org."""
    org_csv, org_truth = tmp_path / "org.csv", tmp_path / "org.truth.csv"
    write_sample(20_000, 11, org_csv, org_truth)
    cards = tmp_path / "cards.csv"
    write_card_export(org_csv, org_truth, 2000, 1, cards)
    for ls in ("Sansan", "購入リスト"):
        s = _cli_summary(tmp_path, "--existing", str(org_csv), "--incoming", str(cards), "--lead-source", ls,
                         "--existing-truth", str(org_truth), "--incoming-truth", str(tmp_path / "cards.truth.csv"))
        e = s["evaluation"]
        print(ls, json.dumps(e), s["field_changes"])
        assert e["update"]["precision"] >= 0.995, e
        assert e["insert"]["precision"] >= 0.98, e
        assert s["card_values_overwritten"] == 0
        if ls == "購入リスト":
            assert s["field_changes"]["values_from_cards"] == 0
        else:
            assert s["field_changes"]["values_from_cards"] == s["field_changes"]["field_changes"] > 0


def test_a_card_from_a_contacts_new_company_goes_to_review(tmp_path, capsys):
    """A job changer's new card (another company, another mail domain, matched on the personal
    mobile) used to update the old company's Contact with the new company's address and phone,
    under the old account: review now. A card at the Contact's own company still updates it; a Lead
    takes the card's update (its company is its own field)."""
    org = _write_csv(tmp_path / "org.csv",
                     ["Id", "LastName", "FirstName", "Company", "Account.Name", "AccountId", "Email", "MobilePhone", "Title",
                      "LeadSource", "CreatedDate", "LastModifiedDate", "SystemModstamp"],
                     [["0035F00000X0002AAA", "西村", "浩二", "", "株式会社オメガ電子", "0015F00000X0001AAA",
                       "k.nishimura@omega-denshi.co.jp", "090-5151-6161", "課長", "Web", *["2021-04-01T10:00:00.000Z"] * 3],
                      ["0035F00000X0003AAA", "石田", "衣良", "", "株式会社池袋ウエスト", "0015F00000X0002AAA",
                       "ira.ishida@ikebukuro-west.co.jp", "080-7171-8181", "主任", "Web", *["2021-04-01T10:00:00.000Z"] * 3],
                      ["00Q5F00000X0001AAA", "村上", "春樹", "株式会社ノルウェイ", "", "",
                       "h.murakami@norway.co.jp", "090-3434-5656", "", "Web", *["2022-04-01T10:00:00.000Z"] * 3]])
    cards = _write_csv(tmp_path / "cards.csv", ["会社名", "役職", "氏名", "メールアドレス", "電話番号", "携帯電話"],
                       [["株式会社ベータシステム", "部長", "西村 浩二", "nishimura@beta-system.co.jp", "03-5555-8888", "090-5151-6161"],
                        ["株式会社池袋ウエスト", "課長", "石田 衣良", "ira.ishida@ikebukuro-west.co.jp", "03-6262-7373", "080-7171-8181"],
                        ["株式会社ダンス", "部長", "村上 春樹", "haruki@dance.co.jp", "03-3456-7821", "090-3434-5656"]])
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(cards), "--out", str(out), "--lead-source", "名刺"], capsys)
    assert code == 0, err
    got = {r["Id"]: (r["decision"], r["reason"]) for r in _rows(out / "import_decisions.csv")}
    assert got["0035F00000X0002AAA"][0] == "review" and "job change" in got["0035F00000X0002AAA"][1]
    assert got["0035F00000X0003AAA"][0] == "update"
    assert got["00Q5F00000X0001AAA"][0] == "update"
    assert {r["Id"] for r in _rows(out / "import_update.csv")} == {"0035F00000X0003AAA", "00Q5F00000X0001AAA"}


def test_a_card_of_a_person_account_updates_its_person_fields(tmp_path, capsys):
    """A B2C org: a card of an existing customer (a Person Account) used to be planned as an update
    of Email, MobilePhone, Company and LeadSource -- fields an Account does not have (Data Loader
    refuses the file). The card's values are written under the Person Account's fields."""
    org = _write_csv(tmp_path / "org.csv",
                     ["Id", "IsPersonAccount", "FirstName", "LastName", "PersonEmail", "PersonMobilePhone", "PersonLeadSource",
                      "Phone", "Email", "Company", "CreatedDate", "LastModifiedDate", "SystemModstamp"],
                     [["001000000000PA1AAA", "true", "健太", "佐々木", "kenta.sasaki@gmail.com", "", "Web", "045-321-7788", "", "",
                       *["2021-04-01T10:00:00.000Z"] * 3],
                      ["00Q000000000LD9AAA", "", "花子", "山本", "", "", "", "", "hanako@yamamoto.co.jp", "山本商店",
                       *["2021-04-01T10:00:00.000Z"] * 3]])
    cards = _write_csv(tmp_path / "cards.csv", ["会社名", "氏名", "メールアドレス", "携帯電話"],
                       [["個人", "佐々木 健太", "kenta.sasaki@gmail.com", "090-8765-4321"]])
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(cards), "--out", str(out), "--lead-source", "名刺"], capsys)
    assert code == 0, err
    [update] = _rows(out / "import_update.csv")
    assert update["Id"] == "001000000000PA1AAA" and update["object"] == "Account"
    changed = update["changed_fields"].split(";")
    assert set(changed) == {"PersonMobilePhone", "PersonLeadSource"}, changed
    assert update["PersonMobilePhone"] == "090-8765-4321" and update["PersonLeadSource"] == "名刺"


def test_whole_names_on_cards_are_split_without_honorifics_and_dots(org, tmp_path, capsys):
    """氏名 as a card tool writes it: 山田 太郎 様 inserts 山田 / 太郎 (the honorific was left in the
    given name), ジョン・スミス inserts スミス / ジョン (given name first; it was inserted whole),
    長谷川、まり子 長谷川 / まり子."""
    org_csv, _ = org
    incoming = _write_csv(tmp_path / "in.csv", ["会社名", "氏名", "メールアドレス"], [
        ["架空新規商事", "山田 太郎 様", "taro.yamada@kakushin.example.jp"],
        ["架空新規商事", "ジョン・スミス", "john.smith@kakushin.example.jp"],
        ["架空新規商事", "長谷川、まり子", "mariko.hasegawa@kakushin.example.jp"],
    ], encoding="cp932")
    code, err = _run(["--existing", str(org_csv), "--incoming", str(incoming), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    got = {(r["LastName"], r["FirstName"]) for r in _rows(tmp_path / "out" / "import_insert.csv")}
    assert got == {("山田", "太郎"), ("スミス", "ジョン"), ("長谷川", "まり子")}


# ---------------------------------------------------------------------------------------------
# Header mapping, card dates, skip rules, incoming Contacts, a card's LeadSource

_ORG_HEADER = ["Id", "Object", "FirstName", "LastName", "Company", "Account.Name", "AccountId", "Title", "Department",
               "Email", "Phone", "MobilePhone", "Street", "City", "State", "PostalCode", "MailingStreet", "MailingCity",
               "MailingState", "MailingPostalCode", "LeadSource", "Sansan_Person_Id__c", "Region", "CreatedDate",
               "LastModifiedDate"]


def _small_org(tmp_path: Path) -> Path:
    t = "2021-04-01T00:00:00.000Z"
    return _write_csv(tmp_path / "org.csv", _ORG_HEADER, [
        ["0035F00000AAAA1QAM", "Contact", "太郎", "山田", "", "株式会社北斗精工", "0015F00000BBBB1QAM", "部長", "営業部",
         "taro.yamada@hokuto-seiko.co.jp", "03-3211-5678", "", "", "", "", "", "丸の内1-1-1", "千代田区", "東京都",
         "100-0005", "Web", "", "関東", t, t],
        ["00Q5F00000CCCC1UA0", "Lead", "花子", "佐藤", "ABC商事株式会社", "", "", "主任", "", "h.sato@abc-shoji.co.jp",
         "06-6345-1111", "", "梅田1-1-1", "大阪市北区", "大阪府", "530-0001", "", "", "", "", "Web", "", "関西", t, t],
        ["00Q5F00000CCCC2UA0", "Lead", "一郎", "鈴木", "東洋精機株式会社", "", "", "", "", "", "052-111-2222", "", "",
         "", "", "", "", "", "", "", "展示会", "", "", t, t],
        # a business card (Sansan's person ID) whose LeadSource was left blank
        ["00Q5F00000CCCC5UA0", "Lead", "一郎", "木村", "株式会社オオゾラ電機", "", "", "部長", "",
         "kimura@oozora-denki.co.jp", "03-5555-1000", "", "", "", "", "", "", "", "", "", "", "SP-00123", "", t, t],
    ])


_SANSAN = ["会社名", "部署名", "役職", "氏名", "セイ", "メイ", "メールアドレス", "郵便番号", "住所", "電話番号", "携帯電話", "名刺交換日"]


def _sansan(tmp_path: Path) -> Path:
    return _write_csv(tmp_path / "sansan.csv", _SANSAN, [
        ["(株)北斗精工", "営業部", "部長", "山田　太郎", "ヤマダ", "タロウ", "taro.yamada@hokuto-seiko.co.jp", "100-0005",
         "東京都千代田区丸の内1-1-1", "03-3211-5678", "090-1111-2222", "2024/04/01"],
        ["株式会社ミライ物流", "総務部", "", "高橋　誠", "タカハシ", "マコト", "m.takahashi@mirai-logi.co.jp", "", "",
         "045-555-1234", "", "2024/04/03"],
    ], encoding="cp932")


def _config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "nayose.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_one_added_incoming_column_keeps_the_default_mapping(tmp_path, capsys):
    """`incoming_columns: {名刺交換日: CardExchangeDate__c}` replaced the whole default: every Sansan
    row became an insert with no name, company or email (exit 0). It is merged over the default now."""
    org, cards = _small_org(tmp_path), _sansan(tmp_path)
    cfg = _config(tmp_path, "import_plan:\n  incoming_columns:\n    名刺交換日: CardExchangeDate__c\n")
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(cards), "--out", str(out), "--lead-source", "Sansan",
                      "--config", str(cfg)], capsys)
    assert code == 0, err
    got = {r["incoming_id"]: (r["decision"], r["Id"]) for r in _rows(out / "import_decisions.csv")}
    assert got["1"] == ("update", "0035F00000AAAA1QAM")
    assert got["2"][0] == "insert"
    [ins] = _rows(out / "import_insert.csv")
    assert (ins["LastName"], ins["FirstName"], ins["Company"], ins["Email"]) == (
        "高橋", "誠", "株式会社ミライ物流", "m.takahashi@mirai-logi.co.jp")
    assert ins["CardExchangeDate__c"] == "2024/04/03"


def test_no_column_for_a_name_an_email_or_a_phone_stops_the_import(tmp_path, capsys):
    org, cards = _small_org(tmp_path), _sansan(tmp_path)
    cfg = _config(tmp_path, "import_plan:\n  incoming_columns:\n    氏名: null\n    メールアドレス: null\n"
                            "    電話番号: ''\n    携帯電話: ''\n")
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(cards), "--out", str(out), "--config", str(cfg)], capsys)
    assert code == 2
    line = err.strip()
    assert "\n" not in line and str(cards) in line and "no column maps to a name, an email or a phone" in line, err
    assert "headers: 会社名, 部署名, 役職, 氏名" in line and "会社名: Company" in line, err
    assert not out.exists()


def test_an_unknown_mapping_target_stops_the_run_naming_the_key(tmp_path, capsys):
    """A target that is no standard field, no custom (__c) field and no column of the org export
    would be written into the Data Loader file under a name no org has."""
    org, cards = _small_org(tmp_path), _sansan(tmp_path)
    cfg = _config(tmp_path, "import_plan:\n  incoming_columns:\n    部署名: Bumon\n")
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(cards), "--out", str(out), "--config", str(cfg)], capsys)
    assert code == 2 and not out.exists()
    assert "\n" not in err.strip() and str(cfg) in err and "import_plan.incoming_columns: 部署名: 'Bumon'" in err, err
    # a column the org export has is a field the import can write
    _write_csv(cards, ["会社名", "氏名", "メールアドレス", "地域"],
               [["株式会社ミライ物流", "高橋　誠", "m.takahashi@mirai-logi.co.jp", "関東"]], encoding="cp932")
    cfg.write_text("import_plan:\n  incoming_columns:\n    地域: Region\n", encoding="utf-8")
    code, err = _run(["--existing", str(org), "--incoming", str(cards), "--out", str(out), "--config", str(cfg)], capsys)
    assert code == 0, err
    assert _rows(out / "import_insert.csv")[0]["Region"] == "関東"


def test_an_eight_export_works_with_the_default_mapping(tmp_path, capsys):
    org = _small_org(tmp_path)
    eight = _write_csv(tmp_path / "eight.csv",
                       ["会社名", "部署名", "役職", "姓", "名", "e-mail", "郵便番号", "住所", "TEL会社", "TEL部門", "TEL直通",
                        "Fax", "携帯電話", "URL", "名刺交換日"],
                       [["株式会社北斗精工", "営業部", "本部長", "山田", "太郎", "taro.yamada@hokuto-seiko.co.jp", "100-0005",
                         "東京都千代田区丸の内1-1-1", "03-3211-5678", "", "", "", "", "https://hokuto-seiko.co.jp", "2024/04/01"],
                        ["株式会社ミライ物流", "総務部", "", "高橋", "誠", "m.takahashi@mirai-logi.co.jp", "", "",
                         "045-555-1234", "", "", "", "", "https://mirai-logi.co.jp", "2024/04/03"]], encoding="cp932")
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(eight), "--out", str(out), "--lead-source", "Eight"], capsys)
    assert code == 0, err
    got = {r["incoming_id"]: (r["decision"], r["Id"]) for r in _rows(out / "import_decisions.csv")}
    assert got == {"1": ("update", "0035F00000AAAA1QAM"), "2": ("insert", "")}
    [ins] = _rows(out / "import_insert.csv")
    assert (ins["LastName"], ins["FirstName"], ins["Email"], ins["Phone"], ins["Website"]) == (
        "高橋", "誠", "m.takahashi@mirai-logi.co.jp", "045-555-1234", "https://mirai-logi.co.jp")


def test_a_file_with_both_whole_and_split_names_uses_the_split_ones(tmp_path, capsys):
    """氏名 and 姓 / 名 both map to the name by default: the split names win (no 'both map' error)."""
    org = _small_org(tmp_path)
    both = _write_csv(tmp_path / "both.csv", ["会社名", "氏名", "姓", "名", "メールアドレス"],
                      [["株式会社ミライ物流", "高橋　誠", "高橋", "誠", "m.takahashi@mirai-logi.co.jp"]])
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(both), "--out", str(out)], capsys)
    assert code == 0, err
    [ins] = _rows(out / "import_insert.csv")
    assert (ins["LastName"], ins["FirstName"]) == ("高橋", "誠")


@pytest.mark.parametrize("dates, title", [
    (("2022/01/10", "2024/06/01"), "部長"),   # the newer card second in the file
    (("2024/06/01", "2022/01/10"), "部長"),   # ... or first
    (("2024/06/01", "2024/06/01"), "課長"),   # a tie: the file order (the first row)
])
def test_among_two_cards_of_one_person_the_most_recent_exchange_wins(tmp_path, capsys, dates, title):
    """Every incoming row had the same timestamp, so the first row won whatever its exchange date."""
    org = _small_org(tmp_path)
    titles = ("課長", "部長") if dates[0] < dates[1] or dates[0] == dates[1] else ("部長", "課長")
    cards = _write_csv(tmp_path / "cards.csv", ["会社名", "部署名", "役職", "氏名", "メールアドレス", "電話番号", "名刺交換日"],
                       [["株式会社ミライ物流", "総務部", titles[0], "高橋　誠", "m.takahashi@mirai-logi.co.jp", "045-555-1234", dates[0]],
                        ["株式会社ミライ物流", "総務部", titles[1], "高橋　誠", "m.takahashi@mirai-logi.co.jp", "045-555-1234", dates[1]]],
                       encoding="cp932")
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(cards), "--out", str(out), "--lead-source", "Sansan"], capsys)
    assert code == 0, err
    [ins] = _rows(out / "import_insert.csv")
    assert ins["Title"] == title


def test_the_newest_card_updates_an_existing_record_with_a_mapped_exchange_date(tmp_path, capsys):
    org = _small_org(tmp_path)
    cards = _write_csv(tmp_path / "cards.csv", ["会社名", "役職", "氏名", "メールアドレス", "交換日"],
                       [["株式会社北斗精工", "本部長", "山田　太郎", "taro.yamada@hokuto-seiko.co.jp", "2025-03-01"],
                        ["株式会社北斗精工", "課長", "山田　太郎", "taro.yamada@hokuto-seiko.co.jp", "2019-03-01"]],
                       encoding="cp932")
    cfg = _config(tmp_path, "import_plan:\n  incoming_columns:\n    交換日: CardExchangeDate__c\n")
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(cards), "--out", str(out), "--lead-source", "Sansan",
                      "--config", str(cfg)], capsys)
    assert code == 0, err
    [upd] = _rows(out / "import_update.csv")
    assert upd["Id"] == "0035F00000AAAA1QAM" and upd["Title"] == "本部長"


def test_skip_rules_read_addresses_and_objects_and_never_skip_a_match(tmp_path, capsys):
    """`skip_rules: [no_contact_info]` skipped a row with a full postal address ("no valid email,
    phone or address"), ignored the rule's `objects`, and skipped a row matching an existing Lead at
    1.0 instead of updating it."""
    org = _small_org(tmp_path)
    rows = _write_csv(tmp_path / "list.csv", ["会社名", "役職", "氏名", "メールアドレス", "電話番号", "郵便番号", "住所"], [
        ["株式会社サクラ工業", "", "伊藤　美咲", "", "", "150-0002", "東京都渋谷区渋谷2-21-1"],  # an address: insert
        ["株式会社ハヤテ", "", "岡田　涼", "", "", "", ""],                                      # nothing: skip
        ["東洋精機株式会社", "課長", "鈴木　一郎", "", "", "", ""],                               # the org's Lead: update
        ["テスト株式会社", "", "テスト　太郎", "test@example.com", "", "", ""],                    # test_or_dummy
    ])
    cfg = _config(tmp_path, "import_plan:\n  skip_rules: [test_or_dummy, no_contact_info]\n")
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(rows), "--out", str(out), "--config", str(cfg)], capsys)
    assert code == 0, err
    got = {r["incoming_id"]: r for r in _rows(out / "import_decisions.csv")}
    assert got["1"]["decision"] == "insert"
    assert got["2"]["decision"] == "skip" and "no_contact_info" in got["2"]["reason"]
    assert (got["3"]["decision"], got["3"]["Id"]) == ("update", "00Q5F00000CCCC2UA0")
    assert got["4"]["decision"] == "skip" and "test_or_dummy" in got["4"]["reason"]
    # the rule is for Leads (objects: [Lead]): incoming Contacts are not skipped by it
    cfg.write_text("import_plan:\n  skip_rules: [no_contact_info]\n  incoming_object: Contact\n", encoding="utf-8")
    code, err = _run(["--existing", str(org), "--incoming", str(rows), "--out", str(out), "--config", str(cfg)], capsys)
    assert code == 0, err
    assert {r["incoming_id"]: r["decision"] for r in _rows(out / "import_decisions.csv")}["2"] == "insert"


def test_incoming_contacts_carry_contact_fields(tmp_path, capsys):
    """With `incoming_object: Contact` the inserts and updates wrote Company (and Street …) to
    Contacts, which have no such field: Data Loader rejects the column."""
    org = _small_org(tmp_path)
    rows = _write_csv(tmp_path / "list.csv", ["会社名", "部署名", "役職", "氏名", "メールアドレス", "郵便番号", "住所"], [
        ["株式会社北斗精工", "総務部", "社長室長", "山田　太郎", "taro.yamada@hokuto-seiko.co.jp", "", ""],
        ["株式会社ミライ物流", "総務部", "", "高橋　誠", "m.takahashi@mirai-logi.co.jp", "220-0012", "横浜市西区みなとみらい2-2-1"],
    ])
    cfg = _config(tmp_path, "import_plan:\n  incoming_object: Contact\n")
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(rows), "--out", str(out), "--config", str(cfg)], capsys)
    assert code == 0, err
    [ins] = _rows(out / "import_insert.csv")
    assert ins["object"] == "Contact"
    assert not {"Company", "Street", "PostalCode"} & set(ins), list(ins)
    assert (ins["MailingStreet"], ins["MailingPostalCode"]) == ("横浜市西区みなとみらい2-2-1", "220-0012")
    [upd] = _rows(out / "import_update.csv")
    assert upd["Id"] == "0035F00000AAAA1QAM" and "Company" not in upd["changed_fields"].split(";")
    assert upd["Title"] == "社長室長"
    summary = json.loads((out / "import_summary.json").read_text(encoding="utf-8"))
    assert "Account.Name" in summary["columns_not_imported"]


def test_a_card_leads_blank_lead_source_is_not_filled_from_a_purchased_list(tmp_path, capsys):
    """A card Lead (Sansan person ID) with a blank LeadSource got the list's 購入リスト: relabelled
    as a list record."""
    org = _small_org(tmp_path)
    rows = _write_csv(tmp_path / "list.csv", ["会社名", "役職", "氏名", "メールアドレス", "電話番号"], [
        ["オオゾラ電機株式会社", "取締役", "木村　一郎", "kimura@oozora-denki.co.jp", "03-5555-9999"],
        ["株式会社ミライ物流", "", "高橋　誠", "m.takahashi@mirai-logi.co.jp", "045-555-1234"],
    ])
    out = tmp_path / "out"
    code, err = _run(["--existing", str(org), "--incoming", str(rows), "--out", str(out), "--lead-source", "購入リスト"],
                     capsys)
    assert code == 0, err
    got = {r["incoming_id"]: (r["decision"], r["Id"]) for r in _rows(out / "import_decisions.csv")}
    assert got["1"][1] == "00Q5F00000CCCC5UA0"
    assert not [c for c in _rows(out / "import_changes.csv") if c["Id"] == "00Q5F00000CCCC5UA0"]
    assert _rows(out / "import_insert.csv")[0]["LeadSource"] == "購入リスト"  # a list row keeps the list's source
