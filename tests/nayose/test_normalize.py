"""Tests for the normalize stage and its value-level functions (Japanese and English data)."""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pyarrow as pa
import pytest

from nayose.config import Config, InputConfig
from nayose.errors import InputError
from nayose.normalize import (
    OUTPUT_COLUMNS,
    canonical_prefecture,
    company_reading,
    country_region,
    email_flags,
    fold_ocr_lookalikes,
    is_dummy_phone,
    kana_length_key,
    later_mobile,
    name_readings,
    normalize_city,
    normalize_email,
    normalize_name,
    normalize_phone,
    normalize_postal,
    normalize_records,
    normalize_street,
    normalize_text,
    parse_birthdate,
    romaji_key,
    split_company,
    split_whole_name,
)

# ----------------------------------------------------------------------------------------------
# normalize_text / names
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Ｓａｎｓａｎ", "sansan"),
        ("Sansan", "sansan"),
        ("ＳＡＮＳＡＮ", "sansan"),
        ("０３", "03"),
        ("山田　太郎", "山田太郎"),  # full-width space removed
        ("山田 太郎", "山田太郎"),
        ("やまだ", "ヤマダ"),  # hiragana -> katakana
        ("ﾔﾏﾀﾞ", "ヤマダ"),  # half-width katakana -> full (with the voiced mark)
        ("  ", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_name_drops_middle_dots():
    assert normalize_name("ジョン・スミス") == normalize_name("ジョン スミス") == "ジョンスミス"


# ----------------------------------------------------------------------------------------------
# romaji keys
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variants",
    [
        ["佐藤", "サトウ", "さとう", "Sato", "Satou", "Satoh", "SATO", "ｻﾄｳ", "Satō", "斉藤"[:0] + "佐藤"],
        ["太郎", "タロウ", "たろう", "Taro", "Tarou", "TARO", "Tarō", "ﾀﾛｳ"],
        ["鈴木", "スズキ", "すずき", "Suzuki", "SUZUKI", "ｽｽﾞｷ"],
        ["花子", "ハナコ", "はなこ", "Hanako"],
        ["高橋", "タカハシ", "Takahashi", "Takahasi"],  # Kunrei si -> shi
        ["一郎", "イチロウ", "いちろう", "Ichiro", "Ichirou", "Itiro", "Ichiroh"],
        ["伊藤", "イトウ", "Ito", "Itoh", "Itou"],
        ["斎藤", "齋藤", "サイトウ", "Saito", "Saitoh"],
        ["渡辺", "渡邉", "ワタナベ", "Watanabe"],
        ["大野", "オオノ", "Ohno", "Ono", "Oono", "Ōno"],
        ["本間", "ホンマ", "Homma", "Honma"],  # m before b/m/p
        ["中島", "ナカジマ", "Nakajima", "Nakazima"],  # Kunrei zi -> ji
        ["健一", "ケンイチ", "Kenichi", "Ken'ichi"],
        ["翔太", "ショウタ", "Shota", "Shouta", "Syota"],  # Kunrei sy -> sh
        ["洋子", "ヨウコ", "Yoko", "Youko", "Yohko"],
        ["裕子", "ユウコ", "Yuko", "Yuuko", "Yūko"],
        ["山田", "ヤマダ", "Yamada"],
        ["ヴィクトリア", "ビクトリア", "ｳﾞｨｸﾄﾘｱ"],  # ヴ written ブ
    ],
)
def test_romaji_key_cross_script(variants):
    keys = {romaji_key(v) for v in variants}
    assert len(keys) == 1, {v: romaji_key(v) for v in variants}


@pytest.mark.parametrize(
    "variant, standard",
    [("渡邊", "渡辺"), ("渡邉", "渡辺"), ("髙橋", "高橋"), ("山﨑", "山崎"), ("濵田", "浜田"), ("德永", "徳永"),
     ("𠮷田", "吉田"), ("櫻井", "桜井"), ("澤田", "沢田"), ("齋藤", "斎藤"), ("齊藤", "斉藤"), ("瀧本", "滝本"),
     ("髙槗", "高橋"),
     # an ideographic variation selector (IVS) chooses a glyph, not another name
     ("辻\U000E0100", "辻"), ("葛\U000E0100飾", "葛飾"), ("髙\uFE00橋", "高橋"),
     # simplified Chinese forms an OCR or a Chinese input method writes
     ("渡边", "渡辺"), ("铃木", "鈴木"), ("长谷川", "長谷川"), ("关口", "関口"), ("须藤", "須藤")],
)
def test_variant_kanji(variant, standard):
    assert romaji_key(variant) == romaji_key(standard)
    assert normalize_name(variant) == normalize_name(standard)


@pytest.mark.parametrize(
    "read, written",
    [  # a kanji name with a look-alike katakana (a card's OCR, a hurried typist) ...
     ("山ロ", "山口"), ("エ藤", "工藤"), ("健ニ", "健二"), ("浩ー", "浩一"), ("啓ー郎", "啓一郎"), ("ハ木", "八木"),
     ("タ子", "夕子"), ("ニ宮", "二宮"), ("山ロ　陽子", "山口　陽子"),
     # ... and a katakana name with a look-alike kanji (hiragana too)
     ("オ力ダ", "オカダ"), ("カネバヒ口ミ", "カネバヒロミ"), ("十カムラ", "ナカムラ"), ("マサ八ル", "マサハル"),
     ("力トウ", "カトウ"), ("ユ一コ", "ユーコ")],
)
def test_ocr_lookalikes_are_put_back_in_the_names_script(read, written):
    assert fold_ocr_lookalikes(read) == written
    assert normalize_name(read) == normalize_name(written)
    assert romaji_key(read) == romaji_key(written)


@pytest.mark.parametrize(
    "name",
    # katakana a kanji name holds, a kana run beside kanji (ハナ子 is hana-ko), names of look-alikes
    # alone, a name in both scripts of its own
    ["一ノ瀬", "霞ヶ関", "八ケ岳", "二ノ宮", "ハナ子", "ユリ子", "トシ子", "ヒロ子", "一", "一二三", "力", "ナナ", "ユーコ",
     "ロバート", "山口", "工藤", "カ口ウ子"],
)
def test_names_of_both_scripts_keep_their_characters(name):
    assert fold_ocr_lookalikes(name) == name


def test_company_lookalikes_are_put_back_in_its_script():
    assert split_company("株式会社東洋エ業") == split_company("東洋工業株式会社")
    assert split_company("丸ー機械株式会社")[0] == "丸一機械"
    assert split_company("ハ一トラボ")[0] == "ハートラボ"
    # companies written in both scripts keep them (ハウス, ハム are katakana)
    assert split_company("大和ハウス工業株式会社")[0] == "大和ハウス工業"
    assert split_company("日本ハム株式会社")[0] == "日本ハム"
    assert split_company("トヨタ自動車株式会社")[0] == "トヨタ自動車"


def test_romaji_key_values():
    assert romaji_key("佐藤") == "sato"
    assert romaji_key("太郎") == "taro"
    assert romaji_key("鈴木") == "suzuki"
    assert romaji_key("花子") == "hanako"
    assert romaji_key("高橋") == "takahashi"
    assert romaji_key("一郎") == "ichiro"
    assert romaji_key("キャッチ") == "kyatchi"  # sokuon before ch
    assert romaji_key("マッチャ") == "matcha"


def test_romaji_key_keeps_english_names():
    # latin words that are not romaji are only lowercased (no Japanese folding)
    assert romaji_key("Smith") == "smith"
    assert romaji_key("Martin") == "martin"  # not 'marchin'
    assert romaji_key("O'Brien") == "obrien"
    assert romaji_key("Müller") == "muller"
    assert romaji_key(None) is None
    assert romaji_key("・") is None


def test_company_reading_katakana_vs_latin():
    assert company_reading("ソニー") == company_reading("sony") == "soni"
    assert company_reading("サンサン") == company_reading("sansan")
    assert company_reading("ヴィーナス電機") == company_reading("ビーナス電機")  # ヴ written ブ


# ----------------------------------------------------------------------------------------------
# companies
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, form",
    [
        ("株式会社ABC", "株式会社"),
        ("ABC株式会社", "株式会社"),
        ("(株)ABC", "株式会社"),
        ("（株）ABC", "株式会社"),
        ("㈱ABC", "株式会社"),
        ("ABC(株)", "株式会社"),
        ("ABC（株）", "株式会社"),
        ("ABC ㈱", "株式会社"),
        ("株式会社　ＡＢＣ", "株式会社"),
        ("ｶ)ABC", "株式会社"),  # bank-transfer notation
        ("有限会社ABC", "有限会社"),
        ("(有)ABC", "有限会社"),
        ("㈲ABC", "有限会社"),
        ("ABC有限会社", "有限会社"),
        ("合同会社ABC", "合同会社"),
        ("ABC合同会社", "合同会社"),
        ("合資会社ABC", "合資会社"),
        ("合名会社ABC", "合名会社"),
        ("一般社団法人ABC", "一般社団法人"),
        ("一般財団法人 ABC", "一般財団法人"),
        ("医療法人社団ABC", "医療法人"),
        ("学校法人ABC", "学校法人"),
        ("社会福祉法人ABC", "社会福祉法人"),
        ("ABC Co., Ltd.", "co ltd"),
        ("ABC CO.,LTD.", "co ltd"),
        ("ABC Company Limited", "co ltd"),
        ("ABC Inc.", "inc"),
        ("ABC, Inc.", "inc"),
        ("ABC Incorporated", "inc"),
        ("ABC K.K.", "kk"),
        ("ABC KK", "kk"),
        ("ABC Corporation", "corp"),
        ("ABC Corp.", "corp"),
        ("ABC LLC", "llc"),
        ("ABC Ltd", "ltd"),
        ("ABC Limited", "ltd"),
        ("ABC GmbH", "gmbh"),
    ],
)
def test_split_company_forms(raw, form):
    assert split_company(raw) == ("abc", form)


def test_split_company_cores():
    assert split_company("Ｓａｎｓａｎ株式会社")[0] == split_company("Sansan, Inc.")[0] == "sansan"
    assert split_company("株式会社 ソニ－") == ("ソニー", "株式会社")  # hyphen after katakana -> ー
    assert split_company("ソニー株式会社") == ("ソニー", "株式会社")
    assert split_company("株式会社エイ・ビー・シー")[0] == "エイビーシー"
    assert split_company("ABC Holdings Co., Ltd.")[0] == "abcholdings"
    assert split_company("ABC株式会社 東京支店") == ("abc", "株式会社")  # one company, whichever office (offices move)
    assert split_company("株式会社") == (None, "株式会社")
    # an English legal form alone names no company either (two web leads whose Company is
    # 'Co., Ltd.' are at no company in common)
    assert split_company("Co., Ltd.") == (None, "co ltd") and split_company("Inc.") == (None, "inc")
    assert split_company("K.K.") == (None, "kk") and split_company("Alpha K.K.") == ("alpha", "kk")
    assert split_company("株式会社髙島屋") == split_company("高島屋株式会社") == ("高島屋", "株式会社")
    assert split_company("Acme") == ("acme", None)
    assert split_company("[[Unknown]]") == ("unknown", None)  # placeholders are kept (see the report)
    assert split_company("-") == (None, None)
    assert split_company(None) == (None, None)


# ----------------------------------------------------------------------------------------------
# emails
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Taro.Yamada@Abc-Shoji.co.jp", "taro.yamada@abc-shoji.co.jp"),
        ("  TARO@ABC-SHOJI.COM ", "taro@abc-shoji.com"),
        ("taro+newsletter@abc-shoji.com", "taro@abc-shoji.com"),
        ("Taro.Yamada+pardot-2024@Abc-Shoji.CO.JP", "taro.yamada@abc-shoji.co.jp"),
        ("ｔａｒｏ＠ａｂｃ－ｓｈｏｊｉ．ｃｏｍ", "taro@abc-shoji.com"),  # full-width
        ("mailto:taro@abc-shoji.com", "taro@abc-shoji.com"),
        ('="taro@abc-shoji.com"', "taro@abc-shoji.com"),  # a spreadsheet's text formula
        ("<taro@abc-shoji.com>", "taro@abc-shoji.com"),
        ("山田太郎 <taro@abc-shoji.com>", "taro@abc-shoji.com"),
        ("taro@abc-shoji.com; hanako@abc-shoji.com", "taro@abc-shoji.com"),
        ("taro@abc-shoji.com（代表）", "taro@abc-shoji.com"),  # a note after the address
        ("taro@abc-shoji.com.", "taro@abc-shoji.com"),
        # Gmail ignores the dots of the local part; googlemail.com is gmail.com
        ("Taro.Yamada@gmail.com", "taroyamada@gmail.com"),
        ("taro.yamada+news@googlemail.com", "taroyamada@gmail.com"),
        ("taro.yamada@yahoo.co.jp", "taro.yamada@yahoo.co.jp"),
        # a dummy typed where an address is required is nobody's mailbox: no address
        ("noemail@abc-shoji.co.jp", None), ("dummy@dummy.co.jp", None), ("Test@Test.com", None),
        ("no-email@abc.co.jp", None), ("xxx@xxx.xxx", None), ("none1@abc.jp", None),
        ("nonaka@abc.co.jp", "nonaka@abc.co.jp"), ("testuya.sato@abc.jp", "testuya.sato@abc.jp"),
        # ... or a local part that repeats the domain's name, or a domain reserved for examples
        ("a@a.com", None), ("Hoge@Hoge.com", None), ("1@1.com", None), ("aaa@aaa.co.jp", None), ("fuga@abc-shoji.co.jp", None),
        ("ichiro@example.com", None), ("taro@mail.example.co.jp", None), ("taro@shop.test", None),
        ("sales@sales-net.co.jp", "sales@sales-net.co.jp"), ("hogeta.jiro@abc-shoji.co.jp", "hogeta.jiro@abc-shoji.co.jp"),
        ("taro@example", None),
        # what business-card OCR and copy and paste bring: a label, a list in Japanese punctuation,
        # a full stop, a note in brackets, invisible characters
        ("E-mail: nozomi.harada@pi-seiko.co.jp", "nozomi.harada@pi-seiko.co.jp"),
        ("Email：nozomi.harada@pi-seiko.co.jp", "nozomi.harada@pi-seiko.co.jp"), ("メール: k.ito@abc.co.jp", "k.ito@abc.co.jp"),
        ("o.onishi@rho-sangyo.co.jp、onishi.osamu@gmail.com", "o.onishi@rho-sangyo.co.jp"),
        ("o.onishi@rho-sangyo.co.jp／onishi.osamu@gmail.com", "o.onishi@rho-sangyo.co.jp"),
        ("aya.nishimura@epsilon-shoji.co.jp。", "aya.nishimura@epsilon-shoji.co.jp"),
        ("aya.nishimura@epsilon-shoji.co.jp【個人】", "aya.nishimura@epsilon-shoji.co.jp"),
        ("aya.nishimura@epsilon-shoji.co.jp\u200b", "aya.nishimura@epsilon-shoji.co.jp"),
        ("\ufeffaya.nishimura@epsilon-shoji.co.jp", "aya.nishimura@epsilon-shoji.co.jp"),
        ("mail@mail-abc.co.jp", "mail@mail-abc.co.jp"),
        ("taro@@abc-shoji.com", None),
        ("taro", None),
        ("山田@abc-shoji.com", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_email(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "email, freemail, role",
    [
        ("taro@gmail.com", True, False),
        ("taro@yahoo.co.jp", True, False),
        ("taro@docomo.ne.jp", True, False),
        ("taro@ezweb.ne.jp", True, False),
        ("taro@i.softbank.jp", True, False),
        ("taro@hotmail.co.jp", True, False),
        ("taro@outlook.com", True, False),
        ("taro@abc.biglobe.ne.jp", True, False),
        ("taro@sansan.com", False, False),
        ("info@sansan.com", False, True),
        ("sales@abc-shoji.co.jp", False, True),
        ("eigyo@abc-shoji.co.jp", False, True),
        ("soumu@abc-shoji.co.jp", False, True),
        ("saiyo@abc-shoji.co.jp", False, True),
        ("toiawase@abc-shoji.co.jp", False, True),
        ("noreply@abc-shoji.co.jp", False, True),
        ("info-jp@abc-shoji.com", False, True),
        ("support2@abc-shoji.com", False, True),
        # a company's main / head-office mailbox (代表, 本社, 管理, 担当, 窓口)
        ("daihyo@abc-shoji.co.jp", False, True),
        ("honsha-tokyo@abc-shoji.co.jp", False, True),
        ("kanri@abc-shoji.co.jp", False, True),
        ("madoguchi@abc-shoji.co.jp", False, True),
        ("kanrin@abc-shoji.co.jp", False, False),
        ("itou@abc-shoji.com", False, False),  # starts like 'it' but is a name
        ("office.tanaka@abc-shoji.com", False, False),
    ],
)
def test_email_flags(email, freemail, role):
    assert email_flags(normalize_email(email)) == (freemail, role)
    assert email_flags(None) == (None, None)


# ----------------------------------------------------------------------------------------------
# phones
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("03-1234-5678", ("+81312345678", False)),
        ("0312345678", ("+81312345678", False)),
        ("03 1234 5678", ("+81312345678", False)),
        ("(03)1234-5678", ("+81312345678", False)),
        ("+81 3-1234-5678", ("+81312345678", False)),
        ("+81-3-1234-5678", ("+81312345678", False)),
        ("+81 (0)3-1234-5678", ("+81312345678", False)),
        ("０３－１２３４－５６７８", ("+81312345678", False)),
        ("０３（１２３４）５６７８", ("+81312345678", False)),
        ("03-1234-5678 内線123", ("+81312345678", False)),
        ("03-1234-5678 ext. 12", ("+81312345678", False)),
        ("03-1234-5678 / 090-1111-2222", ("+81312345678", False)),
        ("090-1234-5678", ("+819012345678", True)),
        ("080 1234 5678", ("+818012345678", True)),
        ("070-1234-5678", ("+817012345678", True)),
        ("+81 90-1234-5678", ("+819012345678", True)),
        ("0120-123-456", ("+81120123456", False)),
        ("0800-123-4567", ("+818001234567", False)),  # free dial, not mobile
        ("06-6123-4567", ("+81661234567", False)),
        ("1234-5678", ("12345678", False)),  # no area code: the digits
        ("12345", (None, False)),
        ("なし", (None, False)),
        ("", (None, False)),
        # a number a spreadsheet turned into a float: its digits are gone, no number
        ("3.12346E+09", (None, False)), ("9.01235E+09", (None, False)),
        (None, (None, False)),
    ],
)
def test_normalize_phone_jp(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw, dummy", [
    ("090-1234-5678", True), ("03-1234-5678", True), ("03-0000-0000", True), ("000-0000-0000", True),
    ("080-1111-1111", True), ("090-8765-4321", True), ("03-5555-0000", False), ("090-1234-5679", False),
    ("06-6123-4567", False), ("", False),
])
def test_dummy_phone_numbers(raw, dummy):
    e164, _ = normalize_phone(raw, "JP")
    assert is_dummy_phone(e164) is dummy, e164


def test_normalize_phone_other_regions():
    assert normalize_phone("+1 415-555-2671") == ("+14155552671", False)
    assert normalize_phone("(02) 9876 5432", "AU") == ("+61298765432", False)
    assert normalize_phone("0412 345 678", "AU") == ("+61412345678", True)
    assert normalize_phone("415-555-2671", "US") == ("+14155552671", False)
    assert country_region("Japan") == country_region("日本") == country_region("JP") == "JP"
    assert country_region("United States") == country_region("USA") == country_region("アメリカ") == "US"
    assert country_region("Australia") == "AU"
    assert country_region("Atlantis") is None


# ----------------------------------------------------------------------------------------------
# addresses
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("〒100-0001", "1000001"),
        ("100-0001", "1000001"),
        ("1000001", "1000001"),
        ("１００－０００１", "1000001"),
        ("〒 １００ー０００１", "1000001"),
        ("2000", "2000"),  # FEBRL / Australian
        ("〒", None),
        (None, None),
    ],
)
def test_normalize_postal(raw, expected):
    assert normalize_postal(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("東京都", "東京都"),
        ("東京", "東京都"),
        ("Tokyo", "東京都"),
        ("TOKYO-TO", "東京都"),
        ("Tōkyō", "東京都"),
        ("Tokyo Prefecture", "東京都"),
        ("とうきょう", "東京都"),
        ("大阪", "大阪府"),
        ("大阪府", "大阪府"),
        ("Osaka-fu", "大阪府"),
        ("京都", "京都府"),
        ("北海道", "北海道"),
        ("Hokkaido", "北海道"),
        ("神奈川", "神奈川県"),
        ("Kanagawa-ken", "神奈川県"),
        ("兵庫県", "兵庫県"),
        ("Hyogo", "兵庫県"),
        ("Hyougo", "兵庫県"),
        ("東京都港区", "東京都"),
        ("nsw", None),
        ("vic", None),
        ("港区", None),
        (None, None),
    ],
)
def test_canonical_prefecture(raw, expected):
    assert canonical_prefecture(raw) == expected


def test_normalize_city():
    assert normalize_city("東京都港区") == ("港区", "東京都")
    assert normalize_city("港区") == ("港区", None)
    assert normalize_city("大阪市 北区") == ("大阪市北区", "大阪府")  # same-name city lies in 大阪府
    assert normalize_city("North Sydney") == ("northsydney", None)


@pytest.mark.parametrize(
    "raw",
    [
        "東京都千代田区千代田1丁目1番1号",
        "千代田区千代田1丁目1番1号",
        "千代田区千代田１－１－１",
        "千代田区千代田1-1-1",
        "千代田区千代田一丁目1番1号",
        "千代田区 千代田 1‐1‐1",
        "千代田区千代田1ー1ー1",
        "千代田区千代田1丁目1番地1",
        "千代田区千代田1丁目1-1",
        "〒100-0001 東京都千代田区千代田1-1-1",
    ],
)
def test_normalize_street_variants(raw):
    assert normalize_street(raw) == "千代田区千代田1-1-1"
    assert normalize_street(raw, city="千代田区") == "千代田1-1-1"
    assert normalize_street(raw, city="東京都千代田区") == "千代田1-1-1"


def test_normalize_street_details():
    assert normalize_street("港区六本木六丁目10番1号 六本木ヒルズ森タワー") == "港区六本木6-10-1六本木ヒルズ森タワー"
    assert normalize_street("1丁目2番3号 ABCビル 3階") == normalize_street("1-2-3 ABCビル3F") == "1-2-3abcビル3f"
    assert normalize_street("千代田区一番町5番地の3") == "千代田区一番町5-3"  # 一番町 is a place name
    assert normalize_street("二十三番地") == "23"
    assert normalize_street("101号室") == "101号室"
    # ヶ / ケ / ガ and ノ / 之 between kanji in a place name: one spelling (not in katakana words)
    assert normalize_street("霞ヶ関3-2-1") == normalize_street("霞ケ関三丁目2番1号") == normalize_street("霞が関3-2-1")
    assert normalize_street("丸ノ内1-1-1") == normalize_street("丸之内1-1-1") == "丸の内1-1-1"
    assert normalize_street("ケーズビル1F") == "ケーズビル1f"
    assert normalize_city("茅ヶ崎市") == normalize_city("茅ケ崎市")
    assert normalize_street("センタービル") == "センタービル"  # katakana ー kept
    assert normalize_street("42 Smith Street") == "42smithstreet"
    assert normalize_street("大阪市北区梅田3丁目1番3号") == "大阪市北区梅田3-1-3"
    assert normalize_street("   ") is None
    assert normalize_street(None) is None


# ----------------------------------------------------------------------------------------------
# birthdates
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("1980-05-01", "1980-05-01"),
        ("1980/05/01", "1980-05-01"),
        ("1980/5/1", "1980-05-01"),
        ("1980.5.1", "1980-05-01"),
        ("19800501", "1980-05-01"),
        ("1980年5月1日", "1980-05-01"),
        ("１９８０年５月１日", "1980-05-01"),
        ("昭和55年5月1日", "1980-05-01"),
        ("S55.5.1", "1980-05-01"),
        ("平成元年1月8日", "1989-01-08"),
        ("1980-05-01T00:00:00.000Z", "1980-05-01"),
        ("13/05/1980", "1980-05-13"),  # DD/MM/YYYY (unambiguous)
        ("05/13/1980", "1980-05-13"),  # MM/DD/YYYY (unambiguous)
        ("05/05/1980", "1980-05-05"),
        ("01/05/1980", None),  # ambiguous
        ("1980-02-30", None),
        ("2999-01-01", None),  # future
        ("1800-01-01", None),
        ("unknown", None),
        (None, None),
    ],
)
def test_parse_birthdate(raw, expected):
    assert parse_birthdate(raw) == expected


# ----------------------------------------------------------------------------------------------
# whole names in one field
# ----------------------------------------------------------------------------------------------


def test_split_whole_name():
    assert split_whole_name("山田 太郎") == ("山田", "太郎", "space")
    assert split_whole_name("山田　太郎") == ("山田", "太郎", "space")
    assert split_whole_name("Taro Yamada") == ("Yamada", "Taro", "space")  # given name first
    assert split_whole_name("YAMADA Taro") == ("YAMADA", "Taro", "space")  # ALL CAPS = surname
    assert split_whole_name("Yamada, Taro") == ("Yamada", "Taro", "comma")
    # a foreign name in katakana with the middle dot (half-width too): given name first
    assert split_whole_name("ルーカス・ブラウン") == ("ブラウン", "ルーカス", "dot")
    assert split_whole_name("ﾙｰｶｽ･ﾌﾞﾗｳﾝ") == ("ブラウン", "ルーカス", "dot")
    assert split_whole_name("ジョン・ケネディ・ジュニア") == ("ジュニア", "ジョン ケネディ", "dot")
    assert split_whole_name("山田・太郎") == ("山田・太郎", None, "unsplit")  # a Japanese name: not given name first
    # run together: a known surname at the end of katakana alone (a foreign name, given name first)
    assert split_whole_name("ルーカスブラウン", known_last={"ブラウン", "ヤマダ"}) == ("ブラウン", "ルーカス", "learned")
    assert split_whole_name("ヤマダタロウ", known_last={"ヤマダ", "タロウ"}) == ("ヤマダ", "タロウ", "learned")
    assert split_whole_name("ルーカスブラウン", known_last={"スミス"}) == ("ルーカスブラウン", None, "unsplit")
    # learned readings decide the order
    assert split_whole_name("Yamada Taro", known_last_readings={"yamada"}) == ("Yamada", "Taro", "space")
    # no space: the longest known surname prefix
    assert split_whole_name("山田太郎", known_last={"山田"}) == ("山田", "太郎", "learned")
    assert split_whole_name("佐々木花子", known_last={"佐", "佐々木"}) == ("佐々木", "花子", "learned")
    assert split_whole_name("山田", known_last={"山", "山田"}) == ("山田", None, "unsplit")  # a known surname
    assert split_whole_name("林誠", known_last={"林"}) == ("林", "誠", "learned")
    assert split_whole_name("山田太郎") == ("山田太郎", None, "unsplit")
    assert split_whole_name("やまだたろう", known_last={"ヤマダ"}) == ("ヤマダ", "タロウ", "learned")
    # a Japanese name in katakana run together whose surname the org writes in kanji only (菊城,
    # read kikujiro): split where the front reads as a known surname and the rest as a known given
    # name; with either unknown it stays whole
    assert split_whole_name("キクジロフユミ", known_last={"菊城"}, known_last_readings={"kikujiro"},
                            known_first_readings={"fuyumi"}) == ("キクジロ", "フユミ", "learned")
    assert split_whole_name("キクジロフユミ", known_last={"菊城"}, known_last_readings={"kikujiro"}) == (
        "キクジロフユミ", None, "unsplit")
    assert split_whole_name("ｷｸｼﾞﾛﾌﾕﾐ", known_last={"菊城"}, known_last_readings={"kikujiro"},
                            known_first_readings={"fuyumi"}) == ("キクジロ", "フユミ", "learned")


# ----------------------------------------------------------------------------------------------
# the stage
# ----------------------------------------------------------------------------------------------

COLS = ["Id", "Object", "LastName", "FirstName", "Company", "Account.Name", "Title", "Department", "Email",
        "Phone", "MobilePhone", "Street", "City", "State", "PostalCode", "Country", "MailingStreet",
        "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry", "Birthdate", "LeadSource",
        "OwnerId", "CreatedDate", "LastModifiedDate", "Sansan_Person_Id__c"]


def _table(con: duckdb.DuckDBPyConnection, rows: list[dict], name: str = "raw_records", cols=COLS) -> None:
    data = {c: pa.array([r.get(c) for r in rows], pa.string()) for c in cols}
    con.register("_rows", pa.table(data))
    con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _rows")
    con.unregister("_rows")


def _rows(con: duckdb.DuckDBPyConnection, table: str = "normalized_records") -> dict[str, dict]:
    cur = con.execute(f"SELECT * FROM {table} ORDER BY rec_idx")
    names = [d[0] for d in cur.description]
    return {r[names.index("id")]: dict(zip(names, r)) for r in cur.fetchall()}


# The same person five ways (business card, web form, Data Loader export, English list, hiragana)
JP_ROWS = [
    {"Id": "00Q000000000001", "Object": "Lead", "LastName": "佐藤", "FirstName": "太郎", "Company": "㈱サンプル商事",
     "Title": "営業部　部長", "Email": "Taro.Sato+card@Sample.co.jp", "Phone": "03-1234-5679",
     "MobilePhone": "090-1111-2222", "Street": "千代田区千代田1丁目1番1号", "City": "千代田区", "State": "東京都",
     "PostalCode": "〒100-0001", "Country": "日本", "Birthdate": "1980/5/1", "LeadSource": "名刺",
     "CreatedDate": "2023-04-01T12:34:56.000Z", "LastModifiedDate": "2024-01-02T03:04:05.000+0000"},
    {"Id": "00Q000000000002", "Object": "Lead", "LastName": "サトウ　タロウ", "FirstName": "",
     "Company": "サンプル商事株式会社", "Email": "taro.sato@sample.co.jp", "Phone": "０３－１２３４－５６７９",
     "Street": "東京都千代田区千代田１－１－１", "PostalCode": "１００－０００１", "Birthdate": "19800501",
     "LeadSource": "Web", "CreatedDate": "2023/04/02 09:00"},
    {"Id": "0030000000000AA", "Object": "Contact", "LastName": "佐藤太郎", "Account.Name": "（株）サンプル商事",
     "Email": "mailto:TARO.SATO@SAMPLE.CO.JP", "Phone": "+81 3-1234-5679", "MailingStreet": "千代田1-1-1",
     "MailingCity": "東京都千代田区", "MailingPostalCode": "100-0001", "Birthdate": "1980年5月1日",
     "CreatedDate": "2023-04-03T10:00:00+09:00"},
    {"Id": "0030000000000AB", "Object": "Contact", "LastName": "Taro Sato", "Company": "Sample Shoji Co., Ltd.",
     "Email": "taro.sato@sample.co.jp", "Phone": "(03)1234-5679 内線12", "MailingState": "Tokyo"},
    {"Id": "00Q000000000003", "LastName": "", "FirstName": "さとう たろう", "Company": "ｶ)ｻﾝﾌﾟﾙｼｮｳｼﾞ",
     "Phone": "0312345679", "State": "東京"},
    # other people
    {"Id": "00Q000000000004", "Object": "Lead", "LastName": "鈴木", "FirstName": "花子", "Company": "有限会社テスト",
     "Email": "info@test.co.jp", "Phone": "090-9999-8888", "Street": "大阪市北区梅田3丁目1番3号", "State": "大阪"},
    {"Id": "00Q000000000005", "Object": "Lead", "LastName": "高橋", "FirstName": "一郎", "Company": "テスト合同会社",
     "Email": "ichiro@gmail.com", "Phone": "06-6123-4567"},
    {"Id": "00Q000000000006", "Object": "Lead", "LastName": "   ", "FirstName": None, "Company": "   "},
]


@pytest.fixture(scope="module")
def jp() -> tuple[duckdb.DuckDBPyConnection, dict[str, dict], object]:
    con = duckdb.connect()
    _table(con, JP_ROWS)
    res = normalize_records(con, Config())
    return con, _rows(con), res


def test_stage_shape(jp):
    con, rows, res = jp
    assert res.stage == "normalize" and res.table == "normalized_records"
    assert res.rows == len(JP_ROWS) == len(rows)
    cols = [r[0] for r in con.execute("DESCRIBE normalized_records").fetchall()]
    assert cols == list(OUTPUT_COLUMNS)
    # (the config checks a blocking key against its own list of these columns)
    from nayose.config import KEY_COLUMNS

    assert cols == ["rec_idx", "id", *KEY_COLUMNS]
    types = {r[0]: r[1] for r in con.execute("DESCRIBE normalized_records").fetchall()}
    assert types["rec_idx"] == "INTEGER"
    assert types["email_is_freemail"] == types["email_is_role"] == types["phone_is_mobile"] == "BOOLEAN"
    assert types["created_date"] == types["last_modified_date"] == "TIMESTAMP"
    assert types["birthdate"] == "VARCHAR"
    # rec_idx dense 0..n-1 in Id order
    got = con.execute("SELECT rec_idx, id FROM normalized_records ORDER BY rec_idx").fetchall()
    assert [r[0] for r in got] == list(range(len(JP_ROWS)))
    assert [r[1] for r in got] == sorted(r["Id"] for r in JP_ROWS)
    assert res.seconds >= 0 and "timings" in res.stats


def test_stage_leaves_connection_clean(jp):
    con, _, _ = jp
    names = {r[0] for r in con.execute("SELECT name FROM (SHOW ALL TABLES)").fetchall()}
    assert names == {"raw_records", "normalized_records"}
    assert con.execute("SELECT 1").fetchall() == [(1,)]


def test_stage_same_person_shares_keys(jp):
    _, rows, _ = jp
    same = [rows[i] for i in ("00Q000000000001", "00Q000000000002", "0030000000000AA", "0030000000000AB",
                              "00Q000000000003")]
    assert {r["name_key"] for r in same} == {"satotaro"}
    assert {r["last_reading"] for r in same} == {"sato"}
    assert {r["first_reading"] for r in same} == {"taro"}
    assert {r["phone"] for r in same} == {"+81312345679"}
    assert {r["email"] for r in same[:4]} == {"taro.sato@sample.co.jp"}
    assert {r["company_core"] for r in same[:3]} == {"サンプル商事"}
    # the reading makes the katakana bank notation comparable (English 'Sample' stays 'sample')
    assert {r["company_reading"] for r in same if r["id"] != "0030000000000AB"} == {"sanpurushoji"}
    assert {r["postal_code"] for r in same[:3]} == {"1000001"}
    assert {r["prefecture"] for r in same} == {"東京都"}
    assert {r["birthdate"] for r in same[:3]} == {"1980-05-01"}
    assert {r["street"] for r in same[:3]} == {"千代田1-1-1"}
    # row 2 has no City: 千代田区 (known from row 1's City) is taken off the front of its street
    assert [r["city"] for r in same[:3]] == ["千代田区"] * 3


def test_stage_row_details(jp):
    _, rows, _ = jp
    a = rows["00Q000000000001"]
    assert (a["last_name"], a["first_name"], a["full_name"]) == ("佐藤", "太郎", "佐藤太郎")
    assert (a["company_core"], a["company_legal_form"]) == ("サンプル商事", "株式会社")
    assert (a["email_local"], a["email_domain"]) == ("taro.sato", "sample.co.jp")
    assert a["email_is_freemail"] is False and a["email_is_role"] is False
    assert a["mobile"] == "+819011112222" and a["phone_is_mobile"] is False
    assert a["title"] == "営業部 部長" and a["lead_source"] == "名刺"
    assert a["created_date"] == dt.datetime(2023, 4, 1, 12, 34, 56)
    assert a["last_modified_date"] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert a["object"] == "Lead"

    b = rows["00Q000000000002"]  # whole katakana name in LastName, full-width space
    assert (b["last_name"], b["first_name"], b["full_name"]) == ("サトウ", "タロウ", "サトウタロウ")
    assert b["created_date"] == dt.datetime(2023, 4, 2, 9, 0)

    c = rows["0030000000000AA"]  # no space: split with the surname learned from row 1
    assert (c["last_name"], c["first_name"]) == ("佐藤", "太郎")
    assert c["company_legal_form"] == "株式会社"  # from Account.Name
    assert c["created_date"] == dt.datetime(2023, 4, 3, 1, 0)  # +09:00 -> UTC

    d = rows["0030000000000AB"]  # latin whole name, given name first
    assert (d["last_name"], d["first_name"]) == ("sato", "taro")
    assert d["company_core"] == "sampleshoji" and d["company_legal_form"] == "co ltd"
    assert d["state"] is None and d["prefecture"] == "東京都"

    e = rows["00Q000000000003"]  # whole name in FirstName, hiragana; object from the Id prefix
    assert (e["last_name"], e["first_name"]) == ("サトウ", "タロウ")
    assert e["object"] == "Lead"
    assert e["company_legal_form"] == "株式会社"

    f = rows["00Q000000000004"]
    assert f["email_is_role"] is True and f["phone_is_mobile"] is True and f["prefecture"] == "大阪府"
    assert f["street"] == "大阪市北区梅田3-1-3"
    assert rows["00Q000000000005"]["email_is_freemail"] is True

    blank = rows["00Q000000000006"]  # blanks are NULL
    for k in ("last_name", "first_name", "full_name", "name_key", "company_core", "email", "phone"):
        assert blank[k] is None


FEBRL_COLS = ["Id", "FirstName", "LastName", "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode",
              "Birthdate"]
FEBRL_ROWS = [
    {"Id": "rec-0-org", "FirstName": "michaela", "LastName": "neumann", "MailingStreet": "8 stanley street",
     "MailingCity": "miami", "MailingState": "nsw", "MailingPostalCode": "2151", "Birthdate": "19151111"},
    {"Id": "rec-0-dup-0", "FirstName": "michaela", "LastName": "neuman", "MailingStreet": "8 stanley  street",
     "MailingCity": "miami", "MailingState": "NSW", "MailingPostalCode": "2151", "Birthdate": "19151111"},
    {"Id": "rec-1-org", "FirstName": "courtney", "LastName": "painter", "MailingStreet": "12 pitt street",
     "MailingCity": "north sydney", "MailingState": "vic", "MailingPostalCode": "3050", "Birthdate": "19370503"},
    {"Id": "rec-2-org", "FirstName": "", "LastName": "martin", "MailingStreet": None, "MailingCity": None,
     "MailingState": None, "MailingPostalCode": None, "Birthdate": "bad"},
]


def test_stage_febrl_missing_columns():
    con = duckdb.connect()
    _table(con, FEBRL_ROWS, cols=FEBRL_COLS)
    res = normalize_records(con, Config())
    rows = _rows(con)
    assert res.rows == 4 and len(rows) == 4
    assert "Email" in res.stats["missing_columns"] and "Company" in res.stats["missing_columns"]
    a, b = rows["rec-0-org"], rows["rec-0-dup-0"]
    assert (a["first_name"], a["last_name"], a["full_name"]) == ("michaela", "neumann", "neumannmichaela")
    assert (a["first_reading"], a["last_reading"]) == ("michaela", "neumann")
    assert a["street"] == b["street"] == "8stanleystreet"
    assert a["state"] == b["state"] == "nsw" and a["prefecture"] is None
    assert a["postal_code"] == "2151" and a["birthdate"] == "1915-11-11"
    assert rows["rec-1-org"]["city"] == "northsydney"
    # a Western street is never split on a city name
    assert rows["rec-2-org"]["street"] is None
    m = rows["rec-2-org"]
    assert (m["last_name"], m["first_name"], m["last_reading"], m["name_key"]) == ("martin", None, "martin", "martin")
    assert m["birthdate"] is None
    for r in rows.values():
        assert r["email"] is None and r["phone"] is None and r["company_core"] is None and r["object"] is None
        assert r["created_date"] is None


def test_stage_custom_names_default_object_and_rerun():
    con = duckdb.connect()
    _table(con, [{"Id": "x2", "LastName": "Smith", "FirstName": "John", "Email": "John.Smith@Abc-Shoji.com"},
                 {"Id": "x1", "LastName": "Doe", "Email": "SALES@abc-shoji.com"}],
           name="src", cols=["Id", "LastName", "FirstName", "Email"])
    cfg = Config(input=InputConfig(default_object="Contact"))
    normalize_records(con, cfg, source="src", target="out")
    normalize_records(con, cfg, source="src", target="out")  # CREATE OR REPLACE
    rows = _rows(con, "out")
    assert [r["rec_idx"] for r in rows.values()] == [0, 1]
    assert rows["x1"]["rec_idx"] == 0 and rows["x2"]["rec_idx"] == 1
    assert rows["x1"]["object"] == rows["x2"]["object"] == "Contact"
    assert rows["x2"]["email"] == "john.smith@abc-shoji.com" and rows["x1"]["email_is_role"] is True
    # 'John' parses as romaji (jo-h-n, like Ohno) and folds to 'jon': same key as Jon
    assert rows["x2"]["name_key"] == "jonsmith" == romaji_key("Jon") + romaji_key("Smith")


def test_stage_empty_table_and_missing_id():
    con = duckdb.connect()
    con.execute('CREATE TABLE raw_records ("Id" VARCHAR, "LastName" VARCHAR)')
    res = normalize_records(con, Config())
    assert res.rows == 0
    assert con.execute("SELECT count(*) FROM normalized_records").fetchall() == [(0,)]
    con.execute('CREATE TABLE no_id ("LastName" VARCHAR)')
    with pytest.raises(InputError):
        normalize_records(con, Config(), source="no_id")
    with pytest.raises(InputError):
        normalize_records(con, Config(), source="does_not_exist")


def test_stage_phone_region_from_country():
    con = duckdb.connect()
    _table(con, [{"Id": "1", "Phone": "(415) 555-2671", "Country": "United States"},
                 {"Id": "2", "Phone": "(02) 9876 5431", "MailingCountry": "Australia"},
                 {"Id": "3", "Phone": "03-1234-5679", "Country": "Japan"},
                 {"Id": "4", "Phone": "03-1234-5679"}],
           cols=["Id", "Phone", "Country", "MailingCountry"])
    normalize_records(con, Config())
    got = dict(con.execute("SELECT id, phone FROM normalized_records").fetchall())
    assert got == {"1": "+14155552671", "2": "+61298765431", "3": "+81312345679", "4": "+81312345679"}


def test_stage_timestamps():
    con = duckdb.connect()
    stamps = ["2023-04-01T12:34:56.000Z", "2023-04-01T12:34:56.000+0000", "2023-04-01T21:34:56+09:00",
              "2023-04-01 12:34:56", "2023/04/01 12:34", "4/1/2023 12:34 PM", "2023-04-01", "not a date", ""]
    _table(con, [{"Id": f"{i}", "CreatedDate": s} for i, s in enumerate(stamps)], cols=["Id", "CreatedDate"])
    normalize_records(con, Config())
    got = [r[0] for r in con.execute("SELECT created_date FROM normalized_records ORDER BY rec_idx").fetchall()]
    t = dt.datetime(2023, 4, 1, 12, 34, 56)
    assert got[:4] == [t, t, t, t]
    assert got[4:7] == [dt.datetime(2023, 4, 1, 12, 34), dt.datetime(2023, 4, 1, 12, 34), dt.datetime(2023, 4, 1)]
    assert got[7:] == [None, None]


def test_stage_typed_source_columns_and_session_time_zone():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Tokyo'")
    con.execute(
        """CREATE TABLE raw_records AS SELECT * FROM (VALUES
             (2, 312345679, DATE '1980-05-01', TIMESTAMPTZ '2023-04-01 21:34:56+09', '2023-04-01'),
             (10, NULL, NULL, NULL, '2023-04-01T12:00:00')
           ) t("Id", "Phone", "Birthdate", "CreatedDate", "LastModifiedDate")"""
    )
    normalize_records(con, Config())
    got = con.execute(
        "SELECT id, phone, birthdate, created_date, last_modified_date FROM normalized_records ORDER BY rec_idx"
    ).fetchall()
    assert got == [  # Ids are compared as text: '10' < '2'
        ("10", None, None, None, dt.datetime(2023, 4, 1, 12, 0)),
        ("2", "+81312345679", "1980-05-01", dt.datetime(2023, 4, 1, 12, 34, 56), dt.datetime(2023, 4, 1)),
    ]


# ----------------------------------------------------------------------------------------------
# the stage's SQL paths agree with the Python reference functions
# ----------------------------------------------------------------------------------------------


def _variants(seed: int, n: int, parts: list[list[str]]) -> list[str]:
    rnd = random.Random(seed)
    return sorted({"".join(rnd.choice(p) for p in parts) for _ in range(n)})


def test_stage_sql_paths_match_reference_functions():
    emails = _variants(1, 3000, [
        ["", " ", "mailto:", "<", "Name <", "'", "\t", '="', "='"],
        ["taro", "Taro.Yamada", "info", "sales-jp", "ｔａｒｏ", "a+b", "x.y+tag", "山田", "o'neil", "noemail", "Dummy1"],
        ["@", "@@", "＠", ""],
        ["example.com", "Example.CO.JP", "gmail.com", "GoogleMail.com", "docomo.ne.jp", "x.ocn.ne.jp", "ｅｘａｍｐｌｅ．ｃｏｍ", "x"],
        ["", ">", ".", "; b@y.com", ", c@z.jp", " (work)", "\n"],
    ])
    phones = _variants(2, 3000, [
        ["", "+81 ", "+81 (0)", "+1 ", "tel:", "(", "０", "00"],
        ["3", "90", "0", "6", "120", "80", "03", "090"],
        ["-", " ", "）", ")", "－", ""],
        ["1234", "１２３４", "555", "12"],
        ["-", " ", ""],
        ["5678", "５６７８", "2671", "9"],
        ["", " 内線12", " ext. 3", " x5", "#22", " / 090-1234-5678", "、03-0000-0000", " FAX 03-1111-2222", " ファックス03-1"],
    ]) + ["3.12346E+09", "9.01235e+09", " 3.1E+8 ", "1E+10"]
    streets = _variants(3, 3000, [
        ["", "〒100-0001 ", "100-0001", "東京都", "大阪府", "京都市", "宮城野区", "石川郡", "東京", " "],
        ["千代田区", "港区", "一番町", "梅田", "Smith Street ", "", "ABCビル", "霞ヶ関", "霞ケ関", "丸ノ内", "丸之内", "ケーズ"],
        ["1", "２", "三", "十二", "二十三", "10", ""],
        ["丁目", "番地", "番", "号", "の", "-", "－", "ー", "‐", " ", "階", "号室", "番町", ""],
        ["1", "２", "三", "3", ""],
        ["番", "号", "-", "の", "", " 4F", "ﾋﾞﾙ"],
        ["", "5", "五"],
    ])
    postals = _variants(4, 500, [["", "〒", " "], ["100", "１００", "21"], ["-", "－", "ー", ""], ["0001", "０００１", "51"],
                                  ["", ".0", " ", " 東京都千代田区1-1", "(本社)"]])
    n = max(len(emails), len(phones), len(streets), len(postals))
    rnd = random.Random(5)
    rows = [{"Id": f"{i:06d}", "Email": emails[i % len(emails)], "Phone": phones[i % len(phones)],
             "Street": streets[i % len(streets)], "PostalCode": postals[i % len(postals)],
             "Country": rnd.choice([None, None, "Japan", "USA", "Australia"])} for i in range(n)]
    con = duckdb.connect()
    _table(con, rows, cols=["Id", "Email", "Phone", "Street", "PostalCode", "Country"])
    normalize_records(con, Config())
    got = con.execute(
        "SELECT email, email_is_freemail, email_is_role, phone, phone_is_mobile, street, postal_code "
        "FROM normalized_records ORDER BY rec_idx"
    ).fetchall()
    for row, (email, free, role, phone, mobile, street, postal) in zip(rows, got):
        exp_email = normalize_email(row["Email"])
        assert (email, free, role) == (exp_email, *email_flags(exp_email)), row["Email"]
        exp_phone, exp_mobile = normalize_phone(row["Phone"], country_region(row["Country"]) or "JP")
        if is_dummy_phone(exp_phone):  # (the stage drops a dummy number: 090-1234-5678, 03-0000-0000)
            exp_phone = None
        assert (phone, mobile) == (exp_phone, exp_mobile if exp_phone else None), row["Phone"]
        assert street == normalize_street(row["Street"]), row["Street"]
        assert postal == normalize_postal(row["PostalCode"]), row["PostalCode"]


@pytest.mark.parametrize("kana, latin", [
    ("スティーブン", "Steven"), ("ウィルソン", "Wilson"), ("トーマス", "Thomas"), ("ロジャース", "Rogers"),
    ("エバンス", "Evans"), ("マーク", "Mark"), ("マシュー", "Matthew"), ("ピーター", "Peter"),
    ("ジェニファー", "Jennifer"), ("ハリス", "Harris"), ("ケビン", "Kevin"), ("スミス", "Smith"),
    ("キャンベル", "Campbell"), ("ウィリアムズ", "Williams"), ("エリザベス", "Elizabeth"), ("リチャード", "Richard"),
    # ch heard as k or as sh, and names with one consonant heard (Walker: 'k')
    ("マイケル", "Michael"), ("ニコラス", "Nicholas"), ("ミシェル", "Michelle"),
    ("レイチェル", "Rachel"), ("ミッチェル", "Mitchell"), ("ウォーカー", "Walker"), ("ローラ", "Laura"),
    ("ピエール", "Pierre"),
])
def test_foreign_name_in_katakana_sounds_like_latin(kana, latin):
    from nayose.normalize import foreign_name_script, foreign_name_sound, foreign_sound_agrees, normalize_name

    k, lat = normalize_name(kana), normalize_name(latin)
    assert foreign_name_sound(k) == foreign_name_sound(lat)
    assert foreign_sound_agrees(foreign_name_script(k), foreign_name_script(lat))


def test_ch_is_heard_by_the_name():
    from nayose.normalize import foreign_name_sound

    assert foreign_name_sound("michael") != foreign_name_sound("mitchell")  # k / ch
    assert foreign_name_sound("zachary") == foreign_name_sound("ザカリー")
    assert foreign_name_sound("richard") == foreign_name_sound("リチャード") != foreign_name_sound("rikard")
    assert foreign_name_sound("rachel") != foreign_name_sound("ラセル")  # Rachel keeps its ch


def test_placeholder_names_are_no_names():
    """A Lead's required Last Name filled with 不明, ご担当者様, '-' or Unknown names nobody: such
    values (and any without a letter) are empty, real names stay, whatever their script."""
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE raw_records AS SELECT * FROM (VALUES
           ('00Q1', NULL, '不明'), ('00Q2', '', 'ご担当者様'), ('00Q3', '太郎', '-'), ('00Q4', '?', '山田'),
           ('00Q5', 'Ｕｎｋｎｏｗｎ', '〇〇'), ('00Q6', 'ナ', 'ゴ担当者'), ('00Q7', 'Na', 'Test'), ('00Q8', '花子', '未入力'))
           t("Id", "FirstName", "LastName")"""
    )
    normalize_records(con, Config())
    got = {r[0]: r[1:] for r in con.execute("SELECT id, last_name, first_name, full_name FROM normalized_records").fetchall()}
    assert got["00Q1"] == got["00Q2"] == (None, None, None)
    assert got["00Q4"] == ("山田", None, "山田")
    assert got["00Q5"] == (None, None, None)
    assert got["00Q6"][2] == "ナ"  # ナ is a name's letter
    assert got["00Q7"][2] == "na"  # Na is a surname; Test is a test record's
    for rid in ("00Q3", "00Q8"):  # the given name alone is what is left of the name
        assert got[rid][2] is not None and got[rid][2] != "-", got[rid]
    cfg = Config.model_validate({"input": {"name_placeholders": []}})
    normalize_records(con, cfg)
    assert con.execute("SELECT last_name FROM normalized_records WHERE id = '00Q1'").fetchall() == [("不明",)]


def test_stage_addresses_that_only_hold_the_place_are_no_addresses():
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE raw_records AS SELECT * FROM (VALUES
           ('003A', '山田', '不明', '不明', 'なし', '000-0000'), ('003B', '山田', '同上', '-', '-', '1234567'),
           ('003C', '山田', '丸の内1-1-1', '千代田区', '東京都', '100-0005')) t("Id", "LastName", "Street", "City", "State", "PostalCode")"""
    )
    normalize_records(con, Config())
    got = {r[0]: r[1:] for r in con.execute("SELECT id, street, city, state, postal_code FROM normalized_records").fetchall()}
    assert got["003A"] == got["003B"] == (None, None, None, None)
    assert got["003C"][0] is not None and got["003C"][3] == "1000005"


def test_stage_zero_birth_dates_are_no_birth_dates():
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE raw_records AS SELECT * FROM (VALUES ('003A', '山田', '1900-01-01'), ('003B', '山田', '1900/1/1'),
           ('003C', '山田', '1970-01-01'), ('003D', '山田', '昭和60年4月12日')) t("Id", "LastName", "Birthdate")"""
    )
    normalize_records(con, Config())
    got = dict(con.execute("SELECT id, CAST(birthdate AS VARCHAR) FROM normalized_records").fetchall())
    assert got == {"003A": None, "003B": None, "003C": None, "003D": "1985-04-12"}
    normalize_records(con, Config.model_validate({"input": {"birthdate_placeholders": []}}))
    assert con.execute("SELECT count(birthdate) FROM normalized_records").fetchall() == [(4,)]


@pytest.mark.parametrize("value, blank", [
    ("[[Unknown]]", True), ("Unknown Unknown", True), ("不明 不明", True), ("ご担当者さま", True), ("担当者 様", True),
    ("ご担当者各位", True), ("N/A", True), ("－－", True), ("様", True), ("名刺交換", True), ("部長", True),
    ("代表取締役社長", True), ("社長 様", True),
    ("Na", False), ("オサマ", False), ("テスト太郎", False), ("山田", False), ("不明子", False),
])
def test_name_placeholder_values(value, blank):
    from nayose.normalize import blank_name_placeholders

    got = blank_name_placeholders(pa.array([value]), Config().input.name_placeholders).to_pylist()[0]
    assert (got == "") is blank, got


def test_stage_name_sound_blocks_on_three_consonants_at_least():
    """One consonant (Walker) still compares a katakana part with a Latin one, but the
    whole name's sound that blocks needs three: 'k tm' does, Lee Ray's 'r r' would pair every Lee."""
    con = duckdb.connect()
    con.execute(
        """CREATE TABLE raw_records AS SELECT * FROM (VALUES
           ('003A', 'Tom', 'Walker'), ('003B', 'トム', 'ウォーカー'), ('003C', 'Ray', 'Lee'), ('003D', 'レイ', 'リー'))
           t("Id", "FirstName", "LastName")"""
    )
    normalize_records(con, Config())
    got = dict(con.execute("SELECT id, name_sound FROM normalized_records").fetchall())
    assert got["003A"] == got["003B"] is not None
    assert got["003C"] is None and got["003D"] is None


def test_foreign_sound_is_not_used_between_japanese_names():
    from nayose.normalize import foreign_name_script, foreign_name_sound, foreign_sound_agrees

    # Sato / セト have the same consonants: Japanese names keep their readings (vowels decide)
    assert foreign_name_sound("sato") == foreign_name_sound("セト")
    assert not foreign_sound_agrees(foreign_name_script("sato"), foreign_name_script("セト"))
    # letters romaji never writes make a Latin name foreign (r or w before a consonant, an English
    # initial cluster): Brown / ブラウン, Green / グリーン, Anderson / アンダーソン compare by sound ...
    for latin, kana in (("brown", "ブラウン"), ("green", "グリーン"), ("anderson", "アンダーソン"), ("white", "ホワイト")):
        assert foreign_name_script(latin) == 4, latin
        assert foreign_sound_agrees(foreign_name_script(latin), foreign_name_script(kana))
    # ... while romaji, with its long-vowel h, syllabic n and doubled consonants, stays romaji
    for romaji in ("sato", "satoh", "ohno", "shinichi", "hattori", "kondo", "homma", "matcha", "ryunosuke"):
        assert foreign_name_script(romaji) == 2, romaji
    # a typo in a romaji name is not a foreign name
    assert not foreign_sound_agrees(foreign_name_script("kwamura"), foreign_name_script("キムラ"))
    # two names in one script are never compared by sound; kanji has none
    assert not foreign_sound_agrees(foreign_name_script("rogers"), foreign_name_script("rojers"))
    assert foreign_name_sound("佐藤") is None


def test_company_sound_compares_katakana_with_english():
    from nayose.normalize import company_reading, company_sound, split_company

    def sound(name):
        core = split_company(name)[0]
        return company_sound(core, company_reading(core))

    a, b = sound("ネクストアソシエイツ株式会社"), sound("Next Associates Inc.")
    assert a[1:] == b[1:] and {a[0], b[0]} == {"J", "L"}
    assert sound("ソニー株式会社") is None  # too short to tell companies apart


def test_stage_company_sound_per_row_is_the_reference():
    """The stage computes company_sound once per distinct (core, reading) and spreads it back to
    the rows: every row must get what company_sound gives its own core and reading, whichever
    field (Company or Account.Name) the company came from."""
    from nayose.normalize import company_sound

    names = ["ネクストアソシエイツ株式会社", "Next Associates Inc.", "（株）ネクストアソシエイツ", "ソニー株式会社",
             "Blue Peak Labs Japan K.K.", "ブルーピークラボジャパン(株)", "株式会社山陰設備不動産", "", None, "個人"]
    rows = [{"Id": f"{i:04d}", "LastName": "佐藤", "FirstName": "健",
             ("Company" if i % 3 else "Account.Name"): names[i % len(names)]} for i in range(60)]
    con = duckdb.connect()
    _table(con, rows)
    normalize_records(con, Config())
    got = con.execute("SELECT company_core, company_reading, company_sound FROM normalized_records").fetchall()
    assert any(s is not None for _, _, s in got) and any(s is None for _, _, s in got)
    for core, reading, sound in got:
        assert sound == company_sound(core, reading), core


def test_english_company_name_reads_like_the_japanese_one():
    """A Japanese company's English name translates its business words: 相模不動産 is Sagami Real
    Estate. The English core's reading reads those words as Japanese, so the readings agree
    (company "similar"); the proper name must still agree, and the sound stays the plain one."""
    rows = [{"Id": f"{i:04d}", "LastName": "佐藤", "FirstName": "健", "Company": c} for i, c in enumerate([
        "株式会社相模不動産", "Sagami Real Estate Inc.", "Sagami Logistics Co., Ltd.", "みらい保険サービス株式会社",
        "Mirai Insurance Services Co., Ltd.", "極東産業電子（株）", "FAR EAST INDUSTRIAL ELECTRONICS CO., LTD.",
        "Next Associates Inc.", "ネクストアソシエイツ株式会社", "クリエイト設備テクノロジー株式会社",
        "Create Facility Technology Co., Ltd."])]
    con = duckdb.connect()
    _table(con, rows)
    normalize_records(con, Config())
    got = dict(con.execute("SELECT id, company_reading FROM normalized_records").fetchall())
    sound = dict(con.execute("SELECT id, company_sound FROM normalized_records").fetchall())
    assert got["0000"] == got["0001"] == "sagamifudosan"
    assert got["0002"] != got["0000"]  # another company of the same proper name
    assert got["0003"] == got["0004"] and got["0005"] == got["0006"]
    # a katakana name compared by its sound with the English one still agrees, and a katakana name
    # with its business words in kanji sounds like the English name once those words are read
    assert sound["0007"][1:] == sound["0008"][1:] and sound["0007"][0] == "L"
    assert sound["0009"][1:] == sound["0010"][1:] and {sound["0009"][0], sound["0010"][0]} == {"J", "L"}


@pytest.mark.parametrize("last, first, whole", [
    ("山田", "太郎 様", None), ("山田", "太郎様", None), ("山田（ヤマダ）", "太郎（タロウ）", None),
    (None, None, "山田 太郎 様"), (None, None, "山田太郎（ヤマダタロウ）"), (None, None, "山田 太郎 さん"),
    ("山田", "太郎 部長", None), (None, None, "山田 太郎 代表取締役社長"), (None, None, "山田太郎課長様"),
    ("【重要】山田", "太郎", None), ("［退職］山田", "太郎 ※2023年退職", None), (None, None, "山田 太郎 ※担当変更"),
])
def test_stage_names_without_honorifics_titles_and_notes(last, first, whole):
    """An honorific after a name, a title before it and a note in brackets after it are left out:
    the record reads as the same name written plainly."""
    con = duckdb.connect()
    plain = {"Id": "0", "LastName": "山田", "FirstName": "太郎", "Company": "東西商事株式会社"}
    rec = {"Id": "1", "LastName": whole or last, "FirstName": None if whole else first, "Company": "東西商事株式会社"}
    _table(con, [plain, rec])
    normalize_records(con, Config())
    rows = con.execute("SELECT last_name, first_name, last_reading, first_reading, name_key FROM normalized_records "
                       "ORDER BY rec_idx").fetchall()
    assert rows[1] == rows[0] == ("山田", "太郎", "yamada", "taro", "taroyamada")


def test_stage_a_job_title_in_the_name_field_is_not_a_given_name():
    """山田 部長 typed by hand into one field is 山田 with no given name known -- not a given name
    部長 that would contradict 山田 太郎; a field holding only the title (主任 as the given name) is a
    placeholder: no given name either."""
    con = duckdb.connect()
    _table(con, [{"Id": "1", "LastName": "山田 部長"}, {"Id": "2", "LastName": "佐藤課長", "FirstName": None},
                 {"Id": "3", "LastName": "鈴木", "FirstName": "主任"}, {"Id": "4", "LastName": "長谷部", "FirstName": "信長"}])
    normalize_records(con, Config())
    got = con.execute("SELECT last_name, first_name FROM normalized_records ORDER BY rec_idx").fetchall()
    assert got == [("山田", None), ("佐藤", None), ("鈴木", None), ("長谷部", "信長")]


def test_stage_english_titles_and_names_that_only_look_like_them():
    con = duckdb.connect()
    _table(con, [{"Id": "1", "LastName": "Smith", "FirstName": "Mr. John"}, {"Id": "2", "LastName": "Dr. Smith", "FirstName": "John"},
                 {"Id": "3", "LastName": "Drake", "FirstName": "Misses"}, {"Id": "4", "LastName": "オサマ", "FirstName": "様"},
                 {"Id": "5", "LastName": "Smith Jr.", "FirstName": "John"}, {"Id": "6", "LastName": "John Smith, Jr"}])
    normalize_records(con, Config())
    got = con.execute("SELECT last_name, first_name FROM normalized_records ORDER BY rec_idx").fetchall()
    # (様 typed alone into the given-name field is a placeholder: no given name)
    assert got == [("smith", "john"), ("smith", "john"), ("drake", "misses"), ("オサマ", None), ("smith", "john"),
                   ("smith", "john")]


@pytest.mark.parametrize("raw", ["株式会社ABC 東京支店", "ABC株式会社 大阪営業所 営業部", "(株)ABC 本社", "ABC（株）本社",
                                 "ABC Co., Ltd. Osaka Branch", "ABC株式会社（エービーシー）", "ABC株式会社 (旧社名: XYZ)",
                                 "株式会社ABC 東京支店（旧XYZ）", "ABC Inc. (Japan)", "ＡＢＣ（株）",
                                 "ABC株式会社 御中", "株式会社ABC様", "(株)ABC 営業部 御中"])
def test_company_office_or_note_after_the_name_is_not_part_of_the_core(raw):
    assert split_company(raw)[0] == "abc"


@pytest.mark.parametrize("raw", ["北斗精工株式会社名古屋営業所", "北斗精工(株)名古屋営業所", "北斗精工株式会社 名古屋営業所",
                                 "北斗精工株式会社大阪支店"])
def test_an_office_written_right_after_the_legal_form_is_not_part_of_the_name(raw):
    assert split_company(raw) == ("北斗精工", "株式会社")


@pytest.mark.parametrize("raw", ["株式会社ABC マーケティング部", "株式会社ABC 経営企画室", "株式会社ABC 人事部 採用課",
                                 "ABC株式会社/営業部", "ABC株式会社 東京オフィス", "ABC株式会社 営業グループ"])
def test_a_department_after_the_company_is_not_part_of_its_name(raw):
    assert split_company(raw) == ("abc", "株式会社")


def test_company_office_alone_or_written_into_the_name_is_kept():
    assert split_company("株式会社 東京支店") == ("東京支店", "株式会社")  # nothing else names the company
    assert split_company("ABC東京支店")[0] == "abc東京支店"  # no telling where the name ends
    assert split_company("三井住友銀行 新宿支店")[0] == "三井住友銀行"


@pytest.mark.parametrize("raw, e164", [
    ("TEL 03-1234-5678 FAX 03-1234-5679", "+81312345678"), ("03-1234-5678 ＦＡＸ:03-1234-5679", "+81312345678"),
    ("03-1234-5678 ファックス 03-1111-2222", "+81312345678"), ("FAX 03-1234-5679", "+81312345679"),
])
def test_phone_with_a_fax_number_after_it(raw, e164):
    assert normalize_phone(raw)[0] == e164


@pytest.mark.parametrize("raw, phone, mobile", [
    ("03-5555-1234 / 090-2222-3333", "+81355551234", "+819022223333"),
    ("03-5555-1234、携帯 090-2222-3333", "+81355551234", "+819022223333"),
    ("TEL 03-5555-1234 携帯:０９０－２２２２－３３３３", "+81355551234", "+819022223333"),
    ("03-5555-1234 Mobile 080-3333-4444", "+81355551234", "+818033334444"),
    ("090-1111-2222 / 03-5555-1234", "+819011112222", None),  # the first is the mobile already
    ("携帯 090-1111-2222", "+819011112222", None),
    ("03-5555-1234 / 03-5555-1299", "+81355551234", None),  # a second landline is no mobile
    ("03-5555-4444 090-6060-7070", "+81355554444", "+819060607070"),  # two whole numbers, a space between
    ("03-5555-4444\u3000090-6060-7070", "+81355554444", "+819060607070"),
    ("直通:03-5555-1234 代表:03-5555-9999", "+81355551234", None),
    ("03 5555 4444", "+81355554444", None), ("090 6060 7070", "+819060607070", None),  # one number, spaced
    ("+44 20 7946 0958", "+442079460958", None),
    ("03-5555-1234～5", "+81355551234", None), ("03-5555-1234~36", "+81355551234", None),  # a range of lines
    ("0355551234.0", "+81355551234", None), ("0081-3-5555-1234", "+81355551234", None),
    ("03-5555-1234 / 090-1234-5678", "+81355551234", None),  # a dummy mobile is none
    ("03-5555-1234", "+81355551234", None),
])
def test_a_mobile_after_the_first_number_in_phone(raw, phone, mobile):
    assert normalize_phone(raw)[0] == phone
    assert later_mobile(raw) == mobile


def test_stage_takes_the_mobile_after_the_switchboard_when_mobilephone_is_empty():
    con = duckdb.connect()
    _table(con, [{"Id": "1", "Phone": "03-5555-1234 / 090-2222-3333"},
                 {"Id": "2", "Phone": "03-5555-1234 / 090-2222-3333", "MobilePhone": "080-7777-6666"},
                 {"Id": "3", "Phone": "03-5555-1234"}],
           cols=["Id", "Phone", "MobilePhone"])
    res = normalize_records(con, Config())
    got = {r[0]: r[1:] for r in con.execute("SELECT id, phone, mobile, personal_phone FROM normalized_records").fetchall()}
    assert got == {"1": ("+81355551234", "+819022223333", "+819022223333"),
                   "2": ("+81355551234", "+818077776666", "+818077776666"),  # MobilePhone first
                   "3": ("+81355551234", None, None)}
    assert res.stats["mobiles_from_phone"] == 1


@pytest.mark.parametrize("raw, code", [
    ("〒100-0001 東京都千代田区千代田1-1", "1000001"), ("100ー0001 (本社)", "1000001"), ("1000001 東京都", "1000001"),
    ("94105-1234", "941051234"), ("10117", "10117"),
])
def test_postal_code_with_the_address_after_it(raw, code):
    assert normalize_postal(raw) == code


def test_the_company_child_is_stopped_when_the_names_fail(monkeypatch):
    """The companies are computed in a forked child while the stage goes on; an error meanwhile
    leaves no child behind, and the stage's own error is what the caller sees."""
    import os

    import nayose.normalize as normalize_module
    from nayose.values import Forked

    monkeypatch.delenv("NAYOSE_SERIAL", raising=False)
    started = []

    class Recorded(Forked):
        def __init__(self, fn, *args):
            super().__init__(fn, *args)
            started.append(self.pid)

    def failing(*_args, **_kwargs):
        raise RuntimeError("names failed")

    monkeypatch.setattr(normalize_module, "Forked", Recorded)
    monkeypatch.setattr(normalize_module, "COMPANY_CHILD_MIN", 1)  # (a few rows here)
    monkeypatch.setattr(normalize_module, "strip_name_extras_array", failing)
    con = duckdb.connect()
    _table(con, JP_ROWS)
    with pytest.raises(RuntimeError, match="names failed"):
        normalize_records(con, Config())
    assert len(started) == 1 and started[0] is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(started[0], os.WNOHANG)  # killed and reaped
    monkeypatch.undo()
    # and without the failure the child's companies are the ones the stage writes
    normalize_records(con, Config())
    assert "サンプル商事" in {r["company_core"] for r in _rows(con).values()}


def test_web_to_leads_not_provided_is_a_placeholder_of_two_words():
    """Web-to-Lead's [not provided] (any case, spacing, width) names nobody and is no company; the
    words alone are no placeholder (Provided is nobody's name, but not a placeholder either)."""
    from nayose.normalize import is_name_placeholder, name_placeholder_key

    cfg = Config()
    keys = frozenset(name_placeholder_key(p) for p in cfg.input.name_placeholders)
    for v in ("[not provided]", "[Not Provided]", "not  provided", "［ｎｏｔ ｐｒｏｖｉｄｅｄ］"):
        assert is_name_placeholder(v, keys), v
    for v in ("not", "provided", "Provided Smith", "佐藤"):
        assert not is_name_placeholder(v, keys), v
    assert "[not provided]" in cfg.input.company_placeholders


def test_a_web_shops_visitor_names_nobody():
    """お客様, ゲスト, Guest, 匿名 (what a shop or a form writes for a visitor without a name) are no
    names; real names around them stay."""
    from nayose.normalize import is_name_placeholder, name_placeholder_key

    keys = frozenset(name_placeholder_key(p) for p in Config().input.name_placeholders)
    for v in ("お客様", "ゲスト", "Guest", "匿名", "No Name", "会員様"):
        assert is_name_placeholder(v, keys), v
    for v in ("佐藤", "Guestier", "ユウキ"):
        assert not is_name_placeholder(v, keys), v


@pytest.mark.parametrize("value", ["会社員", "公務員", "フリー", "Self", "会社名", "御社名", "Company Name", "Your company",
                                   "未定", "検討中", "TBD", "Not applicable", "サンプル", "テスト会社", "xxx", "Co., Ltd."])
def test_what_a_form_holds_in_place_of_a_company_is_no_company(value):
    """An occupation without an employer (会社員), the field's own label or sample text left in it
    (会社名, Company Name), an undecided answer (未定), a test value or a legal form alone: no company,
    so two namesakes who typed it share none; a real company beside them keeps its core."""
    con = duckdb.connect()
    con.execute("CREATE TABLE raw_records AS SELECT * FROM (VALUES ('00Q000000000001', '山田', ?), "
                "('00Q000000000002', '佐藤', '株式会社アルファ')) t(Id, LastName, Company)", [value])
    normalize_records(con, Config())
    got = dict(con.execute("SELECT id, company_core FROM normalized_records").fetchall())
    assert got == {"00Q000000000001": None, "00Q000000000002": "アルファ"}


def test_a_name_fields_own_label_names_nobody():
    """氏名, お名前, Last Name … (a form's placeholder text submitted as typed) are no names; a whole name
    with a real part (佐藤 名) and names that only contain the word (名取, 姓名) stay."""
    from nayose.normalize import is_name_placeholder, name_placeholder_key

    keys = frozenset(name_placeholder_key(p) for p in Config().input.name_placeholders)
    for v in ("氏名", "お名前", "名前", "姓", "名", "フリガナ", "Last Name", "FirstName", "Your name"):
        assert is_name_placeholder(v, keys), v
    for v in ("名取", "姓名", "佐藤 名", "メイ", "セイ", "Nameth"):
        assert not is_name_placeholder(v, keys), v


# ----------------------------------------------------------------------------------------------
# a kanji surname's reading from the record's own mailbox
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, guess, letters, expected",
    [
        ("平浜", "tairahama", "hirahamaaya", "hirahama"),  # hirahama.aya@: pykakasi guessed tairahama
        ("関丸", "sekigan", "ryunosukesekimaru", "sekimaru"),  # the whole name run together
        ("平浜", "hirahama", "hirahamaaya", None),  # the guess is in the mailbox: nothing to change
        ("小野", "ono", "kohno", None),  # ohno is ono (long vowels folded as readings are)
        ("平浜", "tairahama", "sales", None),  # no reading of the name in it
        ("平浜", "tairahama", "yamadataro", None),  # someone else's mailbox (a job change, a colleague's)
    ],
)
def test_a_mailbox_spells_the_reading_of_a_kanji_surname(written, guess, letters, expected):
    from nayose.normalize import mailbox_reading

    assert mailbox_reading(written, guess, letters) == expected


def test_the_stage_takes_a_surnames_reading_from_its_own_mailbox_only():
    """平浜 (read tairahama by the dictionary's first guess) with hirahama.aya@ reads hirahama, and
    keys alike with the card written in romaji; a role mailbox says nothing; a given name is left
    as guessed even when the mailbox spells another reading (a family's shared address)."""
    con = duckdb.connect()
    rows = [
        {"Id": "00Q000000000101", "Object": "Lead", "LastName": "平浜", "FirstName": "彩", "Company": "日之出研究所有限会社",
         "Email": "hirahama.aya@hinode-kenkyusho.co.jp"},
        {"Id": "00Q000000000102", "Object": "Lead", "LastName": "Hirahama", "FirstName": "Aya", "Company": "Hinode Kenkyusho"},
        {"Id": "00Q000000000103", "Object": "Lead", "LastName": "平浜", "FirstName": "正夫", "Email": "info@hirahama-shoten.co.jp"},
        {"Id": "00Q000000000104", "Object": "Lead", "LastName": "東堀", "FirstName": "亮",
         "Email": "makoto.higashihori97@yahoo.co.jp"},
    ]
    _table(con, rows)
    res = normalize_records(con, Config())
    got = _rows(con)
    assert got["00Q000000000103"]["last_reading"] != "hirahama"  # (the guess stands: info@ is the shop's)
    assert got["00Q000000000101"]["last_reading"] == got["00Q000000000102"]["last_reading"] == "hirahama"
    assert got["00Q000000000101"]["first_reading"] == "sai"  # 彩 as guessed: given names are not taken from mailboxes
    assert got["00Q000000000101"]["name_key"] == "hirahamasai"
    assert got["00Q000000000104"]["last_reading"] == "higashihori" and got["00Q000000000104"]["first_reading"] != "makoto"
    assert res.stats["readings_from_mailbox"] == 2


@pytest.mark.parametrize("written, surname, reading, agrees", [
    ("裕子", False, "yuko", True), ("裕子", False, "hiroko", True),
    ("裕子", False, "hiroshi", False), ("洋子", False, "hiroshi", False), ("智子", False, "satoshi", False),  # a final 子 reads ko
    ("愛美", False, "aimi", True), ("愛美", False, "manami", True),  # given names read freely
    ("中田", True, "uchida", False), ("松下", True, "matsumoto", False), ("高橋", True, "kobashi", False),
    ("中田", True, "nakata", True), ("菅沢", True, "sugazawa", True), ("村方", True, "muragata", True),  # voicing
    ("根本", True, "nemoto", True), ("水上", True, "mizukami", True),
])
def test_name_readings_are_the_readings_a_name_takes(written, surname, reading, agrees):
    assert (reading in name_readings(written, surname)) is agrees


@pytest.mark.parametrize("a, b, same", [
    ("ユウコ", "ユーコ", True), ("ゆうこ", "ユウコ", True), ("ショウタ", "ショータ", True), ("オオノ", "オーノ", True),
    ("ユキ", "ユウキ", False), ("オノ", "オオノ", False), ("サト", "サトウ", False),
])
def test_kana_names_keep_the_length_of_their_vowels(a, b, same):
    assert (kana_length_key(a) == kana_length_key(b)) is same
    assert kana_length_key("佐藤") is None and kana_length_key("Sato") is None


def test_stage_reads_card_emails_and_two_phone_numbers_as_the_python_functions_do():
    """The stage's SQL twins of the email and phone steps give what normalize_email / later_mobile give."""
    con = duckdb.connect()
    raw = [("1", "E-mail: nozomi.harada@pi-seiko.co.jp", "03-5555-4444 090-6060-7070"),
           ("2", "o.onishi@rho-sangyo.co.jp、onishi.osamu@gmail.com", "直通:03-5555-1234 代表:03-5555-9999"),
           ("3", "aya.nishimura@epsilon-shoji.co.jp。\u200b", "03 5555 4444"),
           ("4", "a@ybb.ne.jp", "03-5555-1234～5"), ("5", None, "0355551234.0"), ("6", None, "0081-3-5555-1234")]
    _table(con, [{"Id": i, "Email": e, "Phone": p} for i, e, p in raw], cols=["Id", "Email", "Phone"])
    normalize_records(con, Config())
    got = {r[0]: r[1:] for r in con.execute("SELECT id, email, phone, mobile FROM normalized_records").fetchall()}
    assert got == {i: (normalize_email(e), normalize_phone(p)[0], later_mobile(p)) for i, e, p in raw}
    assert got["1"] == ("nozomi.harada@pi-seiko.co.jp", "+81355554444", "+819060607070")


def test_stage_takes_the_postal_code_a_street_starts_with_when_no_postal_field_has_one():
    """A card's whole address in Street (〒180-0004 東京都武蔵野市…) with PostalCode empty: its code is the
    record's postal code (it agrees with the web form's PostalCode); a postal field still comes first,
    and a street starting with a house number (2-3-4 本町) has none."""
    con = duckdb.connect()
    _table(con, [{"Id": "1", "Street": "〒180-0004 東京都武蔵野市吉祥寺本町2-3-4"},
                 {"Id": "2", "Street": "吉祥寺本町2-3-4", "PostalCode": "180-0004"},
                 {"Id": "3", "Street": "〒１８０－０００４　東京都", "PostalCode": "100-0001"},
                 {"Id": "4", "Street": "2-3-4 本町"},
                 {"Id": "5", "MailingStreet": "〒530-0001 大阪府大阪市北区梅田1-1-1"}],
           cols=["Id", "Street", "PostalCode", "MailingStreet"])
    normalize_records(con, Config())
    got = dict(con.execute("SELECT id, postal_code FROM normalized_records").fetchall())
    assert got == {"1": "1800004", "2": "1800004", "3": "1000001", "4": None, "5": "5300001"}
