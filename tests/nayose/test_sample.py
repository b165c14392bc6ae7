"""Tests for the built-in sample org generator (nayose.sample)."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from itertools import combinations

import duckdb
import pyarrow as pa
import pytest

from nayose.sample import COLUMNS, KINDS, TRUTH_COLUMNS, _pools, generate_sample, sample_stats, write_sample

N = 2000
SEED = 42

KANJI = re.compile(r"[\u4e00-\u9fff]")
KATAKANA_ONLY = re.compile(r"^[\u30a0-\u30ff\uff65-\uff9f\s\u3000・･]+$")
ROMAJI_ONLY = re.compile(r"^[A-Za-z][A-Za-z .'-]*$")
FULLWIDTH_DIGIT = re.compile(r"[０-９]")
LEGAL = re.compile(r"株式会社|有限会社|合同会社|\(株\)|\(有\)|\(同\)|㈱|㈲|Co\., Ltd\.|K\.K\.|Inc\.|Corporation|G\.K\.|LLC|Y\.K\.|Ltd\.")
BUSINESS_CARD = {"名刺", "Business Card", "Sansan", "Eight"}
READING = ("LastNameKana__c", "FirstNameKana__c")
FULL_KATA = re.compile(r"^[ァ-ヶー]+$")
HALF_KATA = re.compile(r"^[ｦ-ﾟ]+$")
ONE_KANA = re.compile(r"^(?:[ァ-ヶ]|[ｦ-ﾝ][ﾞﾟ]?)$")  # one katakana (half-width: with its dakuten)


def _salesforce_18(id15: str) -> str:
    """Reference implementation of the case-safe 18-character id suffix."""
    suffix = ""
    for i in range(3):
        chunk = id15[i * 5:(i + 1) * 5]
        bits = sum(1 << j for j, c in enumerate(chunk) if "A" <= c <= "Z")
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return id15 + suffix


@pytest.fixture(scope="module")
def sample():
    records, truth = generate_sample(N, SEED)
    rows = records.to_pylist()
    ent = dict(zip(truth.column("Id").to_pylist(), truth.column("entity_id").to_pylist()))
    kind = dict(zip(truth.column("Id").to_pylist(), truth.column("kind").to_pylist()))
    for r in rows:
        r["_entity"] = ent[r["Id"]]
        r["_kind"] = kind[r["Id"]]
        r["_company"] = r["Company"] if r["Object"] == "Lead" else r["Account.Name"]
        r["_street"] = r["Street"] if r["Object"] == "Lead" else r["MailingStreet"]
    groups = defaultdict(list)
    for r in rows:
        groups[r["_entity"]].append(r)
    dup_groups = [g for g in groups.values() if len(g) >= 2]
    return {"records": records, "truth": truth, "rows": rows, "groups": dup_groups}


def _norm(s: str | None) -> str:
    return unicodedata.normalize("NFKC", s or "").replace(" ", "")


def _pairs_in_groups(groups):
    for g in groups:
        yield from combinations(g, 2)


def _any_pair(groups, pred) -> bool:
    return any(pred(a, b) or pred(b, a) for a, b in _pairs_in_groups(groups))


# ----------------------------------------------------------------------------------------------
# Shape, ids, determinism
# ----------------------------------------------------------------------------------------------


def test_columns_are_the_export_header_all_strings(sample):
    records, truth = sample["records"], sample["truth"]
    assert records.column_names == COLUMNS
    assert records.num_rows == N
    assert all(f.type == pa.string() for f in records.schema)
    assert truth.column_names == TRUTH_COLUMNS
    # a real export: no empty strings (missing is null) and nothing outside the header
    for name in COLUMNS:
        assert "" not in set(records.column(name).drop_null().to_pylist()), name


def test_ids_unique_with_salesforce_prefixes_and_checksums(sample):
    rows = sample["rows"]
    ids = [r["Id"] for r in rows]
    assert len(set(ids)) == N
    for r in rows:
        assert len(r["Id"]) == 18 and _salesforce_18(r["Id"][:15]) == r["Id"]
        assert r["Id"][:3] == {"Lead": "00Q", "Contact": "003"}[r["Object"]]
        if r["AccountId"]:
            assert r["Object"] == "Contact" and r["AccountId"].startswith("001") and len(r["AccountId"]) == 18
        assert r["OwnerId"].startswith("005")
    leads = sum(r["Object"] == "Lead" for r in rows)
    assert 0.5 < leads / N < 0.72


def test_leads_and_contacts_use_their_own_fields(sample):
    for r in sample["rows"]:
        if r["Object"] == "Lead":
            assert r["Company"], "Company is required on Lead"
            assert r["Account.Name"] is None and r["AccountId"] is None
            assert all(r[c] is None for c in ("MailingStreet", "MailingCity", "MailingState", "MailingPostalCode",
                                              "MailingCountry"))
        else:
            assert r["Company"] is None
            assert all(r[c] is None for c in ("Street", "City", "State", "PostalCode", "Country"))
        assert r["LastName"], "LastName is required"


def test_deterministic_by_seed(tmp_path):
    a = write_sample(N, SEED, tmp_path / "a.csv")
    b = write_sample(N, SEED, tmp_path / "b.csv")
    c = write_sample(N, SEED + 1, tmp_path / "c.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.truth.csv").read_bytes() == (tmp_path / "b.truth.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()
    assert a["records"] == b["records"] == c["records"] == N
    assert a["duplicate_records"] == b["duplicate_records"]


def test_truth_covers_every_id(sample):
    records, truth = sample["records"], sample["truth"]
    assert truth.num_rows == N
    assert set(truth.column("Id").to_pylist()) == set(records.column("Id").to_pylist())
    assert truth.column("entity_id").null_count == 0
    assert set(truth.column("kind").to_pylist()) == set(KINDS)


def test_no_shortcut_in_row_order_or_ids(sample):
    """Rows follow CreatedDate, so members of a group are not adjacent rows."""
    rows = sample["rows"]
    created = [r["CreatedDate"] for r in rows]
    assert created == sorted(created)
    adjacent_same = sum(a["_entity"] == b["_entity"] for a, b in zip(rows, rows[1:]))
    assert adjacent_same < 0.12 * len(sample["groups"])  # only retried forms / re-imports land side by side


# ----------------------------------------------------------------------------------------------
# Duplicate groups and their variations
# ----------------------------------------------------------------------------------------------


def test_duplicate_groups_exist_in_realistic_share(sample):
    groups = sample["groups"]
    stats = sample_stats(sample["truth"])
    assert stats["duplicate_groups"] == len(groups) > 0
    assert all(len(g) >= 2 for g in groups)
    assert max(len(g) for g in groups) >= 3
    assert 0.2 < stats["duplicate_records"] / N < 0.4
    combos = {tuple(sorted((a["Object"], b["Object"]))) for a, b in _pairs_in_groups(groups)}
    assert combos == {("Contact", "Lead"), ("Lead", "Lead"), ("Contact", "Contact")}


def test_duplicates_are_not_trivially_identical(sample):
    fields = ("FirstName", "LastName", "_company", "Email", "Phone", "MobilePhone", "_street", "Title")
    identical = sum(all(a[f] == b[f] for f in fields) for a, b in _pairs_in_groups(sample["groups"]))
    total = sum(1 for _ in _pairs_in_groups(sample["groups"]))
    assert identical < 0.05 * total


def _name(r) -> str:
    return (r["LastName"] or "") + (r["FirstName"] or "")


def test_group_with_kana_or_romaji_and_kanji_member(sample):
    def kana_vs_kanji(a, b):
        return KANJI.search(_name(a)) and (KATAKANA_ONLY.match(_name(b)) or ROMAJI_ONLY.match(_name(b)))

    assert _any_pair(sample["groups"], kana_vs_kanji)
    # and specifically each script shows up
    names = [_name(r) for g in sample["groups"] for r in g]
    assert any(re.search(r"[ｦ-ﾟ]", n) for n in names), "half-width katakana"
    assert any(re.fullmatch(r"[ぁ-ゖー\s\u3000]+", n) for n in names), "hiragana"
    # romaji with the family name in capitals: 'SATO Taro' in LastName, or LastName 'SATO' + FirstName 'Taro'
    assert any(re.fullmatch(r"[A-Z]{2,} [A-Z][a-z]+", r["LastName"])
               or (re.fullmatch(r"[A-Z]{2,}", r["LastName"]) and re.fullmatch(r"[A-Z][a-z]+", r["FirstName"] or ""))
               for r in sample["rows"])


def test_group_with_name_split_differently(sample):
    def whole_vs_split(a, b):
        return (a["FirstName"] is None and b["FirstName"] is not None
                and _norm(a["LastName"]) == _norm((b["LastName"] or "") + (b["FirstName"] or "")))

    assert _any_pair(sample["groups"], whole_vs_split)
    assert any("\u3000" in (r["LastName"] or "") for r in sample["rows"]), "full-width space in a whole name"

    def swapped(a, b):
        return a["FirstName"] and a["FirstName"] == b["LastName"] and a["LastName"] == b["FirstName"]

    assert _any_pair(sample["groups"], swapped)


def test_group_with_legal_form_moved_or_abbreviated(sample):
    def legal_variant(a, b):
        ca, cb = a["_company"], b["_company"]
        if not ca or not cb or ca == cb or not LEGAL.search(ca) or not LEGAL.search(cb):
            return False
        core_a, core_b = LEGAL.sub("", _norm(ca)), LEGAL.sub("", _norm(cb))
        return core_a == core_b and core_a != ""

    assert _any_pair(sample["groups"], legal_variant)
    companies = {r["_company"] for r in sample["rows"] if r["_company"]}
    for marker in ("㈱", "(株)", "（株）", "Co., Ltd.", "K.K."):
        assert any(marker in c for c in companies), marker
    assert any(c.startswith("株式会社") for c in companies) and any(c.endswith("株式会社") for c in companies)


def test_group_with_fullwidth_digits(sample):
    def fw_phone(a, b):
        pa_, pb = a["Phone"] or "", b["Phone"] or ""
        return (FULLWIDTH_DIGIT.search(pa_) and not FULLWIDTH_DIGIT.search(pb) and pb
                and re.sub(r"\D", "", unicodedata.normalize("NFKC", pa_))[-8:] == re.sub(r"\D", "", pb)[-8:])

    assert _any_pair(sample["groups"], fw_phone)


def test_other_variations_present(sample):
    rows = sample["rows"]

    def col(name):
        return [r[name] for r in rows if r[name]]

    postal = col("PostalCode") + col("MailingPostalCode")
    assert any(p.startswith("〒") for p in postal) and any(re.fullmatch(r"\d{7}", p) for p in postal)
    assert any(re.fullmatch(r"\d{3}-\d{4}", p) for p in postal)
    phones = col("Phone") + col("MobilePhone")
    for pattern in (r"0\d{1,3}-\d{2,4}-\d{4}", r"0\d{9,10}", r"\+81[ -]\d{1,4}-\d{2,4}-\d{4}", r"\(0\d+\)\d+-\d{4}"):
        assert any(re.fullmatch(pattern, p) for p in phones), pattern
    assert any(re.match(r"0[789]0", p) for p in col("MobilePhone"))
    streets = col("Street") + col("MailingStreet")
    assert any("丁目" in s for s in streets) and any(re.search(r"\d+-\d+", s) for s in streets)
    assert any(re.match(r"(東京都|北海道|大阪府|京都府|.{2,3}県)", s) for s in streets), "prefecture inside Street"
    emails = col("Email")
    assert any("+" in e.split("@")[0] for e in emails), "plus-tag"
    assert any(e != e.lower() for e in emails), "case change"
    assert any(e.endswith(("@gmail.com", "@yahoo.co.jp")) for e in emails), "freemail"
    assert any(e.split("@")[0] in ("info", "sales", "contact") for e in emails), "role address"

    def email_differs(a, b):
        return a["Email"] and b["Email"] and a["Email"].lower().split("+")[0] != b["Email"].lower().split("+")[0]

    assert _any_pair(sample["groups"], email_differs), "personal vs work email"

    def moved(a, b):
        return a["_street"] and b["_street"] and a["_company"] == b["_company"] and \
            _norm(a["_street"])[:4] != _norm(b["_street"])[:4]

    assert _any_pair(sample["groups"], moved), "moved office"


def test_business_card_records_and_sansan_ids(sample):
    rows = sample["rows"]
    sources = {r["LeadSource"] for r in rows}
    assert {"Web", "名刺", "Sansan", "Eight", "展示会", "購入リスト", "Partner Referral"} <= sources
    assert {"Business Card", "Event", "Purchased List", "Manual", "手入力"} <= sources
    sansan = [r for r in rows if r["LeadSource"] == "Sansan"]
    assert sum(bool(r["Sansan_Person_Id__c"]) for r in sansan) > 0.8 * len(sansan)
    assert all(r["Sansan_Person_Id__c"] is None for r in rows if r["LeadSource"] != "Sansan")
    mixed = [g for g in sample["groups"]
             if any(r["LeadSource"] in BUSINESS_CARD for r in g) and any(r["LeadSource"] == "Web" for r in g)]
    assert len(mixed) >= 10, "web lead + business card of the same person"


# ----------------------------------------------------------------------------------------------
# Readings (フリガナ): LastNameKana__c / FirstNameKana__c
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool_readings():
    """Native name -> katakana reading, Japanese surnames and given names, and the English names."""
    P = _pools()
    sur = {native: kata for native, kata in P.sur_tbl[: P.n_sur_jp, :2]}
    giv = {native: kata for native, kata in P.giv_tbl[: P.n_giv_jp, :2]}
    en_last, en_first = set(P.sur_tbl[P.n_sur_jp:, 0]), set(P.giv_tbl[P.n_giv_jp:, 0])
    return sur, giv, en_last, en_first


def _kanji_split(r, sur, giv) -> bool:
    """Name in kanji, surname in LastName and given name in FirstName, both from the pools."""
    return bool(r["FirstName"] and KANJI.search(r["LastName"] + r["FirstName"])
                and r["LastName"] in sur and r["FirstName"] in giv)


def _nfkc(s: str | None) -> str:
    return unicodedata.normalize("NFKC", s or "")


def test_reading_columns_are_katakana_and_filled_together(sample):
    assert COLUMNS[-2:] == list(READING)
    assert sample["records"].column_names[-2:] == list(READING)
    filled = 0
    for r in sample["rows"]:
        last, first = r["LastNameKana__c"], r["FirstNameKana__c"]
        assert (last is None) == (first is None), r
        if last is None:
            continue
        filled += 1
        for v in (last, first):
            assert FULL_KATA.match(v) or HALF_KATA.match(v), v
            if HALF_KATA.match(v):
                assert r["LeadSource"] in BUSINESS_CARD, "half-width readings come from card exports"
    assert any(HALF_KATA.match(r["LastNameKana__c"] or "") for r in sample["rows"])
    assert 0.3 < filled / N < 0.65


def test_readings_filled_by_route_and_empty_for_english_names(sample, pool_readings):
    sur, giv, en_last, en_first = pool_readings
    rows = sample["rows"]
    jp_card = [r for r in rows if r["LeadSource"] in BUSINESS_CARD and _kanji_split(r, sur, giv)]
    jp_other = [r for r in rows if r["LeadSource"] not in BUSINESS_CARD and _kanji_split(r, sur, giv)]
    assert len(jp_card) > 150 and len(jp_other) > 500
    card_share = sum(r["LastNameKana__c"] is not None for r in jp_card) / len(jp_card)
    other_share = sum(r["LastNameKana__c"] is not None for r in jp_other) / len(jp_other)
    assert card_share > 0.78, card_share
    assert 0.3 < other_share < 0.5, other_share
    english = [r for r in rows if r["LastName"] in en_last and r["FirstName"] in en_first]
    assert len(english) > 50
    assert all(r["LastNameKana__c"] is None and r["FirstNameKana__c"] is None for r in english)


def test_readings_are_the_true_reading_of_the_name(sample, pool_readings):
    sur, giv, _, _ = pool_readings
    rows = [r for r in sample["rows"] if _kanji_split(r, sur, giv)
            and r["LastNameKana__c"] and len(_nfkc(r["LastNameKana__c"])) > 1]
    card = [r for r in rows if r["LeadSource"] in BUSINESS_CARD]
    assert len(card) > 100
    # a few card rows, read in full against the pools (half-width readings compared after NFKC)
    for r in card[:8]:
        assert _nfkc(r["LastNameKana__c"]) == sur[r["LastName"]], r
        assert _nfkc(r["FirstNameKana__c"]) == giv[r["FirstName"]], r
    # all rows: only a typo in the name (which never touches the reading) can make them differ
    wrong = sum(_nfkc(r["LastNameKana__c"]) != sur[r["LastName"]] or _nfkc(r["FirstNameKana__c"]) != giv[r["FirstName"]]
                for r in rows)
    assert wrong <= 0.02 * len(rows), (wrong, len(rows))


def test_readings_agree_within_a_duplicate_group(sample):
    """The reading is the person's, so it survives every variation of the name fields."""
    checked = 0
    for g in sample["groups"]:
        full = {(_nfkc(r["LastNameKana__c"]), _nfkc(r["FirstNameKana__c"])) for r in g
                if r["LastNameKana__c"] and len(_nfkc(r["LastNameKana__c"])) > 1}
        assert len(full) <= 1, g
        checked += bool(full) and sum(r["LastNameKana__c"] is not None for r in g) >= 2
    assert checked >= 50


def test_eight_truncates_only_the_reading(sample, pool_readings):
    sur, giv, _, _ = pool_readings
    rows = sample["rows"]
    truncated = [r for r in rows
                 if ONE_KANA.match(r["LastNameKana__c"] or "") or ONE_KANA.match(r["FirstNameKana__c"] or "")]
    eight_jp = [r for r in rows if r["LeadSource"] == "Eight" and r["LastNameKana__c"]]
    assert len(truncated) >= 10
    assert 0.1 < len(truncated) / len(eight_jp) < 0.6  # expected ~0.28 (0.25 / (0.25 + 0.75 * 0.85))
    for r in truncated:
        assert r["LeadSource"] == "Eight", r
        assert ONE_KANA.match(r["LastNameKana__c"]) and ONE_KANA.match(r["FirstNameKana__c"]), r
        # the name is captured as it is: no one-kana FirstName, the whole name in the name fields
        assert not ONE_KANA.match(r["FirstName"] or ""), r
        assert len(_nfkc((r["LastName"] or "") + (r["FirstName"] or "")).replace(" ", "")) >= 2, r
        if _kanji_split(r, sur, giv):
            assert _nfkc(r["LastNameKana__c"]) == sur[r["LastName"]][0], r
            assert _nfkc(r["FirstNameKana__c"]) == giv[r["FirstName"]][0], r
    assert sum(_kanji_split(r, sur, giv) for r in truncated) >= 5
    # a truncated reading is the first kana of the full reading another record of the person carries
    ok = 0
    for g in sample["groups"]:
        full = [(_nfkc(r["LastNameKana__c"]), _nfkc(r["FirstNameKana__c"])) for r in g
                if r["LastNameKana__c"] and len(_nfkc(r["LastNameKana__c"])) > 1]
        for r in g:
            if full and r in truncated:
                assert (_nfkc(r["LastNameKana__c"]), _nfkc(r["FirstNameKana__c"])) == (full[0][0][0], full[0][1][0])
                ok += 1
    assert ok >= 1


def test_no_one_kana_first_name(sample):
    """The old artifact (大村 / キ) is gone: FirstName holds a name, never a lone kana."""
    assert not [r for r in sample["rows"] if ONE_KANA.match(r["FirstName"] or "")]


# ----------------------------------------------------------------------------------------------
# Hard negatives
# ----------------------------------------------------------------------------------------------


def test_colleagues_share_switchboard_phone(sample):
    by_phone = defaultdict(set)
    for r in sample["rows"]:
        if r["Phone"]:
            by_phone[r["Phone"]].add(r["_entity"])
    assert sum(len(e) >= 2 for e in by_phone.values()) >= 20
    assert max(len(e) for e in by_phone.values()) >= 5
    by_domain = defaultdict(set)
    for r in sample["rows"]:
        if r["Email"] and r["Email"].endswith(".co.jp"):
            by_domain[r["Email"].lower().split("@")[1]].add(r["_entity"])
    assert max(len(e) for e in by_domain.values()) >= 10


def test_same_name_different_people(sample):
    by_name = defaultdict(set)
    for r in sample["rows"]:
        if r["FirstName"] and KANJI.search(r["LastName"]):
            by_name[(r["LastName"], r["FirstName"])].add(r["_entity"])
    assert sum(len(e) >= 2 for e in by_name.values()) >= 3
    # colleagues with the same surname
    by_co_surname = defaultdict(set)
    for r in sample["rows"]:
        if r["FirstName"] and r["_company"] and r["_kind"] == "customer":
            by_co_surname[(r["Phone"], r["LastName"])].add(r["_entity"])
    assert any(len(e) >= 2 for k, e in by_co_surname.items() if k[0])


def test_family_members_share_home(sample):
    homes = defaultdict(set)
    for r in sample["rows"]:
        if r["_street"] and r["_company"] in (None, "個人", "[[Unknown]]", "-", "なし", "個人のお客様"):
            homes[(r["LastName"][:2], _norm(r["_street"])[-8:])].add(r["_entity"])
    assert any(len(e) >= 2 for e in homes.values())


def test_special_contacts(sample):
    rows = sample["rows"]
    kinds = defaultdict(list)
    for r in rows:
        kinds[r["_kind"]].append(r)
    assert 0.015 < len(kinds["billing"]) / N < 0.06
    assert 0.01 < len(kinds["recruiting"]) / N < 0.04
    assert 0.01 < len(kinds["partner"]) / N < 0.04
    billing_titles = {"経理", "請求書担当", "経理部 請求書担当", "経理担当", "経理課長", "Accounts Payable"}
    assert any(r["Title"] in billing_titles for r in kinds["billing"])
    assert any(r["LeadSource"] == "採用" for r in kinds["recruiting"])
    assert all(r["LeadSource"] != "採用" for r in kinds["customer"])
    assert any((r["Department"] or "").startswith("パートナー営業") for r in kinds["partner"])
    assert any(r["LeadSource"] == "Partner Referral" for r in kinds["partner"])


# ----------------------------------------------------------------------------------------------
# Field formats and the written CSV
# ----------------------------------------------------------------------------------------------


def test_dates_and_flags(sample):
    rows = sample["rows"]
    iso = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z")
    for r in rows:
        assert iso.fullmatch(r["CreatedDate"]) and iso.fullmatch(r["LastModifiedDate"])
        assert r["LastModifiedDate"] >= r["CreatedDate"]
        assert r["HasOptedOutOfEmail"] in ("true", "false")
        assert r["Birthdate"] is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", r["Birthdate"])
    created = sorted(r["CreatedDate"] for r in rows)
    assert int(created[-1][:4]) - int(created[0][:4]) >= 7
    stale = sum(r["Object"] == "Lead" and r["CreatedDate"] < "2023-11-01" for r in rows)
    assert 0.1 < stale / sum(r["Object"] == "Lead" for r in rows) < 0.6
    assert 0.05 < sum(r["Birthdate"] is not None for r in rows) / N < 0.15
    assert 0.02 < sum(r["HasOptedOutOfEmail"] == "true" for r in rows) / N < 0.12
    assert {r["Segment__c"] for r in rows} >= {"大企業", "中堅企業", "中小企業", "個人", None}


def test_english_share(sample):
    rows = sample["rows"]
    english = sum(bool(ROMAJI_ONLY.match(_name(r))) for r in rows) / N
    assert 0.05 < english < 0.2
    assert any(re.search(r"(Inc\.|Corporation|LLC|Ltd\.)$", r["_company"] or "") and
               re.match(r"^[A-Z][a-z]+ ", r["_company"] or "") for r in rows)


def test_csv_round_trips_through_duckdb(tmp_path):
    out = tmp_path / "org.csv"
    stats = write_sample(N, SEED, out)
    truth_path = tmp_path / "org.truth.csv"
    assert stats["truth_csv"] == str(truth_path) and truth_path.exists()
    assert {"records", "entities", "duplicate_records", "seconds"} <= set(stats)
    assert stats["records"] == N
    assert out.read_bytes()[:4] == b'"Id"'  # UTF-8 without BOM, header row

    rel = duckdb.read_csv(str(out), all_varchar=True)
    assert rel.columns == COLUMNS
    assert len(rel.fetchall()) == N
    records, truth = generate_sample(N, SEED)
    n_email = duckdb.sql(f"select count(Email) from read_csv('{out}', all_varchar=true)").fetchall()[0][0]
    assert n_email == N - records.column("Email").null_count
    first = duckdb.sql(f"select * from read_csv('{out}', all_varchar=true) limit 50").fetchall()
    assert [list(r) for r in first] == [[row[c] for c in COLUMNS] for row in records.slice(0, 50).to_pylist()]
    t = duckdb.read_csv(str(truth_path), all_varchar=True)
    assert t.columns == TRUTH_COLUMNS and len(t.fetchall()) == N


def test_custom_truth_path(tmp_path):
    out, truth = tmp_path / "a" / "org.csv", tmp_path / "b" / "answers.csv"
    stats = write_sample(300, 3, out, truth)
    assert out.exists() and truth.exists() and stats["truth_csv"] == str(truth)


def test_tiny_sizes():
    for n in (1, 2, 7):
        records, truth = generate_sample(n, 5)
        assert records.num_rows == truth.num_rows == n
