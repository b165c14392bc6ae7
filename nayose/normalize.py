"""Normalize stage: raw Salesforce Lead / Contact columns -> comparable match keys.

How it stays fast at 1M rows (no Python loop over rows):

* the source is read once into Arrow; every column is dictionary-encoded (its distinct values
  plus one index per row, already permuted into rec_idx = Id order);
* Python runs once per DISTINCT value where the work is Japanese-aware (names, companies,
  cities, birthdates, titles), memoized, with pykakasi's dictionary read through a length
  index instead of pykakasi's own converter (~2 us instead of ~80 us a name);
* the high-cardinality families (emails, phones, streets, postal codes) run as SQL over the
  distinct values in DuckDB, with the same regex steps as the Python reference functions
  (``_Steps``: patterns RE2 and Python read alike, with literal guards so that most steps are
  skipped); values the SQL rule does not cover (non-JP phones, kanji numerals in 丁目/番地)
  fall back to the Python function;
* results go back to the rows as Arrow DictionaryArrays (no hash joins) and one
  CREATE OR REPLACE TABLE writes the target.

Values that only hold a field's place are no value: a name placeholder (不明, ご担当者様, -, with
no letter; ``input.name_placeholders``), a dummy address (noemail@, dummy@, a@a.com, taro@example.com: DUMMY_MAIL_RE)
or number (090-1234-5678, 03-0000-0000: DUMMY_PHONE_RE), a zero birth date (1900-01-01;
``input.birthdate_placeholders``), a street / city / prefecture 不明 or なし (address_placeholders)
and a postal code 000-0000 (DUMMY_POSTAL_RE). Each would otherwise agree between strangers and merge them.

The value-level functions (``normalize_text``, ``split_company``, ``romaji_key``,
``normalize_email``, ``normalize_phone``, ``normalize_postal``, ``canonical_prefecture``,
``normalize_street``, ``parse_birthdate`` ...) are pure and are the reference behaviour; the
tests check that the stage's SQL paths agree with them.
"""

from __future__ import annotations

import datetime as _dt
import gc
import re
import threading
import time
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Callable, Iterable, Sequence

import duckdb
import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from nayose.config import KEY_COLUMNS, Config
from nayose.errors import InputError
from nayose.stage import StageResult, fine_grained_scans, table_rows, timed
from nayose.values import PARALLEL_MIN, Forked, map_values

__all__ = [
    "normalize_records",
    "normalize_text",
    "normalize_name",
    "split_company",
    "company_reading",
    "romaji_key",
    "normalize_email",
    "email_flags",
    "normalize_phone",
    "is_dummy_phone",
    "blank_name_placeholders",
    "normalize_postal",
    "canonical_prefecture",
    "normalize_city",
    "normalize_street",
    "parse_birthdate",
    "country_region",
    "split_whole_name",
    "OUTPUT_COLUMNS",
]

# (the columns a blocking key may name are config.KEY_COLUMNS: the config checks a key against them)
OUTPUT_COLUMNS = ("rec_idx", "id", *KEY_COLUMNS)

# ----------------------------------------------------------------------------------------------
# Basic text
# ----------------------------------------------------------------------------------------------

_WS_RE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
_WS_ANY_RE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]")
# hiragana (incl. ゔ ゕ ゖ and the iteration marks ゝ ゞ) -> katakana
_HIRA2KATA = {c: c + 0x60 for c in list(range(0x3041, 0x3097)) + [0x309D, 0x309E]}
_KATA2HIRA = {v: k for k, v in _HIRA2KATA.items()}
_HIRA_RE = re.compile("[\u3041-\u3096\u309d\u309e]")
_KATA_RE = re.compile("[\u30a1-\u30f6\u30fd\u30fe]")


_BMP = list(map(chr, range(0x10000)))  # (built once, copied per table: ~25 ms less at import)


def _bmp_table(mapping: dict[int, str]) -> list[str]:
    """A str.translate table as a list over the whole BMP: a list lookup per character, with no
    KeyError for the characters that stay as they are (dict tables are slow on those)."""
    table = _BMP.copy()
    for k, v in mapping.items():
        table[k] = v
    return table


_HIRA2KATA_T = _bmp_table({k: chr(v) for k, v in _HIRA2KATA.items()})
_KATA2HIRA_T = _bmp_table({k: chr(v) for k, v in _KATA2HIRA.items()})


def _hira2kata(s: str) -> str:
    return s.translate(_HIRA2KATA_T) if _HIRA_RE.search(s) else s


def _kata2hira(s: str) -> str:
    return s.translate(_KATA2HIRA_T) if _KATA_RE.search(s) else s


# Variation selectors (U+FE00-FE0F; the ideographic ones U+E0100-E01EF, IVS) choose a glyph of a
# kanji (辻 with one or two dots, 葛 with its old-style bottom: 辻󠄀 / 葛󠄀) and are kept by NFKC; a
# name typed with one and the same name typed without are the same name. Left in, 葛󠄀飾 read
# kuzushoku against 葛飾 katsushika.
_VARIATION_SELECTOR_RE = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def _nfkc(s: str) -> str:
    t = unicodedata.normalize("NFKC", s)
    return _VARIATION_SELECTOR_RE.sub("", t) if _VARIATION_SELECTOR_RE.search(t) else t


def normalize_text(s: str | None) -> str | None:
    """NFKC (width folding, half-width katakana -> full), casefold, all whitespace removed,
    hiragana -> katakana. Empty -> None."""
    if s is None:
        return None
    t = _hira2kata(_WS_RE.sub("", _nfkc(s).casefold()))
    return t or None


_NAME_PUNCT_RE = re.compile(r"[・·.,、，]+")
# Variant / old-form kanji common in names and company names -> the everyday form (渡邊 / 渡邉 ->
# 渡辺, 髙橋 -> 高橋, 山﨑 -> 山崎, 𠮷田 -> 吉田 ...). NFKC leaves these alone.
_ITAIJI_PAIRS = (
    "髙高 﨑崎 嵜崎 邊辺 邉辺 濱浜 濵浜 德徳 𠮷吉 栁柳 淸清 實実 澤沢 櫻桜 廣広 國国 眞真 惠恵 冨富 "
    "嶋島 嶌島 槇槙 藪薮 壽寿 榮栄 彌弥 豐豊 藏蔵 學学 禮礼 戶戸 靜静 與与 亞亜 傳伝 圓円 縣県 晉晋 "
    "條条 團団 當当 萬万 滿満 凜凛 曻昇 桒桑 瀨瀬 氣気 黑黒 將将 莊荘 靑青 淺浅 會会 聰聡 峯峰 邨村 "
    "淵渕 塚塚 﨔欅 髮髪 顯顕 齒歯 龜亀 驒騨 穗穂 諸諸 齋斎 齊斉 瀧滝 槗橋 鐵鉄 寶宝 寳宝 臺台 驛駅 體体 "
    "醫医 鹽塩 檢検 讀読 狹狭 來来 佛仏 兒児 拔抜 曉暁"
).split() + (
    # Simplified Chinese forms, which are no Japanese name's: an OCR or an input method set for
    # Chinese writes them for the Japanese kanji (渡边 / 渡辺, 铃木 / 鈴木, 长谷川 / 長谷川).
    "边辺 泽沢 滨浜 桥橋 岛島 冈岡 门門 东東 汤湯 广広 杨楊 龙竜 马馬 兰蘭 长長 进進 荣栄 铃鈴 钱銭 "
    "关関 纪紀 红紅 绿緑 陈陳 张張 宫宮 贺賀 间間 泷滝 远遠 达達 伟偉 华華 丽麗 胜勝 树樹 诚誠 刚剛 "
    "义義 亚亜 乔喬 须須 赖頼 丰豊"
).split()
_ITAIJI = {ord(p[0]): p[1] for p in _ITAIJI_PAIRS if p[0] != p[1]}
_ITAIJI_RE = re.compile("[" + "".join(chr(k) for k in _ITAIJI) + "]")


def _fold_itaiji(s: str) -> str:
    return s.translate(_ITAIJI) if _ITAIJI_RE.search(s) else s


# Katakana and kanji that look alike, which a business card's OCR (and a hurried typist) writes for
# one another: ロ / 口, カ / 力, エ / 工, ニ / 二, ハ / 八, タ / 夕, ト / 卜, ー / 一, ナ / 十.
_LOOKALIKE_KANA_KANJI = dict(zip("ロカエニハタトーナ", "口力工二八夕卜一十"))
_LOOKALIKE_KANJI_KANA = {v: k for k, v in _LOOKALIKE_KANA_KANJI.items()}
_LOOKALIKE_RE = re.compile("[" + "".join(_LOOKALIKE_KANA_KANJI) + "".join(_LOOKALIKE_KANJI_KANA) + "]")
#: A value fold_ocr_lookalikes may change (RE2 and Python's re read it alike): kanji and kana
#: together with a look-alike among them; picks the values worth a Python look.
LOOKALIKE_HINT_RE2 = "[\u4e00-\u9fff].*[\u3041-\u3096\u30a1-\u30fc]|[\u3041-\u3096\u30a1-\u30fc].*[\u4e00-\u9fff]"
# katakana a kanji name holds by itself (一ノ瀬, 霞ヶ関, 八ケ岳): neither a sign of a kana name nor read wrong
_KANJI_NAME_KANA = frozenset("ノヶヵケ")


def _is_kanji_char(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff" or ch in "々〆" or ch > "\uffff"


def _is_kana_char(ch: str) -> bool:
    return "\u3041" <= ch <= "\u3096" or "\u30a1" <= ch <= "\u30fa" or ch == "ー"


def fold_ocr_lookalikes(t: str) -> str:
    """A name (NFKC) with the katakana written for a look-alike kanji, or the kanji written for a
    look-alike katakana, put back in the script of the rest of the name: 山ロ -> 山口, エ藤 -> 工藤,
    健ニ -> 健二, 浩ー / 啓ー郎 -> 浩一 / 啓一郎, ハ木 -> 八木; オ力ダ -> オカダ, ヒ口ミ -> ヒロミ, 十カムラ ->
    ナカムラ, マサ八ル -> マサハル. Only where the rest is all of the other script: a kanji name holds no
    other katakana (一ノ瀬 and 霞ヶ関 keep theirs) and the katakana stands alone between kanji (ハナ子,
    ユリ子, トシ子 stay), a kana name holds no other kanji (一 as a given name, 一二三, 力 stay)."""
    if not _LOOKALIKE_RE.search(t):
        return t
    kanji_rest = kana_rest = False
    for ch in t:
        if _is_kanji_char(ch):
            kanji_rest = kanji_rest or ch not in _LOOKALIKE_KANJI_KANA
        elif _is_kana_char(ch):
            kana_rest = kana_rest or (ch not in _LOOKALIKE_KANA_KANJI and ch not in _KANJI_NAME_KANA)
    if kanji_rest == kana_rest:  # both scripts of their own (トシ子), or neither (一, ナナ)
        return t
    out = list(t)
    padded = f" {t} "  # (a space on either end: neither kanji nor kana)
    for i, ch in enumerate(t):
        before, after = padded[i], padded[i + 2]
        if kanji_rest and ch in _LOOKALIKE_KANA_KANJI:
            # a lone katakana among kanji: no kana beside it, a kanji on one side at least
            if not _is_kana_char(before) and not _is_kana_char(after) and (_is_kanji_char(before) or _is_kanji_char(after)):
                out[i] = _LOOKALIKE_KANA_KANJI[ch]
        elif kana_rest and ch in _LOOKALIKE_KANJI_KANA:
            # a lone kanji among kana (hiragana too: it comes out as katakana, which normalize writes)
            if not _is_kanji_char(before) and not _is_kanji_char(after):
                out[i] = _LOOKALIKE_KANJI_KANA[ch]
    return "".join(out)


def normalize_name(s: str | None) -> str | None:
    """A name part in its own script: ``normalize_text`` plus middle dots / periods removed,
    look-alike katakana and kanji put back in the name's script (山ロ -> 山口, オ力ダ -> オカダ:
    fold_ocr_lookalikes) and variant kanji folded (渡邊 / 渡邉 -> 渡辺, 髙 -> 高, 﨑 -> 崎)."""
    t = normalize_text(s)
    if t is None:
        return None
    t = _fold_itaiji(fold_ocr_lookalikes(_NAME_PUNCT_RE.sub("", t)))
    return t or None


_name_norm = lru_cache(maxsize=1 << 18)(normalize_name)

# Around a name, not part of it: an honorific after it (山田 太郎 様, 鈴木様, 総務部御中, 佐藤 さん), a
# job title after it (山田 部長, 佐藤課長: how a colleague is entered by hand), a title before it
# (Mr. John Smith, Dr. 山田) and a note in brackets after it (山田 太郎（ヤマダ タロウ）, 佐藤 花子
# (旧姓 鈴木)). Purchased and event lists and form entries carry them. (さん / さま only apart from
# the name: オサマ is a name. The job titles are words no Japanese name ends with.)
_HONORIFICS = "様|殿|御中"  # right after the name or apart from it
_JOB_TITLES = ("代表取締役社長|代表取締役|取締役|社長|副社長|会長|専務|常務|部長|副部長|次長|課長|係長|"
               "室長|所長|支店長|店長|主任|担当者|ご担当者|担当")  # right after the name or apart from it
_SPACED_HONORIFICS = "さん|さま"  # apart from it only
_TITLES = "mr|mrs|ms|miss|dr|prof"
# ... and the notes an org's users add: a bracketed tag in front (【重要】山田, [退職]佐藤), a ※ remark
# after (山田 ※退職済み), an English generational suffix (John Smith Jr.).
_NAME_NOTE = r"[(（][^()（）]*[)）]\s*$|\s*※.*$|[\s,]+(?i:jr|sr|iii|iv)\.?\s*$"
_NAME_TAG = r"^\s*[【\[［][^】\]］]*[】\]］]\s*"
_NAME_HONORIFIC_RE = re.compile(rf"(?:\s*(?:{_HONORIFICS}|{_JOB_TITLES})|\s+(?:{_SPACED_HONORIFICS}))\s*$")
_NAME_TITLE_RE = re.compile(rf"^\s*(?:{_TITLES})(?:\.\s*|\s+)(?=\S)|{_NAME_TAG}", re.IGNORECASE)
_NAME_NOTE_RE = re.compile(rf"\s*(?:{_NAME_NOTE})")
#: A name value strip_name_extras would change (RE2 and Python's re read it alike): used to
#: pick the values worth a Python call, and by survivorship to rank such names after plain ones.
NAME_EXTRAS_RE2 = (rf"(?:{_HONORIFICS}|{_JOB_TITLES}|\s(?:{_SPACED_HONORIFICS}))\s*$|^\s*(?i:{_TITLES})(?:\.|\s)"
                   rf"|{_NAME_NOTE}|{_NAME_TAG}")


def strip_name_extras(v: str) -> str:
    """A raw name value without an honorific, a title or a note in brackets around it; the value
    itself when nothing else would be left (様 alone is left as it is)."""
    t = v
    for _ in range(3):
        u = _NAME_TITLE_RE.sub("", _NAME_HONORIFIC_RE.sub("", _NAME_NOTE_RE.sub("", t)))
        if u == t or not u.strip():
            break
        t = u
    return t


_PLACEHOLDER_BRACKETS_RE = re.compile(r"[\[\](){}【】「」『』<>〈〉《》]+")
_PLACEHOLDER_EDGE_RE = re.compile(r"^[\"'.,:;!?*#_~・･-]+|[\"'.,:;!?*#_~・･-]+$")
_PLACEHOLDER_HONORIFIC_RE = re.compile(r"(?<=.)(?:様|サマ|殿|各位)$")


def name_placeholder_key(s: str) -> str:
    """How name_placeholders are compared: NFKC, casefolded, hiragana as katakana, brackets and
    the punctuation at either end dropped ([[Unknown]], Ｕｎｋｎｏｗｎ, ご担当者)."""
    return _PLACEHOLDER_EDGE_RE.sub("", _PLACEHOLDER_BRACKETS_RE.sub("", _hira2kata(_nfkc(s).casefold())))


def is_name_placeholder(s: str, keys: set[str] | frozenset[str]) -> bool:
    """Every word of `s` is a placeholder, with or without an honorific after it (不明, 不明 不明,
    Unknown Unknown, ご担当者さま, 担当者 様, 様)."""
    # (a placeholder of several words as a whole first: Web-to-Lead's [not provided])
    whole = name_placeholder_key(" ".join(_nfkc(s).split()))
    if whole and (whole in keys or _PLACEHOLDER_HONORIFIC_RE.sub("", whole) in keys):
        return True
    words = [name_placeholder_key(w) for w in _nfkc(s).split()]
    words = [w for w in words if w]
    return bool(words) and all(w in keys or _PLACEHOLDER_HONORIFIC_RE.sub("", w) in keys for w in words)


def blank_name_placeholders(values: pa.Array, placeholders: Iterable[str]) -> pa.Array:
    """`values` (distinct raw name values) with the placeholders (`is_name_placeholder`), the
    values without a letter of any script (-, ?, ＊, 〇〇) and the companies (a value with a legal
    form: 株式会社北斗精工, ABC Co., Ltd.) made empty (''): they name nobody. Only the values holding a
    placeholder word or a legal form are looked at in Python."""
    keys = frozenset(name_placeholder_key(p) for p in placeholders) - {""}
    blank = pc.invert(pc.fill_null(pc.match_substring_regex(values, r"\pL"), True))
    nfkc = pc.utf8_normalize(values, "NFKC")

    def where(hint: pa.Array, test: Callable[[str], bool]) -> pa.Array:
        """The values `hint` picks that `test` (in Python) confirms, as a mask over `values`."""
        rows = np.flatnonzero(pc.fill_null(hint, False).to_numpy(zero_copy_only=False))
        mask = np.zeros(len(values), dtype=bool)
        if len(rows):
            mask[rows[np.asarray([test(v) for v in values.take(pa.array(rows)).to_pylist()], dtype=bool)]] = True
        return pa.array(mask)

    if keys:
        words = sorted(keys | {_kata2hira(k) for k in keys}, key=len, reverse=True)
        blank = pc.or_(blank, where(pc.match_substring_regex(pc.utf8_lower(nfkc), "|".join(map(re.escape, words))),
                                    lambda v: is_name_placeholder(v, keys)))
    # A company written where the name goes (株式会社北斗精工 as a Lead's Last Name, ABC Co., Ltd.):
    # a legal form says it is no person's name -- two such records at one company agreed exactly.
    blank = pc.or_(blank, where(pc.match_substring_regex(nfkc, _NAME_LEGAL_FORM_HINT, ignore_case=True),
                                lambda v: None not in split_company(v)))
    if not pc.any(blank).as_py():
        return values
    return pc.if_else(blank, pa.scalar("", values.type), values)


# Legal forms a name value may carry when it holds a company (checked with split_company).
_NAME_LEGAL_FORM_HINT = (r"株式会社|有限会社|合同会社|合資会社|合名会社|[(（]\s*[株有]\s*[)）]|㈱|㈲|"
                         r"\b(?:inc|co|corp|ltd|llc|k\.?k)\b\.?")


def clean_name_values(values: pa.Array, placeholders: Iterable[str]) -> pa.Array:
    """Raw name values as normalize reads them: honorifics, titles and notes around them left out,
    placeholders and companies written as names empty -- the placeholders looked for before the
    honorifics come off (ゴ担当者 would leave ゴ) and after (ご担当者様)."""
    return blank_name_placeholders(strip_name_extras_array(blank_name_placeholders(values, placeholders)), placeholders)


def strip_name_extras_array(values: pa.Array) -> pa.Array:
    """strip_name_extras over a string array (only the values that carry something are looked at
    in Python)."""
    hint = pc.fill_null(pc.match_substring_regex(values, NAME_EXTRAS_RE2), False)
    rows = np.flatnonzero(hint.to_numpy(zero_copy_only=False))
    if not len(rows):
        return values
    cleaned = [strip_name_extras(v) for v in values.take(pa.array(rows)).to_pylist()]
    mask = np.zeros(len(values), dtype=bool)
    mask[rows] = True
    return pc.replace_with_mask(values, pa.array(mask), pa.array(cleaned, values.type))


def _collapse_text(s: str | None, casefold: bool) -> str | None:
    """NFKC, optionally casefolded, whitespace collapsed to one space and trimmed."""
    if s is None:
        return None
    t = _nfkc(s)
    if casefold:
        t = t.casefold()
    t = _WS_RE.sub(" ", t).strip()
    return t or None


# ----------------------------------------------------------------------------------------------
# Regex steps shared by Python and DuckDB (RE2)
# ----------------------------------------------------------------------------------------------
# A step is (pattern, template, global, guards). Patterns use only what Python's re and RE2 read
# the same way (no lookaround, no \s or \d, literal characters instead of \u escapes); a
# template may use \1..\9. A step runs only when one of its guards holds ("x": contains x,
# "$x": ends with x) -- guards are necessary conditions, so they change speed, not results.
# Python runs the steps with re (the reference); the stage runs the same steps in SQL.

_GROUP_REF_RE = re.compile(r"\\([1-9])")


def _template_fn(template: str) -> Callable[[re.Match], str] | str:
    """A fast re.sub replacement for a \\N template (string templates are re-expanded on every
    match by Python's re)."""
    parts = _GROUP_REF_RE.split(template)
    if len(parts) == 1:
        return template
    lits = parts[0::2]
    groups = [int(g) for g in parts[1::2]]

    def fn(m: re.Match) -> str:
        out = [lits[0]]
        for g, lit in zip(groups, lits[1:]):
            out.append(m.group(g) or "")
            out.append(lit)
        return "".join(out)

    return fn


class _Steps:
    """Regex steps; a pattern starting with '=' is a literal (every occurrence replaced)."""

    def __init__(self, steps: Sequence[tuple[str, str, bool, tuple[str, ...]]]) -> None:
        self.steps = tuple(steps)
        self._py = []
        for pat, tmpl, glob, guards in self.steps:
            contains = tuple(g for g in guards if not g.startswith("$"))
            ends = tuple(g[1:] for g in guards if g.startswith("$"))
            if pat.startswith("="):
                self._py.append((pat[1:], tmpl, -1, True, (pat[1:],), ()))
            else:
                self._py.append((re.compile(pat), _template_fn(tmpl), 0 if glob else 1, bool(guards), contains, ends))

    def apply(self, t: str) -> str:
        for rx, fn, count, guarded, contains, ends in self._py:
            if guarded and not (any(g in t for g in contains) or (ends and t.endswith(ends))):
                continue
            t = t.replace(rx, fn) if count < 0 else rx.sub(fn, t, count=count)
        return t

    def sql(self, query: str, col: str) -> str:
        """Wrap ``query`` (a SELECT with column ``col``) in one subquery level per step."""
        for pat, tmpl, glob, guards in self.steps:
            if pat.startswith("="):
                pat, guards = pat[1:], (pat[1:],)
                rep = f"replace({col}, {_lit(pat)}, {_lit(tmpl)})"
            else:
                rep = f"regexp_replace({col}, {_lit(pat)}, {_lit(tmpl)}{', ' + _lit('g') if glob else ''})"
            if guards:
                cond = " OR ".join(
                    f"suffix({col}, {_lit(g[1:])})" if g.startswith("$") else f"contains({col}, {_lit(g)})"
                    for g in guards
                )
                rep = f"CASE WHEN {cond} THEN {rep} ELSE {col} END"
            query = f"SELECT * REPLACE ({rep} AS {col}) FROM ({query})"
        return query


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# ----------------------------------------------------------------------------------------------
# Romaji keys
# ----------------------------------------------------------------------------------------------

_KANA = {}
for _row in (
    "あa いi うu えe おo かka きki くku けke こko さsa しshi すsu せse そso たta ちchi つtsu てte "
    "とto なna にni ぬnu ねne のno はha ひhi ふfu へhe ほho まma みmi むmu めme もmo やya ゆyu よyo "
    "らra りri るru れre ろro わwa ゐi ゑe をo んn がga ぎgi ぐgu げge ごgo ざza じji ずzu ぜze ぞzo "
    "だda ぢji づzu でde どdo ばba びbi ぶbu べbe ぼbo ぱpa ぴpi ぷpu ぺpe ぽpo ゔvu "
    "ぁa ぃi ぅu ぇe ぉo ゃya ゅyu ょyo ゎwa ゕka ゖke"
).split():
    _KANA[_row[0]] = _row[1:]
_SMALL_Y = "ゃゅょ"
_SMALL_V = "ぁぃぅぇぉ"
# katakana-only letters
_KATA_EXTRA = str.maketrans({"ヷ": "ゔぁ", "ヸ": "ゔぃ", "ヹ": "ゔぇ", "ヺ": "ゔぉ", "ヽ": "ゝ", "ヾ": "ゞ"})
_KATA_EXTRA_RE = re.compile("[ヷヸヹヺヽヾ]")


def _kana_to_romaji_slow(h: str) -> str:
    """Reference transliteration (used to build the lookup table below): hiragana -> Hepburn;
    っ is kept as a marker, other characters pass through."""
    out: list[str] = []
    i, n = 0, len(h)
    while i < n:
        c = h[i]
        r = _KANA.get(c)
        if r is None:
            out.append(c)
            i += 1
            continue
        nxt = h[i + 1] if i + 1 < n else ""
        if nxt and nxt in _SMALL_Y and len(r) > 1 and r.endswith("i"):
            v = _KANA[nxt][1]
            r = r[:-1] + v if r in ("shi", "chi", "ji") else r[:-1] + "y" + v
            i += 1
        elif nxt and nxt in _SMALL_V and c not in _SMALL_V:
            v = _KANA[nxt]
            if r == "u":
                r = "w" + v
            elif len(r) > 1:
                r = r[:-1] + v
            else:
                r = r + v
            i += 1
        out.append(r)
        i += 1
    return "".join(out)


_KANA_PAIRS = {a + b: _kana_to_romaji_slow(a + b) for a in _KANA for b in _SMALL_Y + _SMALL_V}
_SOKUON_RE = re.compile("っ+(ch|[bcdfghjkmpqrstvwxyz])?")


def _sokuon(m: re.Match) -> str:
    c = m.group(1)
    if not c:
        return ""
    return "t" + c if c == "ch" else c + c


_KANA_T = _bmp_table({ord(k): v for k, v in _KANA.items()})
_KANA_PAIR_RE = re.compile("[\u3041-\u3062\u3064-\u3096][ゃゅょぁぃぅぇぉ]")


def _kana_pair(m: re.Match) -> str:
    return _KANA_PAIRS[m.group(0)]


def _kana_to_romaji(h: str) -> str:
    """Hiragana (other characters pass through) -> Hepburn romaji. ー and ゝ are left for the
    caller to drop (long vowels are folded anyway); っ doubles the next consonant."""
    if _KANA_PAIR_RE.search(h):
        h = _KANA_PAIR_RE.sub(_kana_pair, h)
    r = h.translate(_KANA_T)
    return _SOKUON_RE.sub(_sokuon, r) if "っ" in r else r


_GC_LOCK = threading.Lock()
_GC_PAUSES = 0
_GC_RESUME = False


@contextmanager
def _gc_paused():
    """Cyclic garbage collection off while the block runs (the stage and the dictionary load
    build hundreds of thousands of acyclic objects: every collection would walk them again).
    Nests and may be held by several threads at once: collection resumes when the last holder
    leaves, if it was enabled when the first one came in."""
    global _GC_PAUSES, _GC_RESUME
    with _GC_LOCK:
        if _GC_PAUSES == 0:
            _GC_RESUME = gc.isenabled()
            gc.disable()
        _GC_PAUSES += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES -= 1
            if _GC_PAUSES == 0 and _GC_RESUME:
                gc.enable()


class _KanjiReader:
    """Kanji -> hiragana with pykakasi's dictionary (longest match, pykakasi's first reading),
    but indexed by key length, so a lookup costs a few dict probes instead of a scan of every
    word starting with that kanji (pykakasi's own ``convert`` takes ~80 us per short name)."""

    def __init__(self) -> None:
        self._table = None
        self._itaiji: dict = {}
        self._index: dict[int, tuple[tuple[int, ...], dict[str, str]]] = {}
        self._lock = threading.Lock()
        self._fallback = None
        self._kanji_re = re.compile("[\\u3400-\\udfff]")

    def load(self) -> None:
        """Load pykakasi's dictionary (idempotent, thread-safe)."""
        with self._lock:
            if self._table is None:
                with _gc_paused():  # the pickle (first run) holds ~570k objects: collections during its load cost ~0.3 s
                    self._load()
                    # They live as long as the process and hold no cycles: keep every later
                    # collection from walking them again (gc.freeze moves what is tracked now
                    # to the permanent generation).
                    gc.freeze()

    def _load(self) -> None:
        try:
            from pykakasi.kanji import Itaiji

            from nayose.kanji_dictionary import install

            self._table = install()
            self._itaiji = Itaiji()._itaijidict
            extra = "".join(re.escape(chr(k)) for k in self._itaiji if not 0x3400 <= k < 0xE000)
            self._kanji_re = re.compile(f"[\\u3400-\\udfff{extra}]")
        except Exception:  # pragma: no cover - pykakasi internals changed: use its public API
            import pykakasi

            self._table = {}
            self._fallback = pykakasi.kakasi()

    def _entry(self, cp: int):
        e = self._index.get(cp)
        if e is None:
            tb = self._table.get(cp) if self._table else None
            d: dict[str, str] = {}
            if tb:
                for k, v in tb.items():
                    for yomi, con in v:
                        if con is None:
                            d[k] = yomi
                            break
            e = (tuple(sorted({len(k) for k in d}, reverse=True)), d)
            self._index[cp] = e
        return e

    def to_hiragana(self, text: str) -> str:
        if self._table is None:
            self.load()
        if self._fallback is not None:  # pragma: no cover
            return "".join(x["hira"] for x in self._fallback.convert(text))
        search = self._kanji_re.search
        if search(text) is None:
            return text
        t = text.translate(self._itaiji)
        out: list[str] = []
        i, n = 0, len(t)
        while i < n:
            m = search(t, i)
            if m is None:
                out.append(t[i:])
                break
            j = m.start()
            if j > i:
                out.append(t[i:j])
            lengths, d = self._entry(ord(t[j]))
            i = j + 1  # unknown kanji: dropped (as pykakasi does)
            for ln in lengths:
                if ln <= n - j:
                    y = d.get(t[j : j + ln])
                    if y is not None:
                        out.append(y)
                        i = j + ln
                        break
        return "".join(out)


_KANJI = _KanjiReader()

# Hepburn/Kunrei unification and long-vowel folding, applied to romaji of Japanese origin (and to
# latin tokens that parse as romaji).
_HEPBURN = {"sy": "sh", "ty": "ch", "zy": "j", "jy": "j", "dy": "j", "si": "shi", "ti": "chi",
            "tu": "tsu", "hu": "fu", "zi": "ji", "di": "ji", "du": "zu", "cch": "tch"}
_FOLD_HEPBURN_RE = re.compile(r"cch|sy|ty|[zjd]y|si|ti|tu|(?<![sc])hu|[zd]i|du|m(?=[bmp])")
_FOLD_LONG_RE = re.compile(r"(?<=[aiueo])h(?![aiueoy])|o[ou]+|([aeiu])\1+")


def _fold_hepburn(m: re.Match) -> str:
    k = m.group(0)
    return "n" if k == "m" else _HEPBURN[k]


def _fold_long(m: re.Match) -> str:
    k = m.group(0)
    return "" if k == "h" else k[0]


_ROMAJI_TOKEN_RE = re.compile(
    r"(?:[aiueo]"
    r"|(?:sh|ch|ts)[aiueo]"
    r"|[kgnhbpmrsztdj]y[aueo]"
    r"|[kgsztdnhbpmyrwfjv][aiueo]"
    r"|n"
    r"|m(?=[bmp])"
    r"|([kgsztdhbpmrfjc])(?=\1)"
    r"|t(?=ch)"
    r"|(?<=[aiueo])h(?![aiueoy])"
    r")+"
)
_JA_CHAR_RE = re.compile(r"[\u3041-\u30ff\u3400-\u9fff\uf900-\ufaff\u3005\u3006\U00020000-\U0003134f]")
_JA_RUN_RE = re.compile(r"([\u3041-\u30ff\u3400-\u9fff\uf900-\ufaff\u3005\u3006\U00020000-\U0003134f]+)")
_ALPHA_RE = re.compile(r"[a-z]+")
_ALNUM_RE = re.compile(r"[a-z]+|[0-9]+")
_CONS_Y_END_RE = re.compile(r"(?<=[^aeiou])y$")


def _fold(r: str) -> str:
    """Kunrei/Nihon-shiki -> Hepburn (si->shi, ti->chi, tu->tsu, hu->fu, zi/di->ji, du->zu,
    sya->sha, tya->cha, zya->ja), m before b/m/p -> n, then long vowels folded (oh/ou/oo -> o,
    doubled vowels -> one)."""
    return _FOLD_LONG_RE.sub(_fold_long, _FOLD_HEPBURN_RE.sub(_fold_hepburn, r))


def _ascii_fold(s: str) -> str:
    if s.isascii():
        return s
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")


def _latin_key(s: str, digits: bool, company: bool) -> str:
    out = []
    for tok in (_ALNUM_RE if digits else _ALPHA_RE).findall(_ascii_fold(s)):
        if tok[0].isdigit():
            out.append(tok)
        elif _ROMAJI_TOKEN_RE.fullmatch(tok):
            out.append(_fold(tok))
        elif company:
            out.append(_CONS_Y_END_RE.sub("i", tok))  # Sony ~ ソニー
        else:
            out.append(tok)
    return "".join(out)


def _japanese_key(run: str, digits: bool) -> str:
    if _KATA_EXTRA_RE.search(run):
        run = run.translate(_KATA_EXTRA)
    rom = _kana_to_romaji(_KANJI.to_hiragana(_kata2hira(run)))
    if not rom.isascii():
        rom = _ascii_fold(rom)
    # ヴ is written ブ as often (ヴィーナス / ビーナス, ヴィクトリア / ビクトリア): one reading. (In a
    # reading of Japanese script a v comes from ヴ alone.)
    if "v" in rom:
        rom = rom.replace("v", "b")
    return _fold("".join((_ALNUM_RE if digits else _ALPHA_RE).findall(rom)))


def _romaji_key(s: str, digits: bool, company: bool) -> str | None:
    t = _fold_itaiji(_nfkc(s).casefold())
    if not _JA_CHAR_RE.search(t):
        k = _latin_key(t, digits, company)
        return k or None
    parts = []
    for i, seg in enumerate(_JA_RUN_RE.split(t)):
        if not seg:
            continue
        parts.append(_japanese_key(seg, digits) if i % 2 else _latin_key(seg, digits, company))
    k = "".join(parts)
    return k or None


def romaji_key(s: str | None) -> str | None:
    """Romaji key for cross-script comparison: kanji read with pykakasi's dictionary, kana
    transliterated, latin kept; lowercase a-z only; Hepburn/Kunrei unified (si->shi, ti->chi,
    tu->tsu, hu->fu, zi->ji, sya->sha...), m before b/m/p -> n, long vowels folded (ou/oo/oh ->
    o, uu -> u, doubled vowels; "ei" kept). Latin tokens are folded only when they parse as
    romaji, so English names (Smith, Martin) stay as written. 佐藤/サトウ/さとう/Sato/Satou/
    Satoh/ｻﾄｳ -> 'sato'."""
    if s is None:
        return None
    return _name_reading(s)


@lru_cache(maxsize=1 << 18)
def _name_reading(s: str) -> str | None:
    # (look-alikes put back first: 山ロ reads yamaguchi, オ力ダ okada, as their normalized names)
    return _romaji_key(fold_ocr_lookalikes(_nfkc(s)), False, False)


@lru_cache(maxsize=1 << 16)
def _company_reading(s: str) -> str | None:
    return _romaji_key(s, True, True)


_KANA_NAME_RE = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc\u309d\u309e\u30fd\u30fe ・]+")
_KANA_LENGTH_RE = re.compile(r"o[ou]+|([aeiu])\1+|(?<=[aeiou])ー+")


def _kana_length_mark(m: re.Match) -> str:
    k = m.group(0)
    return ":" if k[0] == "ー" else k[0] + ":"


@lru_cache(maxsize=1 << 16)
def kana_length_key(name: str | None) -> str | None:
    """A name written in kana alone, read with its long vowels marked instead of folded: ユウキ and
    ユーキ -> yu:ki, ユキ -> yuki; オオノ / オーノ -> o:no, オノ -> ono. Kana write a vowel's length
    out, so two kana names that differ in it are two names (ユキ / ユウキ), while romaji leave it
    unsaid (Ono / Ohno / Ōno: what `romaji_key` folds). None for a name not all in kana."""
    if not name:
        return None
    t = _nfkc(name)
    if not _KANA_NAME_RE.fullmatch(t):
        return None
    t = t.replace(" ", "").replace("・", "")
    if _KATA_EXTRA_RE.search(t):
        t = t.translate(_KATA_EXTRA)
    rom = _FOLD_HEPBURN_RE.sub(_fold_hepburn, _kana_to_romaji(_kata2hira(t)))
    return _KANA_LENGTH_RE.sub(_kana_length_mark, rom) or None


NAME_READINGS_MAX = 256  # readings kept per name written in kanji (they multiply character by character)


_DEVOICE = str.maketrans("gzdbpj", "kstthc")


@lru_cache(maxsize=1 << 16)
def name_readings(written: str, surname: bool = False) -> frozenset[str]:
    """The readings a name written in kanji is compared under (scoring: a kana or romaji name
    agreeing with one of them is the same name). A given name: every composition
    (`possible_readings`; given names are read freely: 愛美 aimi / manami / emi). A surname the
    dictionary knows whole reads as the dictionary says, give or take the voicing of a sound
    (菅沢 sugasawa / sugazawa, 村方 murakata / muragata): composing it character by character adds
    readings nobody gives it, under which another common surname agrees with it (中田 "uchida" is
    内田's, 松下 "matsumoto" 松本's, 高橋 "kobashi" 小橋's). Other surnames: every composition."""
    if not written:
        return frozenset()
    every = possible_readings(written)
    if not surname:
        return every
    from pykakasi.kanji import Itaiji, Kanwa

    text = Itaiji().convert(written)
    whole = {k for k in (romaji_key(y) for y, tail in (Kanwa().load(text[0]) or {}).get(text, ()) if tail is None) if k}
    if not whole:
        return every
    sounds = {w.translate(_DEVOICE) for w in whole}
    return frozenset(whole | {r for r in every if r.translate(_DEVOICE) in sounds})


@lru_cache(maxsize=1 << 16)
def possible_readings(written: str) -> frozenset[str]:
    """Every reading pykakasi's dictionary gives a name written in kanji, as romaji keys (as
    `romaji_key` writes them: each word read, joined, long vowels folded): each
    word or kanji may read several ways (根本 konpon / nemoto, 陽菜 haruna / hina, 直 choku / nao
    ...), where the reading normalize guessed is one. Kana in the name read as themselves; at most
    NAME_READINGS_MAX; empty when a character has no reading in the dictionary."""
    from pykakasi.kanji import Itaiji, Kanwa

    if not written:
        return frozenset()
    text = Itaiji().convert(written)
    kanwa = Kanwa()
    last = len(text) - 1
    partial: dict[int, list[str]] = {0: [""]}  # readings (romaji) of text[:i]
    for i, ch in enumerate(text):
        heads = partial.get(i)
        if not heads:
            continue

        def extend(j: int, kana: str) -> None:
            rom = romaji_key(kana) or ""
            got = partial.setdefault(j, [])
            for h in heads:
                if len(got) >= NAME_READINGS_MAX:
                    return
                got.append(h + rom)

        if "\u3041" <= ch <= "\u30f6" or ch == "ー":
            extend(i + 1, ch)
        else:
            table = kanwa.load(ch) or {}
            for j in range(i + 1, len(text) + 1):  # the dictionary's words at i: prefixes of the rest
                for yomi, tail in table.get(text[i:j], ()):
                    # (a name's final 子 reads ko: 稔子 is toshiko, never "toshishi" / "minoruji")
                    if tail is None and not (i == last > 0 and ch == "子" and yomi != "こ"):
                        extend(j, yomi)
    readings = list(dict.fromkeys(partial.get(len(text), [])))
    if not readings:
        return frozenset()
    # (folded in one call: the readings are a-z only and no fold rule reaches across the '|', which
    # acts as the start and the end of a string do)
    return frozenset(k for k in _fold("|".join(readings)).split("|") if k)


def company_reading(core: str | None) -> str | None:
    """Romaji key of a company core (digits kept; a final consonant+y is read as i: Sony ~
    ソニー), English business words read as Japanese (COMPANY_WORDS_EN, given the core with its
    spaces: 'sagami real estate' -> sagamifudosan). What the stage stores, and what the company's
    sound is made from: a katakana name with its business words in kanji (クリエイト設備テクノロジー)
    then sounds like its English name (Create Facility Technology). Best effort."""
    if core is None:
        return None
    return _company_reading_en(core)


# A Japanese company's English name (on the back of its business cards, in an English web form,
# in a purchased list) translates its business words and keeps its proper name in romaji:
# 相模不動産 / Sagami Real Estate, みらい保険サービス / Mirai Insurance Services, 極東産業電子 / Far
# East Industrial Electronics. An English core's reading reads those words as the Japanese word
# they usually translate (the rest stays as written), so the two readings agree. One Japanese
# word per English word: where usage varies (industries: 産業 or 工業) the usual one is taken,
# and the other spelling is simply not found. Katakana loanwords (services / サービス) are listed
# for names that mix a proper name with them; a name all in katakana is compared by its sound.
COMPANY_WORDS_EN: dict[str, str] = {
    "real estate": "不動産", "realty": "不動産", "electric power": "電力", "electric": "電気", "electrical": "電気",
    "electronics": "電子", "electronic": "電子", "heavy industries": "重工業", "industries": "産業", "industry": "産業",
    "industrial": "産業", "manufacturing": "製作所", "trading": "商事", "life insurance": "生命保険", "insurance": "保険",
    "securities": "証券", "bank": "銀行", "trust": "信託", "investment": "投資", "leasing": "リース", "lease": "リース",
    "services": "サービス", "service": "サービス", "consulting": "コンサルティング", "systems": "システムズ", "system": "システム",
    "technology": "テクノロジー", "technologies": "テクノロジーズ", "engineering": "エンジニアリング",
    "solutions": "ソリューションズ", "solution": "ソリューション", "software": "ソフトウェア", "network": "ネットワーク",
    "networks": "ネットワークス", "telecommunications": "通信", "communications": "通信", "communication": "通信",
    "telecom": "テレコム", "pharmaceuticals": "薬品", "pharmaceutical": "薬品", "pharma": "ファーマ", "chemicals": "化学",
    "chemical": "化学", "foods": "食品", "food": "食品", "printing": "印刷", "construction": "建設", "builders": "工務店",
    "transportation": "運輸", "transport": "運輸", "logistics": "物流", "shipping": "海運", "machinery": "機械",
    "motors": "自動車", "motor": "自動車", "paper": "製紙", "travel": "トラベル", "tourism": "観光", "development": "開発",
    "planning": "企画", "design": "設計", "international": "国際", "research institute": "研究所", "laboratories": "研究所",
    "laboratory": "研究所", "labs": "ラボ", "lab": "ラボ", "education": "教育", "medical": "医療", "healthcare": "ヘルスケア",
    "health care": "ヘルスケア", "environmental": "環境", "environment": "環境", "information": "情報", "housing": "ハウジング",
    "security": "セキュリティ", "precision": "精密", "instruments": "計器", "facilities": "設備", "facility": "設備",
    "brewery": "酒造", "brewing": "酒造", "fisheries": "水産", "marine products": "水産", "textiles": "繊維",
    "textile": "繊維", "metals": "金属", "metal": "金属", "mining": "鉱業", "railway": "鉄道", "airlines": "航空",
    "hotels": "ホテル", "hotel": "ホテル", "store": "ストア", "transit": "交通", "holdings": "ホールディングス", "partners": "パートナーズ",
    "associates": "アソシエイツ", "general": "総合", "far east": "極東", "publishing": "出版", "broadcasting": "放送",
    "advertising": "広告", "human resources": "人材", "staffing": "人材",
}
_COMPANY_WORDS_EN_RE = re.compile(
    r"(?<![a-z0-9])("
    + "|".join(r"[\s-]+".join(map(re.escape, w.split())) for w in sorted(COMPANY_WORDS_EN, key=len, reverse=True))
    + r")(?![a-z0-9])"
)


def company_words_read_as_japanese(spaced_core: str) -> str:
    """The English business words of a (casefolded, spaced) company core replaced by the Japanese
    words they translate (COMPANY_WORDS_EN): 'sagami real estate' -> 'sagami 不動産'."""
    return _COMPANY_WORDS_EN_RE.sub(lambda m: f" {COMPANY_WORDS_EN[' '.join(m.group(1).replace('-', ' ').split())]} ",
                                    spaced_core)


@lru_cache(maxsize=1 << 16)
def _company_reading_en(s: str) -> str | None:
    return _company_reading(company_words_read_as_japanese(s))


# ----------------------------------------------------------------------------------------------
# Foreign names: katakana against Latin letters
# ----------------------------------------------------------------------------------------------

# A foreign name is written in Latin letters by one source and in katakana by another (Steven
# Wilson / スティーブン・ウィルソン, Rogers / ロジャース): no romaji reading makes "rojasu" equal
# "rogers". Both are reduced to the consonants heard, in coarse classes: vowels, h, y and the
# vowels katakana adds after a consonant dropped; b = v; l = r, and an r / l before a consonant or
# at the end dropped (Mark / マーク, Wilson / ウィルソン: English drops it, katakana adds ル);
# s = z = sh = a medial th; soft c = s, hard c = k = q, soft g = j; doubled consonants once.
# Used only to compare a katakana name with a Latin one (never two names in one script).
_KATA_ONLY_RE = re.compile(r"^[\u30a1-\u30fa\u30fc\u30fb\u30fd\u30fe・ ]+$")
_LATIN_ONLY_RE = re.compile(r"^[a-z][a-z' .-]*$")
_EN_SOUND = (
    (re.compile(r"([a-z])\1+"), r"\1"),  # Matthew, Scott
    (re.compile(r"dge?"), "j"),  # Bridge / ブリッジ
    (re.compile(r"c(?=[eiy])"), "s"),
    (re.compile(r"(?<!^)g(?=[eiy])|^g(?=e)"), "j"),  # George, Rogers (Gibson stays hard)
    (re.compile(r"(?<=.)e$"), ""),  # final silent e (Mike, Michelle)
    (re.compile(r"(?<=.)gh"), ""),  # Leigh, Hugh
    (re.compile(r"^wh"), "w"),
    (re.compile(r"ph"), "f"),
    (re.compile(r"sch"), "s"),
    (re.compile(r"tch"), "C"),
    (re.compile(r"ch(?=[rl])"), "k"),  # Christopher
    # ch heard as k (Michael, Nicholas, Zachary: マイケル, ニコラス, ザカリー) and as sh (Michelle)
    (re.compile(r"(?<=[aeiouy])ch(?=ael|ol|ary)"), "k"),
    (re.compile(r"(?<=i)ch(?=el)"), "s"),
    (re.compile(r"ch"), "C"),
    (re.compile(r"^th"), "t"),  # Thomas
    (re.compile(r"th|sh"), "s"),  # Smith, Matthew, Elizabeth
    (re.compile(r"ck|q"), "k"),
    (re.compile(r"x"), "ks"),
    (re.compile(r"mpb"), "mb"),
    (re.compile(r"m(?=[bp])"), "n"),  # Campbell / キャンベル
    (re.compile(r"(?<=[aeiou])w(?![aeiou])"), ""),  # Andrew
    (re.compile(r"(?<=[aeiouy])[rl]+(?![aeiouy])"), ""),  # Mark, Wilson, Peter, Paul
)
_KANA_SOUND = (
    (re.compile(r"(?<=[aeiou])r[uo](?![aeiou])"), ""),  # マーク has none, ウィルソン's ル is an r / l before a consonant
    (re.compile(r"(?<=[aeiou])r[uo]$"), ""),
    (re.compile(r"t?ch"), "C"),
    (re.compile(r"sh"), "s"),
    (re.compile(r"fu"), "f"),
)
_SOUND_CLASS = str.maketrans({"v": "b", "l": "r", "z": "s", "c": "k", "q": "k", "x": "k", "d": "t", "g": "k"})
_DROP_RE = re.compile(r"[aeiouyhw'\s.\-]")
_REPEAT_RE = re.compile(r"(.)\1+")


def _sound_consonants(s: str) -> str:
    s = _DROP_RE.sub("", s.translate(_SOUND_CLASS))
    return _REPEAT_RE.sub(r"\1", s)


@lru_cache(maxsize=1 << 16)
def foreign_name_sound(written: str | None) -> str | None:
    """The consonant skeleton of a foreign name written in katakana or in Latin letters (as
    normalize_name leaves it: NFKC, lower case), or None for any other writing. スティーブン and
    Steven -> 'stbn', ロジャース and Rogers -> 'rjs'. Only for a katakana name against a Latin
    one: two skeletons equal there are the same name heard and written down twice."""
    if not written:
        return None
    t = written.casefold()
    if _KATA_ONLY_RE.match(written):
        r = _kana_to_romaji(_kata2hira(written.replace("・", "").replace(" ", ""))).replace("ー", "")
        if not r.isascii():
            return None
        for rx, rep in _KANA_SOUND:
            r = rx.sub(rep, r)
    elif _LATIN_ONLY_RE.match(t):
        r = t
        for rx, rep in _EN_SOUND:
            r = rx.sub(rep, r)
    else:
        return None
    # t and d stay apart from s; the voicing of t / d and k / g is often lost in katakana
    # (Edward / エドワード keeps it, but a business card's OCR does not), so they are one class.
    out = _sound_consonants(r)
    return out or None


_LOAN_KANA_RE = re.compile("[ァィゥェォヴ]")
# Letters and clusters romaji has no use for: l, q, v, x, c not in ch, th / ph / gh, r or w before a
# consonant (Anderson, Brown), an English initial cluster (Green, Bryan, Smith, White), a final
# consonant other than n.
_FOREIGN_LATIN_RE = re.compile(
    r"[lqvx]|c(?!h)|th|ph|gh|r(?![aiueoy])|w(?![aiueo])|^(?:[bdfgpt]r|s[cknmptw]|[dt]w|wh|wr|kn)|[bcdfgkmprstvz]$")


def foreign_name_script(written: str | None) -> int:
    """How a name is written, for foreign_name_sound: 0 neither katakana nor Latin letters only;
    1 katakana as a Japanese name is (サトウ), 3 katakana with the small vowels or ヴ only loanwords
    have (スティーブン); 2 Latin letters that read as romaji (Sato), 4 ones that do not (Rogers)."""
    if not written:
        return 0
    if _KATA_ONLY_RE.match(written):
        return 3 if _LOAN_KANA_RE.search(written) else 1
    t = written.casefold()
    if not _LATIN_ONLY_RE.match(t):
        return 0
    toks = _ALPHA_RE.findall(_ascii_fold(t))
    # Clearly not romaji (_FOREIGN_LATIN_RE): Rogers, Smith, Mark, Brown, Green, Anderson. A typo
    # in a romaji name (Kwamura) is not read as a foreign name.
    return 4 if toks and any(_FOREIGN_LATIN_RE.search(x) for x in toks) else 2


def foreign_sound_agrees(a_script: int, b_script: int) -> bool:
    """Whether two names written as `a_script` / `b_script` (foreign_name_script) may be compared
    by their sounds: one katakana, one Latin, and one of them clearly foreign. Two Japanese names
    (Sato / セト) keep their readings: their vowels tell them apart."""
    kata, latin = {1, 3}, {2, 4}
    cross = (a_script in kata and b_script in latin) or (a_script in latin and b_script in kata)
    return cross and (a_script >= 3 or b_script >= 3)


_LATIN_CORE_RE = re.compile(r"^[a-z0-9 &'.-]+$")
COMPANY_SOUND_MIN = 4  # consonants a company's sound needs to be compared


@lru_cache(maxsize=1 << 16)
def company_sound(core: str | None, reading: str | None) -> str | None:
    """A company name's consonants heard (its romaji reading read as English: Next Associates and
    ネクストアソシエイツ -> 'nkststs'), marked 'L' when the core is written in Latin letters and 'J'
    when not, so that only a Latin name and a Japanese one are compared by sound (never two
    names in one script: their letters are there to compare). None when shorter than
    COMPANY_SOUND_MIN consonants."""
    if not core or not reading:
        return None
    r = reading
    for rx, rep in _EN_SOUND:
        r = rx.sub(rep, r)
    k = _sound_consonants(r)
    if len(k) < COMPANY_SOUND_MIN:
        return None
    return ("L" if _LATIN_CORE_RE.match(core) else "J") + k


# ----------------------------------------------------------------------------------------------
# Names
# ----------------------------------------------------------------------------------------------


def _is_japanese(s: str) -> bool:
    return bool(_JA_CHAR_RE.search(s))


def split_whole_name(
    whole: str,
    known_last: Iterable[str] | set[str] = (),
    known_last_readings: Iterable[str] | set[str] = (),
    known_first_readings: Iterable[str] | set[str] = (),
) -> tuple[str | None, str | None, str]:
    """Split a whole name held in one field. Returns (last_raw, first_raw, how) with how in
    {'space', 'comma', 'dot', 'learned', 'unsplit'}.

    * With a comma: "Yamada, Taro" -> surname before the comma.
    * With the middle dot and no space: a foreign name in katakana, given name first
      (ルーカス・ブラウン -> surname ブラウン).
    * With spaces: Japanese script -> surname first; latin -> given name first, except when
      exactly one token is ALL CAPS (YAMADA Taro) or when the surnames / given names learned
      from the same table say otherwise.
    * Without a space, Japanese script: the longest known surname (normalized form) that is a
      proper prefix; the whole value is kept when it is itself a known surname. Katakana alone
      with no known surname in front: the longest known surname it ends with (a foreign name,
      given name first: ルーカスブラウン), else the longest front part read as a known surname with
      the rest read as a known given name (キクジロフユミ where 菊城 reads kikujiro and 冬美 fuyumi).
    * Otherwise unsplit.
    """
    kl = known_last if isinstance(known_last, set) else set(known_last)
    klr = known_last_readings if isinstance(known_last_readings, set) else set(known_last_readings)
    kfr = known_first_readings if isinstance(known_first_readings, set) else set(known_first_readings)
    return _split_whole(whole, kl, klr, kfr)


def _split_whole(whole: str, kl: set, klr: set, kfr: set) -> tuple[str | None, str | None, str]:
    t = _nfkc(whole)
    if _WS_ANY_RE.search(t):
        t = _WS_RE.sub(" ", t).strip()
        if not t:
            return None, None, "unsplit"
    if "," in t:
        a, _, b = t.partition(",")
        a, b = a.strip(), b.strip()
        if a and b:
            return a, b, "comma"
    if "・" in t and " " not in t and _KATA_ONLY_RE.match(t):
        # A foreign name in katakana, its parts joined by the middle dot, given name first as
        # Japanese writes them (ルーカス・ブラウン: Lucas Brown).
        toks = [x for x in t.split("・") if x]
        if len(toks) >= 2:
            return toks[-1], " ".join(toks[:-1]), "dot"
    if " " in t:
        toks = t.split(" ")
        r0, r1 = _name_reading(toks[0]), _name_reading(toks[-1])
        surname_first = (r0 in klr) + (r1 in kfr)
        surname_last = (r1 in klr) + (r0 in kfr)
        if surname_first != surname_last:
            first_is_last = surname_first > surname_last
        elif _JA_CHAR_RE.search(t):
            first_is_last = True
        else:
            first_is_last = len(toks[0]) > 1 and toks[0].isupper() and not (len(toks[-1]) > 1 and toks[-1].isupper())
        if first_is_last:
            return toks[0], " ".join(toks[1:]), "space"
        return toks[-1], " ".join(toks[:-1]), "space"
    if kl and _JA_CHAR_RE.search(t):
        norm = _name_norm(t)
        if norm and norm not in kl:
            for ln in range(len(norm) - 1, 0, -1):
                if norm[:ln] in kl:
                    return norm[:ln], norm[ln:], "learned"
            if _KATA_ONLY_RE.match(norm):
                # A foreign name in katakana run together, given name first (ルーカスブラウン): the
                # longest known surname it ends with, both parts two kana or more.
                for ln in range(len(norm) - 2, 1, -1):
                    if norm[-ln:] in kl:
                        return norm[-ln:], norm[:-ln], "learned"
                # A Japanese name in katakana run together, surname first (キクジロフユミ, a card's
                # reading or a form): the longest part in front read as a surname the org knows
                # (菊城 kikujiro) with the rest read as a given name it knows, both two kana or more.
                for ln in range(len(norm) - 2, 1, -1):
                    if _name_reading(norm[:ln]) in klr and _name_reading(norm[ln:]) in kfr:
                        return norm[:ln], norm[ln:], "learned"
    return t, None, "unsplit"


# ----------------------------------------------------------------------------------------------
# Companies
# ----------------------------------------------------------------------------------------------

_JP_FORMS = {
    "株式会社": "株式会社", "有限会社": "有限会社", "合同会社": "合同会社", "合資会社": "合資会社",
    "合名会社": "合名会社", "相互会社": "相互会社",
    "一般社団法人": "一般社団法人", "一般財団法人": "一般財団法人",
    "公益社団法人": "公益社団法人", "公益財団法人": "公益財団法人",
    "社団法人": "社団法人", "財団法人": "財団法人",
    "特定非営利活動法人": "特定非営利活動法人", "npo法人": "特定非営利活動法人",
    "社会医療法人": "医療法人", "医療法人社団": "医療法人", "医療法人財団": "医療法人", "医療法人": "医療法人",
    "社会福祉法人": "社会福祉法人", "学校法人": "学校法人", "宗教法人": "宗教法人",
    "地方独立行政法人": "独立行政法人", "独立行政法人": "独立行政法人", "国立大学法人": "国立大学法人",
}
_JP_ABBR = {
    "株": "株式会社", "有": "有限会社", "同": "合同会社", "合": "合同会社", "資": "合資会社",
    "名": "合名会社", "社": "社団法人", "財": "財団法人", "一社": "一般社団法人", "一財": "一般財団法人",
    "公社": "公益社団法人", "公財": "公益財団法人", "医": "医療法人", "学": "学校法人",
    "福": "社会福祉法人", "特非": "特定非営利活動法人", "npo": "特定非営利活動法人", "独": "独立行政法人",
}
# bank-transfer katakana notation: カ)ABC / ABC(カ
_KANA_ABBR = {"カ": "株式会社", "ユ": "有限会社", "ド": "合同会社", "シ": "合資会社", "メ": "合名会社"}
_EN_FORMS = [
    (r"co\.?,?\s*ltd\.?|company\s+limited|co\.?,?\s*limited", "co ltd"),
    (r"kabushiki\s*[gk]aisha|k\.\s?k\.?|kk", "kk"),
    (r"godo\s*kaisha|g\.\s?k\.?|gk", "gk"),
    (r"yugen\s*kaisha|y\.\s?k\.?", "yk"),
    (r"pty\.?\s*ltd\.?", "pty ltd"),
    (r"pte\.?\s*ltd\.?", "pte ltd"),
    (r"incorporated|inc\.?", "inc"),
    (r"corporation|corp\.?", "corp"),
    (r"l\.?\s?l\.?\s?c\.?", "llc"),
    (r"l\.?\s?l\.?\s?p\.?", "llp"),
    (r"limited|ltd\.?", "ltd"),
    (r"gmbh|ag|plc|s\.?\s?a\.?\s?s\.?|s\.?\s?a\.?\s?r\.?\s?l\.?|s\.?\s?a\.?|b\.?\s?v\.?|n\.?\s?v\.?|s\.?\s?p\.?\s?a\.?|a/s|ab|oy", None),
    (r"company|co\.?", "co"),
]

def _en_canon(tok: str) -> str:
    for rx, canon in _EN_FORMS_C:
        if rx.fullmatch(tok):
            return canon or re.sub(r"[\s./]", "", tok)
    return tok  # pragma: no cover


_EN_FORMS_C = [(re.compile(rx), canon) for rx, canon in _EN_FORMS]
_EN_ALT = "|".join(f"(?:{rx})" for rx, _ in _EN_FORMS)
_EN_SUFFIX_RE = re.compile(rf"(?:^|(?<=[\s,.&(]))(?P<f>{_EN_ALT})[\s.)]*$")
_EN_ONLY_RE = re.compile(rf"^[\s,.(]*(?P<f>{_EN_ALT})[\s.)]*$")
_JP_FORM_ALT = "|".join(sorted(map(re.escape, _JP_FORMS), key=len, reverse=True))
_JP_ABBR_ALT = "|".join(sorted(map(re.escape, _JP_ABBR), key=len, reverse=True))
_KANA_ABBR_ALT = "|".join(_KANA_ABBR)
_JP_PREFIX_RE = re.compile(
    rf"^[\s,.・]*(?:(?P<f>{_JP_FORM_ALT})|\(\s*(?P<a>{_JP_ABBR_ALT})\s*\)|(?P<k>{_KANA_ABBR_ALT})\))[\s,.・]*"
)
_JP_MID_RE = re.compile(rf"(?P<f>{_JP_FORM_ALT})|\(\s*(?P<a>{_JP_ABBR_ALT})\s*\)")
_CIRCLED = str.maketrans({"㊑": "(株)", "㊒": "(有)", "㊓": "(社)", "㊔": "(名)", "㊕": "(特)", "㊖": "(財)"})
_CIRCLED_RE = re.compile("[㊑㊒㊓㊔㊕㊖]")
_LONG_MARK_RE = re.compile(r"(?<=[\u30a1-\u30fa\u30fc])[-‐‑‒–—―−~〜ｰ]")
_LONG_MARK_ANY_RE = re.compile(r"[-‐‑‒–—―−~〜ｰ]")
_NON_WORD_RE = re.compile(r"[\W_]+")


def _jp_canon(m: re.Match) -> str:
    if m.group("f"):
        return _JP_FORMS[m.group("f")]
    if m.group("a"):
        return _JP_ABBR[m.group("a")]
    return _KANA_ABBR[m.group("k")]


def _company_core_text(t: str) -> str | None:
    t = _fold_itaiji(fold_ocr_lookalikes(t))  # (a card's 東洋エ業, 第ー精機, ハ一トラボ: 東洋工業, 第一精機, ハートラボ)
    if _LONG_MARK_ANY_RE.search(t):
        t = _LONG_MARK_RE.sub("ー", t)
    t = _NON_WORD_RE.sub("", t)
    return t or None


_JP_FORMS_BY_LEN = tuple(sorted(_JP_FORMS, key=len, reverse=True))
_SUFFIX_STRIP = " ,.・"
_HAS_LATIN_RE = re.compile("[a-z]")


def _jp_suffix(t: str) -> tuple[str, int] | None:
    """(canonical form, start index) of a Japanese legal form at the end of ``t``."""
    u = t.rstrip(_SUFFIX_STRIP)
    if u.endswith(_JP_FORMS_BY_LEN):
        for f in _JP_FORMS_BY_LEN:
            if u.endswith(f):
                return _JP_FORMS[f], len(u) - len(f)
    if u.endswith(")"):
        k = u.rfind("(")
        if k >= 0:
            inner = u[k + 1 : -1].strip()
            if inner in _JP_ABBR:
                return _JP_ABBR[inner], k
    if len(u) >= 2 and u[-2] == "(" and u[-1] in _KANA_ABBR:
        return _KANA_ABBR[u[-1]], len(u) - 2
    return None


# An office or a department written after the company's name, apart from it (株式会社ABC 東京支店,
# ABC株式会社 大阪営業所 営業部, ABC Inc. Osaka Branch): the same company, so not part of its core.
# (Written together, ABC東京支店, there is no telling where the name ends: left as it is.)
_OFFICE_SUFFIX_RE = re.compile(
    # (after a space, a bracket, or a legal form written behind the name: 北斗精工株式会社名古屋営業所)
    r"(?:(?:\s+|(?<=\))|(?<=株式会社|有限会社|合同会社|合資会社|合名会社))\S*?"
    r"(?:支店|支社|営業所|出張所|事業所|本社|本店|工場|オフィス|部|室|課|部門|グループ|チーム)"
    r"|\s+(?:[a-z]+\s+)?branch(?:\s+office)?)+$"
)


@lru_cache(maxsize=1 << 16)
def _split_company(s: str) -> tuple[str | None, str | None, str | None]:
    if _CIRCLED_RE.search(s):
        s = s.translate(_CIRCLED)
    t = _WS_RE.sub(" ", _nfkc(s).casefold()).strip()
    bare = _without_notes(t)
    if bare != t:
        parts = _split_company_text(bare)
        if parts[0]:  # (an office after a legal form alone, 株式会社 東京支店, is kept: nothing else names it)
            return parts
    return _split_company_text(t)


_COMPANY_NOTE_RE = re.compile(r"\s*\(([^()]*)\)$")
# How an organisation is addressed, after its name (ABC株式会社 御中, ABC株式会社様): not the name.
_COMPANY_HONORIFIC_RE = re.compile(r"\s*(?:御中|様|殿)$")


def _without_notes(t: str) -> str:
    """`t` without offices (see _OFFICE_SUFFIX_RE), notes in brackets at its end (ABC株式会社
    （エービーシー）, （旧 XYZ）, (Japan)) and an honorific (御中, 様); a legal form in brackets ((株),
    (有)) is kept."""
    for _ in range(4):
        honorific = _COMPANY_HONORIFIC_RE.search(t)
        if honorific and honorific.start() > 0:
            t = t[: honorific.start()]
            continue
        note = _COMPANY_NOTE_RE.search(t)
        if note and note.start() > 0 and note.group(1).strip() not in _JP_ABBR \
                and note.group(1).strip() not in _KANA_ABBR:
            t = t[: note.start()]
            continue
        office = _OFFICE_SUFFIX_RE.search(t)
        if office and office.start() > 0:
            t = t[: office.start()]
            continue
        break
    return t


def _split_company_text(t: str) -> tuple[str | None, str | None, str | None]:
    """_split_company of a value already NFKC-normalized, casefolded and with single spaces."""
    forms: list[str] = []
    latin = bool(_HAS_LATIN_RE.search(t))
    for _ in range(3):
        changed = False
        m = _JP_PREFIX_RE.match(t)
        if m and m.end() < len(t):
            forms.append(_jp_canon(m))
            t = t[m.end():]
            changed = True
        suf = _jp_suffix(t)
        if suf and suf[1] > 0 and t[: suf[1]].strip(_SUFFIX_STRIP):
            forms.append(suf[0])
            t = t[: suf[1]].rstrip(_SUFFIX_STRIP)
            changed = True
        if latin:
            m = _EN_SUFFIX_RE.search(t)
            if m and t[: m.start()].strip(" ,.&("):
                forms.append(_en_canon(m.group("f").strip()))
                t = t[: m.start()].rstrip(" ,.&(")
                changed = True
        if not changed:
            break
    if not forms:
        m = _JP_MID_RE.search(t)
        if m and (m.start() > 0 or m.end() < len(t)):
            forms.append(_jp_canon(m))
            t = t[: m.start()] + " " + t[m.end():]
        elif m:  # the whole value is a legal form only (e.g. '株式会社')
            return None, _jp_canon(m), None
        elif latin and (only := _EN_ONLY_RE.match(t)):  # ... or an English one ('Co., Ltd.', 'Inc.', 'K.K.')
            return None, _en_canon(only.group("f").strip()), None
    seen: list[str] = []
    for f in forms:
        if f not in seen:
            seen.append(f)
    core = _company_core_text(t)
    form = " ".join(seen) or None
    return core, form, t


def company_office(s: str | None) -> str | None:
    """The office a company name names after it (ABC株式会社 東京支店 -> '東京支店', ABC Inc. Osaka
    Branch -> 'osaka branch'), NFKC, casefolded, spaces removed; None when it names none. A person's
    company drops it (offices move); an Account keeps it: a branch is often an Account of its own."""
    if s is None:
        return None
    if _CIRCLED_RE.search(s):
        s = s.translate(_CIRCLED)
    t = _WS_RE.sub(" ", _nfkc(s).casefold()).strip()
    for _ in range(3):  # an honorific or a note after the office: not part of it
        honorific = _COMPANY_HONORIFIC_RE.search(t)
        note = _COMPANY_NOTE_RE.search(t)
        if honorific and honorific.start() > 0:
            t = t[: honorific.start()]
        elif note and note.start() > 0 and note.group(1).strip() not in _JP_ABBR and note.group(1).strip() not in _KANA_ABBR:
            t = t[: note.start()]
        else:
            break
    office = _OFFICE_SUFFIX_RE.search(t)
    if not office or office.start() == 0:
        return None
    return office.group(0).replace(" ", "") or None


def company_identity(s: str | None) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(core, legal_form, reading, sound, office) of a company name: split_company's core and legal
    form, the core's reading (company_reading of the name as spaced) and sound (company_sound), and
    the office it names (company_office). What Account matching compares; pure."""
    if s is None:
        return None, None, None, None, None
    core, form, spaced = _split_company(s)
    reading = company_reading(spaced) if core and spaced else None
    return core, form, reading, company_sound(core, reading), company_office(s)


def split_company(s: str | None) -> tuple[str | None, str | None]:
    """('株式会社ABC' | 'ABC株式会社' | '(株)ABC' | '㈱ABC' | '（株）ABC' | 'ABC Co., Ltd.' ...) ->
    (core, legal_form). Core: NFKC, casefold, spaces and punctuation removed, long-vowel mark
    variants after katakana unified to 'ー', variant kanji folded. legal_form is canonical (株式会社, 有限会社, 合同会社,
    ..., 'co ltd', 'inc', 'kk', 'corp', 'llc', 'ltd', 'gmbh' ...), several joined by a space."""
    if s is None:
        return None, None
    core, form, _ = _split_company(s)
    return core, form


# ----------------------------------------------------------------------------------------------
# Email (the steps and regexes are shared with the SQL path of the stage)
# ----------------------------------------------------------------------------------------------

_WS_GUARDS = (" ", "\t", "\r", "\n")
_EMAIL_STEPS = _Steps(
    [
        # characters a copy and paste brings along unseen (zero-width space, byte order mark, line separator)
        ("[\u200b\u200c\u200d\u2060\ufeff\u2028\u2029]", "", True, ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u2028", "\u2029")),
        ("^[ \t\r\n]*mailto:", "", False, ("mailto:",)),
        # a card's label before the address (E-mail: …, Email：…, メール: …)
        ("^[ \t]*(?:e-?mail|mail|メールアドレス|メール)[ \t]*:[ \t]*", "", False, ("mail", "メール")),
        ("(?s)^.*?<([^<>]*)>.*$", "\\1", False, ("<",)),
        # a spreadsheet's text formula, which keeps a cell as typed: ="taro@abc.co.jp"
        ("^[ \t\r\n]*=[ \t]*([\"'])", "\\1", False, ("=",)),
        ("^[ \t\r\n\"']+", "", False, _WS_GUARDS + ('"', "'")),
        ("[ \t\r\n\"'.]+$", "", False, tuple("$" + g for g in _WS_GUARDS + ('"', "'", "."))),
        # a second address, a note: t@x.jp（代表）, t@x.jp、t2@y.jp, t@x.jp／t2@y.jp, t@x.jp。, t@x.jp【個人】
        ("(?s)[,;( \t\r\n、/。【].*$", "", False, _WS_GUARDS + (",", ";", "(", "、", "/", "。", "【")),
        ("^([^@+]*)\\+[^@]*@", "\\1@", False, ("+",)),
    ]
)
_EMAIL_VALID = (
    r"[a-z0-9!#$%&'*/=?^_`{|}~.-]+@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
    r"(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}"
)
_FREEMAIL_DOMAINS = (
    "gmail.com googlemail.com yahoo.co.jp ymail.com rocketmail.com aol.com icloud.com me.com mac.com "
    "msn.com docomo.ne.jp ezweb.ne.jp au.com softbank.ne.jp i.softbank.jp disney.ne.jp ymobile.ne.jp "
    "y-mobile.ne.jp emobile.ne.jp willcom.com pdx.ne.jp vodafone.ne.jp mopera.net nifty.com nifty.ne.jp "
    "ybb.ne.jp eonet.ne.jp auone-net.jp biglobe.ne.jp ocn.ne.jp so-net.ne.jp plala.or.jp dion.ne.jp odn.ne.jp infoseek.jp excite.co.jp "
    "goo.jp goo.ne.jp livedoor.com hi-ho.ne.jp zaq.ne.jp home.ne.jp wakwak.com rakuten.jp "
    "mail.goo.ne.jp excite.com protonmail.com proton.me pm.me gmx.com gmx.de gmx.net mail.com "
    "yandex.ru yandex.com mail.ru qq.com 163.com 126.com naver.com hanmail.net daum.net "
    "bigpond.com bigpond.net.au optusnet.com.au tpg.com.au iinet.net.au comcast.net att.net "
    "verizon.net sbcglobal.net zoho.com tutanota.com fastmail.com hushmail.com"
).split()
_FREEMAIL_RE = (
    r"(?:[a-z0-9-]+\.)*(?:" + "|".join(re.escape(d) for d in _FREEMAIL_DOMAINS) + r")"
    r"|(?:hotmail|outlook|live|yahoo|windowslive|msn)\.[a-z.]+"
)
_ROLE_WORDS = (
    "info information infomation sales eigyo eigyou eigyobu contact contactus contacts support help "
    "helpdesk admin administrator administration office soumu somu jinji keiri saiyo saiyou recruit "
    "recruiting recruitment career careers job jobs hr webmaster postmaster hostmaster noreply "
    "no-reply donotreply do-not-reply mail email mailbox toiawase otoiawase inquiry inquiries enquiry "
    "enquiries press pr koho kouhou marketing billing accounting accounts finance service "
    "customer customers cs team staff desk reception uketsuke order orders shop store "
    "hanbai gyomu gyoumu kikaku jimu jimukyoku system it general contact-us "
    # a company's main / head-office / front-desk mailbox (代表 daihyo, 本社 honsha, 管理 kanri, 担当 tanto, 窓口 madoguchi)
    "daihyo daihyou honsha kanri tanto tantou madoguchi "
    # billing mailboxes: accounts payable / receivable, invoices (請求 seikyu, 支払 shiharai, 会計 kaikei)
    "ap ar invoice invoices seikyu seikyuu seikyusho shiharai kaikei payment payments payable payables "
    "receivable receivables purchasing kobai koubai"
).split()
_ROLE_GENERIC = (
    "jp japan tokyo osaka nagoya fukuoka sapporo sendai yokohama kobe kyoto hiroshima hq dept group "
    "center centre div section ka bu all global main web net online ml desk"
).split()
_ROLE_ALT = "|".join(re.escape(w) for w in sorted(_ROLE_WORDS, key=len, reverse=True))
_GEN_ALT = "|".join(re.escape(w) for w in sorted(_ROLE_GENERIC, key=len, reverse=True))
_ROLE_RE = rf"(?:(?:{_GEN_ALT})[._-])*(?:{_ROLE_ALT})(?:[._-]?(?:{_ROLE_ALT}|{_GEN_ALT}))*[0-9]*"

_R_EMAIL_VALID = re.compile(_EMAIL_VALID)
_R_FREEMAIL = re.compile(_FREEMAIL_RE)
# (a free-mail domain and a role mailbox's local part, in full; survivorship reads them in DuckDB SQL)
FREEMAIL_RE, ROLE_RE = _FREEMAIL_RE, _ROLE_RE


def company_mailbox_sql(domain: str, local: str) -> str:
    """SQL: an address is a person's own at a company's domain -- the domain (lower case) is not a
    free one (gmail.com, docomo.ne.jp …) and the local part (lower case) not a role mailbox (info,
    sales, eigyo …). Eligibility's quality signal and survivorship's email ranking read it."""
    return f"(NOT regexp_full_match({domain}, {_lit(FREEMAIL_RE)}) AND NOT regexp_full_match({local}, {_lit(ROLE_RE)}))"
_R_ROLE = re.compile(_ROLE_RE)


# Gmail reads no dots in the local part and googlemail.com is gmail.com: taro.yamada@gmail.com and
# taroyamada@googlemail.com are one mailbox (written both ways on two forms).
_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


# A dummy typed where an address is required: nobody's mailbox, so no address at all -- as a shared
# mailbox it would still corroborate a namesake. A dummy local part (noemail@, dummy@, test@, xxx@,
# and hoge@ / fuga@ / piyo@, the Japanese programmer's foo / bar), a domain reserved for examples
# (RFC 2606 / 6761: example.com, example.co.jp, *.test, *.invalid, localhost), or a local part that
# repeats the domain's name (a@a.com, hoge@hoge.com, 1@1.com: is_dummy_email / dummy_email_sql).
# Two namesakes at two companies sharing a@a.com, hoge@hoge.com or ichiro@example.com were
# auto-merged at 0.9997-0.9999.
DUMMY_MAIL_LOCAL_RE = (r"(?:no[-_]?e?[-_]?mail(?:[-_]?address)?|no[-_]?address|dummy|none|null|unknown|test|sample|x{3,}|a{3,}"
                       r"|hoge|fuga|piyo|foo|foobar)[0-9]*")
DUMMY_MAIL_DOMAIN_RE = (r"(?:[a-z0-9-]+\.)*(?:example\.(?:com|net|org|jp|co\.jp|ne\.jp|or\.jp)"
                        r"|[a-z0-9-]+\.(?:test|example|invalid|localhost)|localhost)")
#: A dummy address as a whole (lower case; RE2 and Python read it alike). With the local part that
#: repeats the domain's name (not a regular expression): is_dummy_email, dummy_email_sql.
DUMMY_MAIL_RE = f"(?:{DUMMY_MAIL_LOCAL_RE})@.*|[^@]*@{DUMMY_MAIL_DOMAIN_RE}"
_R_DUMMY_MAIL = re.compile(DUMMY_MAIL_RE)


def is_dummy_email(address: str) -> bool:
    """Whether a lower-case address is a dummy (see DUMMY_MAIL_RE): a@a.com, noemail@x.jp, taro@example.com."""
    local, _, domain = address.partition("@")
    return bool(_R_DUMMY_MAIL.fullmatch(address)) or (bool(domain) and local == domain.split(".")[0])


def dummy_email_sql(address: str) -> str:
    """SQL twin of is_dummy_email for the lower-case address expression `address` (NULL for NULL).
    (The expression is bound once through a lambda: written out four times, a computed address
    made the test four times slower over a million rows.)"""
    return (f"list_transform([{address}], lambda a: regexp_full_match(a, {_lit(DUMMY_MAIL_RE)}) "
            "OR (split_part(a, '@', 2) <> '' AND split_part(a, '@', 1) = split_part(split_part(a, '@', 2), '.', 1)))[1]")


def normalize_email(s: str | None) -> str | None:
    """NFKC, trimmed, lowercase; 'mailto:' and '<...>' wrappers removed; first address of a list;
    '+tag' removed from the local part; a Gmail address without the dots of its local part, at
    gmail.com; None when not a valid address or a dummy (noemail@, dummy@, test@)."""
    if s is None:
        return None
    t = _EMAIL_STEPS.apply(_nfkc(s).lower())
    if not _R_EMAIL_VALID.fullmatch(t):
        return None
    local, _, domain = t.partition("@")
    if is_dummy_email(t):
        return None
    return f"{local.replace('.', '')}@gmail.com" if domain in _GMAIL_DOMAINS else t


def email_flags(email: str | None) -> tuple[bool | None, bool | None]:
    """(is_freemail, is_role) of a normalized email; (None, None) when email is None."""
    if email is None:
        return None, None
    local, _, domain = email.partition("@")
    return bool(_R_FREEMAIL.fullmatch(domain)), bool(_R_ROLE.fullmatch(local))


# ----------------------------------------------------------------------------------------------
# Phones (JP rule shared with the SQL fast path; phonenumbers for everything else)
# ----------------------------------------------------------------------------------------------

#: A number a spreadsheet turned into a float (lower case): 3.12346e+09.
#: A phone field holding a whole number (10 or 11 digits), a space and more digits: group 1 the first.
TWO_NUMBERS_RE = "(?s)^([^0-9]*(?:[0-9][^0-9]{0,3}){9,10}[0-9])[ \t]+[^0-9]{0,6}[0-9]"
SPREADSHEET_NUMBER_RE = "^[ \t]*[0-9](?:\\.[0-9]+)?e\\+?[0-9]+[ \t]*$"
_PHONE_STEPS = _Steps(
    [
        # a number a spreadsheet turned into a float (3.12346E+09: the leading 0 and the last digits
        # are gone, and other numbers read the same): no number
        (SPREADSHEET_NUMBER_RE, "", False, ("e",)),
        # a number a spreadsheet kept as text with its decimals (0355551234.0): the digits before them
        ("^([^.]*[0-9])\\.0+[ \t]*$", "\\1", False, (".",)),
        # a range of lines (03-5555-1234～5, 03-5555-1234~36): the first line
        ("(?s)([0-9])[ \t]*[~〜][ \t]*[0-9]{1,4}[ \t]*$", "\\1", False, ("~", "〜")),
        ("(?s)[/,;、].*$", "", False, ("/", ",", ";", "、")),  # only the first number
        ("(?s)([0-9])[ \t(]*(?:内線|ext\\.?|extension|x|#|内)[ \t.:]*[0-9].*$", "\\1", False, ("x", "#", "内")),
        # a mobile after the phone (03-1234-5678 携帯 090-1234-5679): the first number (see later_mobile)
        ("(?s)([0-9])[^0-9]*(?:携帯|けいたい|ケータイ|mobile|cell).*$", "\\1", False,
         ("携帯", "けいたい", "ケータイ", "mobile", "cell")),
        # a fax number after the phone (TEL 03-1234-5678 FAX 03-1234-5679, from a card)
        ("(?s)([0-9])[^0-9]*(?:fax|ファックス|ファクス).*$", "\\1", False, ("fax", "ファ")),
        # a whole number, a space and another one (03-5555-4444 090-6060-7070, 直通:03-… 代表:03-…):
        # the first (10 or 11 digits, then the space: 03 5555 4444 alone is one number)
        (TWO_NUMBERS_RE + ".*$", "\\1", False, (" ", "\t")),
    ]
)
_PHONE_PLUS = r"^[^0-9]*\+"
_R_PHONE_PLUS = re.compile(_PHONE_PLUS)
_R_NONDIGIT = re.compile(r"[^0-9]")


# A dummy number typed where one is required: the last eight digits one digit repeated
# (03-0000-0000, 080-1111-1111, 000-0000-0000) or counted up or down (090-1234-5678, 03-1234-5678):
# nobody's number. (No backreferences in RE2: spelled out.)
DUMMY_PHONE_RE = "(?:" + "|".join([d * 8 for d in "0123456789"] + ["12345678", "23456789", "01234567",
                                                                   "87654321", "98765432", "76543210"]) + ")$"
_R_DUMMY_PHONE = re.compile(DUMMY_PHONE_RE)


# A postal code typed where one is required: seven times one digit, or 1234567.
DUMMY_POSTAL_RE = "(?:" + "|".join([d * 7 for d in "0123456789"] + ["1234567"]) + ")"


def address_placeholders(config: Config) -> list[str]:
    """Street and city values that only hold the place (不明, なし, 未入力, 同上, unknown …: the
    company and name placeholders as normalize_street / normalize_city write them)."""
    words = (*config.input.company_placeholders, *config.input.name_placeholders, "同上", "不明", "-", "－", "?")
    return sorted({x for w in words for x in (normalize_street(w), normalize_city(w)[0]) if x})


def is_dummy_phone(number: str | None) -> bool:
    """A normalized number (E.164, or the digits) that is a dummy (DUMMY_PHONE_RE)."""
    return number is not None and _R_DUMMY_PHONE.search(number) is not None


def _jp_nsn(digits: str, plus: bool, region: str) -> str | None:
    nsn = None
    if plus and digits.startswith("81"):
        nsn = digits[2:]
        if nsn.startswith("0"):
            nsn = nsn[1:]
    elif not plus and region == "JP" and digits.startswith("0") and not digits.startswith("00"):
        nsn = digits[1:]
    if nsn is not None and len(nsn) in (9, 10) and not nsn.startswith("0"):
        return nsn
    return None


def _jp_mobile(nsn: str) -> bool:
    return len(nsn) == 10 and nsn[:2] in ("70", "80", "90") and nsn[2] != "0"


@lru_cache(maxsize=1 << 16)
def _normalize_phone(s: str, region: str) -> tuple[str | None, bool]:
    t = _PHONE_STEPS.apply(_nfkc(s).lower())
    digits = _R_NONDIGIT.sub("", t)
    if not digits:
        return None, False
    plus = "+" in t and bool(_R_PHONE_PLUS.match(t))
    if not plus and digits.startswith("0081"):  # the international prefix 00 dialled for +81
        plus, digits = True, digits[2:]
    nsn = _jp_nsn(digits, plus, region)
    if nsn is not None:
        return "+81" + nsn, _jp_mobile(nsn)
    try:
        num = phonenumbers.parse(t, region)
        if phonenumbers.is_valid_number(num):
            e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            return e164, phonenumbers.number_type(num) == phonenumbers.PhoneNumberType.MOBILE
    except phonenumbers.NumberParseException:
        pass
    return (digits if len(digits) >= 6 else None), False


# Where one Phone field holds several numbers: the separators of the numbers after the first
# (03-5555-1234 / 090-2222-3333, 03-5555-1234、携帯 090-2222-3333, TEL 03-… mobile 080-…).
_MORE_NUMBERS = re.compile(r"[/,;、]|携帯|けいたい|ケータイ|mobile|cell")
_R_TWO_NUMBERS = re.compile(TWO_NUMBERS_RE)


def later_mobile(s: str | None, region: str = "JP") -> str | None:
    """The mobile number written after the first number of a Phone field (E.164), when the first
    is not itself a mobile: "03-5555-1234 / 090-2222-3333" -> +819022223333. ``normalize_phone``
    keeps the first number (the switchboard, company evidence); this is the person's own number,
    which a record with the mobile in MobilePhone shares. None when there is no such number."""
    if s is None:
        return None
    t = _nfkc(s).lower()
    parts = _MORE_NUMBERS.split(t)
    if len(parts) < 2:
        m = _R_TWO_NUMBERS.match(t)
        if m is None:
            return None
        parts = [m.group(1), t[m.end(1):]]
    first = normalize_phone(s, region)
    if first[1]:
        return None
    for part in parts[1:]:
        e164, mobile = normalize_phone(part, region)
        if mobile and e164 is not None and not is_dummy_phone(e164):
            return e164
    return None


def normalize_phone(s: str | None, region: str = "JP") -> tuple[str | None, bool]:
    """Phone -> (E.164 or None, is_mobile). Full-width digits, hyphens, parentheses, '+81', a
    trailing extension (内線 / ext. / x / #) and further numbers after '/' are handled. JP
    numbers (trunk 0 with region JP, or +81) with a 9-10 digit national number are taken as is
    (mobile = 070/080/090); others go through phonenumbers with the region; unparsable -> the
    digits when there are at least 6, else None."""
    if s is None:
        return None, False
    return _normalize_phone(s, (region or "JP").upper())


_COUNTRY_NAMES = {
    "JP": "japan 日本 日本国 jpn nippon nihon ジャパン にほん にっぽん",
    "US": "united states|united states of america|usa|u.s.a|u.s|america|アメリカ|米国|アメリカ合衆国",
    "AU": "australia aus オーストラリア 豪州",
    "GB": "united kingdom|uk|u.k|great britain|england|scotland|wales|gbr|イギリス|英国",
    "CA": "canada can カナダ",
    "CN": "china chn 中国 中華人民共和国 people's republic of china|prc",
    "KR": "korea|south korea|republic of korea|kor|韓国|大韓民国",
    "TW": "taiwan twn 台湾",
    "HK": "hong kong|hkg|香港",
    "SG": "singapore sgp シンガポール",
    "DE": "germany deu ドイツ deutschland",
    "FR": "france fra フランス",
    "IN": "india ind インド",
    "TH": "thailand tha タイ",
    "VN": "vietnam|viet nam|vnm|ベトナム",
    "PH": "philippines phl フィリピン",
    "ID": "indonesia idn インドネシア",
    "MY": "malaysia mys マレーシア",
    "NZ": "new zealand|nzl|ニュージーランド",
    "NL": "netherlands|the netherlands|holland|nld|オランダ",
    "IT": "italy ita イタリア",
    "ES": "spain esp スペイン",
    "CH": "switzerland che スイス",
    "SE": "sweden swe スウェーデン",
    "BR": "brazil bra ブラジル",
    "MX": "mexico mex メキシコ",
}
_COUNTRY_MAP: dict[str, str] = {}
for _code, _names in _COUNTRY_NAMES.items():
    for _n in (_names.split("|") if "|" in _names else _names.split()):
        _COUNTRY_MAP[_n.strip().replace(".", "")] = _code


@lru_cache(maxsize=4096)
def country_region(s: str | None) -> str | None:
    """Country text -> ISO region code for phone parsing (None when unknown)."""
    if s is None:
        return None
    t = _WS_RE.sub(" ", _nfkc(s).casefold()).strip().replace(".", "")
    if not t:
        return None
    if t in _COUNTRY_MAP:
        return _COUNTRY_MAP[t]
    if len(t) == 2 and t.upper() in phonenumbers.SUPPORTED_REGIONS:
        return t.upper()
    return None


# ----------------------------------------------------------------------------------------------
# Addresses
# ----------------------------------------------------------------------------------------------

_PREFS = (
    "北海道:hokkaido 青森県:aomori 岩手県:iwate 宮城県:miyagi 秋田県:akita 山形県:yamagata "
    "福島県:fukushima 茨城県:ibaraki 栃木県:tochigi 群馬県:gunma 埼玉県:saitama 千葉県:chiba "
    "東京都:tokyo 神奈川県:kanagawa 新潟県:niigata 富山県:toyama 石川県:ishikawa 福井県:fukui "
    "山梨県:yamanashi 長野県:nagano 岐阜県:gifu 静岡県:shizuoka 愛知県:aichi 三重県:mie "
    "滋賀県:shiga 京都府:kyoto 大阪府:osaka 兵庫県:hyogo 奈良県:nara 和歌山県:wakayama "
    "鳥取県:tottori 島根県:shimane 岡山県:okayama 広島県:hiroshima 山口県:yamaguchi "
    "徳島県:tokushima 香川県:kagawa 愛媛県:ehime 高知県:kochi 福岡県:fukuoka 佐賀県:saga "
    "長崎県:nagasaki 熊本県:kumamoto 大分県:oita 宮崎県:miyazaki 鹿児島県:kagoshima 沖縄県:okinawa"
)
_PREF_FULL: list[str] = []
_PREF_SHORT: dict[str, str] = {}
_PREF_ROMAJI: dict[str, str] = {}
for _p in _PREFS.split():
    _full, _rom = _p.split(":")
    _PREF_FULL.append(_full)
    _PREF_SHORT[_full if _full == "北海道" else _full[:-1]] = _full
    _PREF_ROMAJI[_rom] = _full
_PREF_FULL_SET = set(_PREF_FULL)
_PREF_FULL_RE = re.compile("^(" + "|".join(sorted(_PREF_FULL, key=len, reverse=True)) + ")")
# short form (東京, 大阪, 神奈川...) at the start: a prefecture unless it names a 郡/町/村/区 of
# the same name (石川郡, 神奈川区); a same-name 市 (京都市, 千葉市) lies in that prefecture.
_PREF_SHORT_RE = re.compile(
    "^(" + "|".join(sorted(_PREF_SHORT, key=len, reverse=True)) + ")(?![郡町村区])"
)
_PREF_SUFFIX_TOKENS = {"to", "fu", "ken", "do", "prefecture", "pref", "metropolis", "metropolitan"}


def _romaji_pref_key(s: str) -> str | None:
    return _name_reading(s)


_PREF_ROMAJI_KEYS = {_romaji_pref_key(r): p for r, p in _PREF_ROMAJI.items()}


def _leading_prefecture(t: str) -> tuple[str | None, str]:
    """On normalized text (no spaces): (prefecture, text with a full prefecture name removed)."""
    m = _PREF_FULL_RE.match(t)
    if m:
        rest = t[m.end():]
        return m.group(1), (rest if rest else t)
    m = _PREF_SHORT_RE.match(t)
    if m:
        return _PREF_SHORT[m.group(1)], t
    return None, t


@lru_cache(maxsize=4096)
def canonical_prefecture(s: str | None) -> str | None:
    """'東京' / '東京都' / 'Tokyo' / 'TOKYO-TO' / 'Tōkyō' / 'とうきょう' -> '東京都'; a value that
    starts with a prefecture ('東京都港区') -> that prefecture; anything else -> None."""
    if s is None:
        return None
    t = _nfkc(s).casefold().strip()
    if not t:
        return None
    compact = _WS_RE.sub("", t)
    if compact in _PREF_FULL_SET:
        return compact
    if compact in _PREF_SHORT:
        return _PREF_SHORT[compact]
    if _JA_CHAR_RE.search(compact):
        p, _ = _leading_prefecture(compact)
        if p:
            return p
    if _JA_CHAR_RE.search(compact):  # kana spelling (とうきょう)
        return _PREF_ROMAJI_KEYS.get(_romaji_pref_key(compact))
    toks = [x for x in re.split(r"[\s,\-.]+", _ascii_fold(t)) if x]
    while len(toks) > 1 and toks[-1] in _PREF_SUFFIX_TOKENS:
        toks.pop()
    if not toks:
        return None
    return _PREF_ROMAJI_KEYS.get(_romaji_pref_key("".join(toks)))


# Place names are written with ヶ, ケ, ガ or が (霞が関 / 霞ヶ関 / 霞ケ関, 茅ヶ崎 / 茅ケ崎) and with の, ノ or
# 之 (丸の内 / 丸ノ内 / 丸之内) between two kanji: one spelling each (RE2 steps: the street's SQL twin too).
_PLACE_KANA_STEPS = (
    ("([一-鿿々])[ヶケガ]([一-鿿])", "\\1が\\2", True, ("ヶ", "ケ", "ガ")),
    ("([一-鿿々])[ノ之]([一-鿿])", "\\1の\\2", True, ("ノ", "之")),
)
_PLACE_KANA = _Steps(_PLACE_KANA_STEPS)


@lru_cache(maxsize=1 << 16)
def _city(s: str) -> tuple[str | None, str | None]:
    t = _PLACE_KANA.apply(_WS_RE.sub("", _nfkc(s).lower()))
    if not t:
        return None, None
    pref, t = _leading_prefecture(t)
    return t or None, pref


def normalize_city(s: str | None) -> tuple[str | None, str | None]:
    """City -> (NFKC, lowercased, spaces removed, leading prefecture removed; prefecture found)."""
    if s is None:
        return None, None
    return _city(s)


_KNUM = "〇一二三四五六七八九十百千"
_KANJI_NUM_RE = re.compile(rf"([{_KNUM}]+)(?=丁目|番地|番(?!町)|号(?![室館棟])|の[0-9{_KNUM}])")
# A superset of what _KANJI_NUM_RE rewrites (RE2 syntax): such streets are normalized in Python.
_KANJI_NUM_ROUTE = f"[{_KNUM}](丁目|番|号|の[0-9{_KNUM}])"
_KDIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")}
_ZW = "\u200b\u200c\u200d\u2060\ufeff"
# Street rewrite steps, on NFKC + lower()ed text; _street() is the reference, the stage runs the
# same steps in SQL (see _Steps).
_WS_CLASS = "[ \t\r\n\f\v" + _ZW + "]"
_WS_ALL_GUARDS = (" ", "\t", "\r", "\n", "\f", "\v") + tuple(_ZW)
_STREET_A = _Steps(
    [
        ("^[ \t〒]*[0-9]{3}-?[0-9]{4}([^0-9]|$)", "\\1", False, ()),  # leading postal code
        ("[‐‑‒–—―−﹣－⁃]", "-", True, tuple("‐‑‒–—―−﹣－⁃")),  # hyphen variants
        ("([0-9])[ \t\r\n\f\v]+([0-9])", "\\1-\\2", True, _WS_ALL_GUARDS[:6]),  # '1 2' -> '1-2'
        ("([0-9])[ \t\r\n\f\v]+([0-9])", "\\1-\\2", True, _WS_ALL_GUARDS[:6]),
        (_WS_CLASS + "+", "", True, _WS_ALL_GUARDS),  # spaces removed
        ("([0-9])[ー~〜]([0-9])", "\\1-\\2", True, ("ー", "~", "〜")),  # 1ー2 -> 1-2
        ("([0-9])[ー~〜]([0-9])", "\\1-\\2", True, ("ー", "~", "〜")),
        *_PLACE_KANA_STEPS,
    ]
)
# 番町 / 号室 / 号館 / 号棟 are names, not house numbers, and の only joins two numbers: those are
# shielded (private use placeholders) while digits + 丁目 / 番地 / 番 / 号 / の become '-'.
_SHIELD = (("番町", "\ue001"), ("号室", "\ue002"), ("号館", "\ue003"), ("号棟", "\ue004"))
_STREET_B = _Steps(
    [("=" + a, b, True, ()) for a, b in _SHIELD]
    + [("の([^0-9]|$)", "\ue005\\1", True, ("の",))]
    + [("([0-9]+)(?:丁目|番地の?|番|号|の)", "\\1-", True, ("丁目", "番", "号", "の"))]
    + [("=" + b, a, True, ()) for a, b in _SHIELD + (("の", "\ue005"),)]
    + [
        ("([0-9]+)階", "\\1f", True, ("階",)),
        ("-{2,}", "-", True, ("--",)),
        ("-([^0-9]|$)", "\\1", True, ("-",)),
    ]
)


def _kanji_int(s: str) -> int:
    if not any(c in "十百千" for c in s):
        return int("".join(str(_KDIGIT[c]) for c in s))
    total, cur = 0, 0
    for c in s:
        if c in _KDIGIT:
            cur = cur * 10 + _KDIGIT[c]
        else:
            mult = {"十": 10, "百": 100, "千": 1000}[c]
            total += (cur or 1) * mult
            cur = 0
    return total + cur


def _kanji_num_sub(m: re.Match) -> str:
    return str(_kanji_int(m.group(1)))


def _street_steps(t: str) -> str:
    """The street rewrite on NFKC-normalized, lowercased text (no prefecture handling)."""
    t = _STREET_A.apply(t)
    if _KNUM_ANY_RE.search(t):
        t = _KANJI_NUM_RE.sub(_kanji_num_sub, t)
    return _STREET_B.apply(t)


_KNUM_ANY_RE = re.compile(f"[{_KNUM}]")


@lru_cache(maxsize=1 << 16)
def _street(s: str) -> tuple[str | None, str | None]:
    t = _street_steps(_nfkc(s).lower())
    if not t:
        return None, None
    pref, t = _leading_prefecture(t)
    return t or None, pref


def normalize_street(s: str | None, city: str | None = None) -> str | None:
    """Street -> NFKC, lowercased, spaces removed, leading 〒postal code and prefecture removed,
    hyphen variants -> '-', 丁目/番地/番/号/の patterns -> '-' (kanji numerals too: 一丁目 -> 1-),
    N階 -> Nf; the city is removed from the start when the given city repeats there."""
    if s is None:
        return None
    t, _ = _street(s)
    if t and city:
        c, _ = normalize_city(city)
        if c and t.startswith(c) and len(t) > len(c):
            t = t[len(c):]
    return t


def normalize_postal(s: str | None) -> str | None:
    """Postal code -> digits only (〒, hyphens, full-width handled). Empty -> None."""
    if s is None:
        return None
    return _POSTAL_STEPS.apply(_nfkc(s)) or None


# ----------------------------------------------------------------------------------------------
# Dates
# ----------------------------------------------------------------------------------------------

_ERAS = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018,
         "m": 1867, "t": 1911, "s": 1925, "h": 1988, "r": 2018}
_BD_WAREKI = re.compile(
    r"(明治|大正|昭和|平成|令和|[mtshr])\.?\s*(\d{1,2}|元)\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?"
)
_BD_YMD = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ t].*)?")
_BD_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_BD_XXY = re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:\s.*)?")


def _valid_date(y: int, m: int, d: int) -> str | None:
    try:
        dt = _dt.date(y, m, d)
    except ValueError:
        return None
    if dt.year < 1900 or dt > _dt.date.today():
        return None
    return dt.isoformat()


@lru_cache(maxsize=1 << 16)
def _parse_birthdate(s: str) -> str | None:
    t = _nfkc(s).casefold().strip()
    m = _BD_WAREKI.fullmatch(t)
    if m:
        yy = 1 if m.group(2) == "元" else int(m.group(2))
        return _valid_date(_ERAS[m.group(1)] + yy, int(m.group(3)), int(m.group(4)))
    m = _BD_YMD.fullmatch(t)
    if m:
        return _valid_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _BD_COMPACT.fullmatch(t)
    if m:
        return _valid_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _BD_XXY.fullmatch(t)
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if a == b or (a > 12 and b <= 12):
            return _valid_date(y, b, a)  # DD/MM/YYYY
        if b > 12 and a <= 12:
            return _valid_date(y, a, b)  # MM/DD/YYYY
    return None


def parse_birthdate(s: str | None) -> str | None:
    """Birthdate -> 'YYYY-MM-DD'. Accepts YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, YYYYMMDD,
    1980年5月1日, 昭和55年5月1日 / S55.5.1, DD/MM/YYYY or MM/DD/YYYY when unambiguous; a time
    part is ignored. Invalid, before 1900 or in the future -> None."""
    if s is None:
        return None
    return _parse_birthdate(s)


# ----------------------------------------------------------------------------------------------
# The stage
# ----------------------------------------------------------------------------------------------

_ID_PREFIX_OBJECT = {"00Q": "Lead", "003": "Contact", "001": "Account"}
_RAW_FIELDS = (
    "Object", "FirstName", "LastName", "Company", "Account.Name", "Title", "Department",
    "Email", "Phone", "MobilePhone", "Street", "City", "State", "PostalCode", "Country",
    "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry",
    "Birthdate", "LeadSource", "CreatedDate", "LastModifiedDate",
)
# A Person Account (a B2C org's customer: an Account that is a person, Id prefix 001, exported
# with IsPersonAccount) carries the person's fields under Person* names: its mailbox is PersonEmail,
# its mobile PersonMobilePhone, its address PersonMailing*. Where a standard field is missing or
# blank, the Person Account field stands in (two exports of one customer agree on PersonEmail as
# two Contacts agree on Email). FirstName / LastName are the Person Account's own.
PERSON_ACCOUNT_FIELDS: dict[str, tuple[str, ...]] = {
    "Email": ("PersonEmail",), "Phone": ("PersonHomePhone",), "MobilePhone": ("PersonMobilePhone",),
    "MailingStreet": ("PersonMailingStreet",), "MailingCity": ("PersonMailingCity",),
    "MailingState": ("PersonMailingState",), "MailingPostalCode": ("PersonMailingPostalCode",),
    "MailingCountry": ("PersonMailingCountry",), "Birthdate": ("PersonBirthdate",), "Title": ("PersonTitle",),
    "Department": ("PersonDepartment",), "LeadSource": ("PersonLeadSource",),
}


def raw_field_sql(field: str, by_lower: dict[str, str], alias: str = "") -> str | None:
    """SQL for a standard raw field as VARCHAR (its column, else or where blank the Person Account
    field standing in for it: PERSON_ACCOUNT_FIELDS), or None when the table has neither.
    `by_lower`: the table's column names by their lower case; `alias`: a table alias to qualify them."""
    prefix = f"{alias}." if alias else ""
    names = [by_lower[c.lower()] for c in (field, *PERSON_ACCOUNT_FIELDS.get(field, ())) if c.lower() in by_lower]
    if not names:
        return None
    exprs = [f"CAST({prefix}{_q(c)} AS VARCHAR)" for c in names]
    return exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"


_TS_FORMATS = (
    "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M", "%Y/%m/%d", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M", "%m/%d/%Y", "%Y年%m月%d日 %H:%M", "%Y年%m月%d日",
)


# a time of day followed by a UTC offset or Z (a bare date such as 2023-04-01 has none)
_TS_OFFSET = ":[0-9]{2}([.,][0-9]+)? ?([zZ]|[+-][0-9]{2}(:?[0-9]{2})?)$"


def _sql_timestamp(c: str) -> str:
    """ISO 8601 / Data Loader timestamps (offsets converted to UTC), a few export formats."""
    fmts = ", ".join(_lit(f) for f in _TS_FORMATS)
    return (
        f"coalesce(CASE WHEN regexp_matches({c}, {_lit(_TS_OFFSET)}) "
        f"THEN timezone('UTC', try_cast({c} AS TIMESTAMPTZ)) ELSE try_cast({c} AS TIMESTAMP) END, "
        f"try_strptime({c}, [{fmts}]))"
    )


class _Col:
    """One raw column, dictionary-encoded, with its row indices already in rec_idx order.
    ``values`` are the distinct raw strings; ``idx`` the per-row index into them (-1 = NULL)."""

    def __init__(self, arr: pa.Array | None, order: pa.Array, n: int) -> None:
        if arr is None:
            self.dictionary = pa.array([], pa.string())
            self.idx = np.full(n, -1, dtype=np.int32)
        else:
            enc = arr.dictionary_encode()
            self.dictionary = enc.dictionary
            self.idx = pc.fill_null(enc.indices.take(order), -1).to_numpy(zero_copy_only=False)
        self._values: list | None = None
        self._present: np.ndarray | None = None

    @classmethod
    def of(cls, dictionary: pa.Array, idx: np.ndarray) -> "_Col":
        """A column given as its distinct values and the per-row index into them (-1 = NULL)."""
        col = cls(None, pa.array([], pa.int64()), len(idx))
        col.dictionary, col.idx = dictionary, idx
        return col

    @property
    def values(self) -> list:
        if self._values is None:
            self._values = self.dictionary.to_pylist()
        return self._values

    def present(self) -> np.ndarray:
        """Per row: the value is there and not blank."""
        if self._present is None:
            d = pc.not_equal(pc.utf8_trim_whitespace(self.dictionary), "").to_numpy(zero_copy_only=False)
            out = np.zeros(len(self.idx), dtype=bool)
            m = self.idx >= 0
            out[m] = d[self.idx[m]]
            self._present = out
        return self._present

    def used(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Dictionary entries referenced by the selected rows."""
        u = np.zeros(len(self.dictionary), dtype=bool)
        sel = self.idx if rows is None else self.idx[rows]
        u[sel[sel >= 0]] = True
        return u

    def compute(self, fn: Callable, types: Sequence[pa.DataType], used: np.ndarray | None = None) -> list[pa.Array]:
        """fn(value) -> tuple, for the used dictionary entries; one Arrow array per output
        (NULL for the entries not computed)."""
        vals = self.values
        pos = np.arange(len(vals)) if used is None else np.flatnonzero(used)
        res = map_values(fn, [vals[i] for i in pos.tolist()])
        out = []
        for j, t in enumerate(types):
            col = np.full(len(vals), None, dtype=object)
            if res:
                col[pos] = [r[j] for r in res]
            out.append(pa.array(col, t))
        return out


_POSTAL_STEPS = _Steps([
    ("\\.0+$", "", False, (".",)),
    # the address after the postal code in one field (〒100-0001 東京都千代田区千代田1-1): the code
    ("(?s)^[^0-9]*([0-9][0-9][0-9])[-‐−―ー ]?([0-9][0-9][0-9][0-9])[^0-9].*$", "\\1\\2", False, ()),
    ("[^0-9]+", "", True, ()),
])


#: A street that starts with its postal code (a card's 住所: 〒180-0004 東京都武蔵野市…): group 1, 2 the code.
STREET_POSTAL_RE = "^[ \t]*(?:〒[ \t]*)?([0-9]{3})[-‐−―ー]?([0-9]{4})(?:[^0-9]|$)"


def _street_postal_map(views: "_Views", col: "_Col", name: str) -> pa.Array:
    """The postal code a street value starts with (NULL for the others), over its dictionary."""
    if len(col.dictionary) == 0:
        return pa.array([], pa.string())
    src = pa.table({"raw": pc.utf8_normalize(col.dictionary, "NFKC")})
    return views.sql_map(
        name, src,
        f"SELECT _i, CASE WHEN regexp_matches(raw, {_lit(STREET_POSTAL_RE)}) "
        f"THEN regexp_extract(raw, {_lit(STREET_POSTAL_RE)}, 1) || regexp_extract(raw, {_lit(STREET_POSTAL_RE)}, 2) END AS v "
        f"FROM {{src}}",
    ).column("v").combine_chunks()


def _postal_map(views: "_Views", col: "_Col", name: str) -> pa.Array:
    """SQL twin of ``normalize_postal`` over a dictionary of raw values."""
    if len(col.dictionary) == 0:
        return pa.array([], pa.string())
    src = pa.table({"raw": pc.utf8_normalize(col.dictionary, "NFKC")})
    q = _POSTAL_STEPS.sql("SELECT _i, raw AS t FROM {src}", "t")
    return views.sql_map(name, src, f"SELECT _i, NULLIF(t, '') AS v FROM ({q})").column("v").combine_chunks()


def _threads(con: duckdb.DuckDBPyConnection) -> int:
    try:
        return max(1, min(4, int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])))
    except (duckdb.Error, ValueError, TypeError):  # pragma: no cover
        return 2


def _single(col: pa.ChunkedArray) -> pa.Array:
    """One contiguous plain-string array (DuckDB may hand out several chunks, or string views)."""
    arr = col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)
    return arr if arr.type == pa.string() else arr.cast(pa.string())


_SCAN_CHUNK = 16_384  # rows per record batch of a registered Arrow table (DuckDB's unit of parallel scan)


class _Views:
    """Arrow tables registered on the connection for the duration of the stage (and what else
    must be let go when it ends: `on_cleanup`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.prefix = f"_nz_{uuid.uuid4().hex[:8]}_"
        self.names: list[str] = []
        self.callbacks: list[Callable[[], None]] = []

    def on_cleanup(self, fn: Callable[[], None]) -> None:
        self.callbacks.append(fn)

    def register(self, name: str, table: pa.Table) -> str:
        full = self.prefix + name
        if table.num_rows > _SCAN_CHUNK:
            # DuckDB scans an Arrow table one record batch per thread: one batch of 100k rows
            # (what pa.table builds) keeps the whole query on one core.
            table = pa.Table.from_batches(table.to_batches(max_chunksize=_SCAN_CHUNK), table.schema)
        self.con.register(full, table)
        self.names.append(full)
        return full

    def sql_map(self, name: str, table: pa.Table, query: str) -> pa.Table:
        """Run ``query`` (a SELECT over ``{src}`` that keeps the column ``_i``) on ``table``; the
        result rows are aligned with ``table``'s rows."""
        t = table.append_column("_i", pa.array(np.arange(table.num_rows, dtype=np.int64)))
        view = self.register(name, t)
        sql = query.replace("{src}", view)
        return self.con.sql(f"SELECT * EXCLUDE (_i) FROM ({sql}) ORDER BY _i").to_arrow_table()

    def cleanup(self) -> None:
        for fn in self.callbacks:  # (e.g. a child process whose result is not wanted after an error)
            fn()
        self.callbacks.clear()
        for name in reversed(self.names):
            try:
                self.con.unregister(name)
            except duckdb.Error:  # pragma: no cover
                pass
        self.names.clear()


def preload() -> threading.Thread:
    """Start loading the kanji reading dictionary in the background (about 0.7 s), so that it is
    ready when normalize starts; call it before reading the input."""
    loader = threading.Thread(target=_KANJI.load, name="nayose-kanji-preload", daemon=True)
    loader.start()
    return loader


def normalize_records(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    source: str = "raw_records",
    target: str = "normalized_records",
    vocabulary: dict[str, set[str]] | None = None,
) -> StageResult:
    """Build ``target`` (CREATE OR REPLACE; one row per ``source`` row, rec_idx dense and in Id
    order) with the columns in OUTPUT_COLUMNS. Missing source columns count as all NULL, blank
    strings as NULL.

    ``vocabulary`` (keys ``last``, ``last_r``, ``first_r``, ``city``) replaces what is otherwise
    learnt from ``source`` itself -- the surnames / readings used to split whole names and the
    cities taken off streets: an incremental run normalizes a few records with the whole
    snapshot's vocabulary (nayose.incremental)."""
    result = StageResult(stage="normalize", table=target)
    with timed(result), fine_grained_scans(con, table_rows(con, source)):
        views = _Views(con)
        try:
            # millions of short-lived tuples: no cyclic garbage, but costly full collections
            with _gc_paused():
                _run(con, config, source, target, result, views, vocabulary)
                _apply_readings_and_placeholders(con, config, source, target, result)
        finally:
            views.cleanup()
    return result


_READING_RE = {
    "last": re.compile(r"(?i)^(last.?name.?(kana|furigana|yomi|reading)|(kana|furigana|yomi).?last.?name|"
                       r"sei|セイ|姓.?[(（]?(カナ|かな|フリガナ|ふりがな|よみ|読み)[)）]?|フリガナ.?[(（]?姓[)）]?)(__c)?$"),
    "first": re.compile(r"(?i)^(first.?name.?(kana|furigana|yomi|reading)|(kana|furigana|yomi).?first.?name|"
                        r"mei|メイ|名.?[(（]?(カナ|かな|フリガナ|ふりがな|よみ|読み)[)）]?|フリガナ.?[(（]?名[)）]?)(__c)?$"),
}
MIN_READING_KANA = 2  # a shorter reading is truncated (Eight keeps only the first kana): not used


def is_reading_column(name: str) -> bool:
    """A surname / given-name reading (フリガナ) column by its header (LastNameKana__c, セイ, 姓（カナ）)."""
    return any(rx.match(name.strip()) for rx in _READING_RE.values())


def reading_columns(columns: Sequence[str], config: Config) -> dict[str, str]:
    """The surname / given-name reading columns: from the config, else detected by header."""
    found: dict[str, str] = {}
    explicit = {"last": config.input.last_name_reading_column, "first": config.input.first_name_reading_column}
    for part, name in explicit.items():
        if name:
            match = next((c for c in columns if c.lower() == name.lower()), None)
            if match is not None:
                found[part] = match
        else:
            match = next((c for c in columns if _READING_RE[part].match(c.strip())), None)
            if match is not None:
                found[part] = match
    return found


def _reading_of_kana(v: str) -> str | None:
    """Romaji key of a reading field's value, or None when it is not a usable reading."""
    t = _hira2kata(_nfkc(v)).replace(" ", "").replace("\u3000", "")
    if len(t) < MIN_READING_KANA or not re.fullmatch(r"[\u30a0-\u30ffー]+", t):
        return None
    return romaji_key(t)


def _apply_readings_and_placeholders(
    con: duckdb.DuckDBPyConnection, config: Config, source: str, target: str, result: StageResult
) -> None:
    """Second pass over the normalized table:
    - readings from the source's reading (フリガナ) columns, where present, replace the guessed
      romaji of the kanji name (pykakasi cannot know whether 河野 is Kono or Kawano; the card can);
    - company placeholders (個人, [[Unknown]], -) and a company that is the person's own name
      become NULL: they are not a company, and agreeing on them is no evidence."""
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    readings = reading_columns(cols, config)
    placeholders = sorted({c for c in (split_company(p)[0] for p in config.input.company_placeholders) if c})
    joins, last_r, first_r = [], "t.last_reading", "t.first_reading"
    id_col = next((c for c in cols if c.lower() == (config.input.id_column or "Id").lower()), "Id")
    used = {}
    for part, col in readings.items():
        values = [r[0] for r in con.execute(f"SELECT DISTINCT {_q(col)} FROM {source} WHERE {_q(col)} IS NOT NULL").fetchall()]
        mapped = [(v, _reading_of_kana(str(v))) for v in values]
        mapped = [(v, r) for v, r in mapped if r]
        used[part] = {"column": col, "distinct_readings": len(mapped)}
        if not mapped:
            continue
        tbl = pa.table({"v": pa.array([str(v) for v, _ in mapped]), "r": pa.array([r for _, r in mapped])})
        view = f"_nayose_reading_{part}"
        con.register(view, tbl)
        joins.append(f"LEFT JOIN {view} {part}_r ON {part}_r.v = CAST(s.{_q(col)} AS VARCHAR)")
        if part == "last":
            last_r = "CASE WHEN t.last_name IS NOT NULL AND t.first_name IS NOT NULL THEN coalesce(last_r.r, t.last_reading) ELSE t.last_reading END"
        else:
            first_r = "CASE WHEN t.first_name IS NOT NULL THEN coalesce(first_r.r, t.first_reading) ELSE t.first_reading END"
    ph = ", ".join(_lit(p) for p in placeholders) or "NULL"
    source_join = f"JOIN {source} s ON CAST(s.{_q(id_col)} AS VARCHAR) = t.id"
    # In-place updates touch only the rows that change (cheaper than rewriting the table).
    if joins:
        con.execute(
            f"""UPDATE {target} AS u SET last_reading = x.lr, first_reading = x.fr
            FROM (SELECT t.rec_idx, {last_r} AS lr, {first_r} AS fr
                  FROM {target} t {source_join} {' '.join(joins)}) x
            WHERE u.rec_idx = x.rec_idx
              AND (x.lr IS DISTINCT FROM u.last_reading OR x.fr IS DISTINCT FROM u.first_reading)"""
        )
        con.execute(
            f"""UPDATE {target} SET name_key =
                CASE WHEN first_reading IS NULL THEN last_reading WHEN last_reading IS NULL THEN first_reading
                     ELSE least(last_reading, first_reading) || greatest(last_reading, first_reading) END"""
        )
    result.stats["readings_from_mailbox"] = readings_from_mailbox(con, target)
    con.execute(
        f"""UPDATE {target} SET company_core = NULL, company_legal_form = NULL, company_reading = NULL, company_sound = NULL
        WHERE company_core IN ({ph}) OR company_core = full_name
           OR (company_reading IS NOT NULL AND company_reading = last_reading || first_reading)"""
    )
    for part in readings:
        try:
            con.unregister(f"_nayose_reading_{part}")
        except Exception:  # noqa: BLE001 - not registered when the column had no usable value
            pass
    result.stats["reading_columns"] = used


#: The shortest reading a mailbox may confirm (shorter ones, "ii", "oe", sit inside too many words).
MAILBOX_READING_MIN = 3
_KANJI_SQL = "[\u3400-\u9fff\uf900-\ufaff々]"


@lru_cache(maxsize=1 << 16)
def _mailbox_candidates(written: str) -> tuple[str, ...]:
    """The readings of `written` a mailbox may confirm, longest first (`mailbox_reading`)."""
    return tuple(sorted((r for r in possible_readings(written) if len(r) >= MAILBOX_READING_MIN), key=lambda r: (-len(r), r)))


def mailbox_reading(written: str, guess: str | None, letters: str) -> str | None:
    """The reading of a kanji name that a mailbox (`letters`: its local part's letters, lower case)
    spells, when it is not the one guessed: 平浜 guessed tairahama in hirahama.aya@ reads hirahama,
    関丸 in ryunosukesekimaru@ reads sekimaru. Only a reading the dictionary gives the
    name (`possible_readings`), at least MAILBOX_READING_MIN letters long, found in the mailbox's letters
    folded as readings are (ohno = ono); the longest when several are. None when the guess is in the
    mailbox already or no reading is."""
    letters = _fold(letters)
    if not letters or (guess and guess in letters):
        return None
    return next((r for r in _mailbox_candidates(written) if r in letters), None)


def readings_from_mailbox(con: duckdb.DuckDBPyConnection, target: str) -> int:
    """Kanji surnames whose guessed reading the record's own mailbox does not spell, while it spells
    another reading of the name (`mailbox_reading`): that reading replaces the guess in `target` (and
    its name_key). Japanese company and personal addresses spell the holder's name in romaji
    (hirahama.aya@, ryunosukesekimaru@): the one place a kanji name's reading is written down besides
    a フリガナ column. Shared and role mailboxes (info@) say nothing of a name. Surnames only: a family
    shares one address (makoto.higashihori@ for 東堀 誠 and 東堀 亮, whose 亮 also reads makoto), and
    the surname is the family's. SQL keeps the rows whose mailbox misses the guess and holds at least
    MAILBOX_READING_MIN letters besides the given name's reading; Python reads each row's name against
    its mailbox (the readings per distinct name, cached: score compares the same). Returns the rows
    changed."""
    rows = con.sql(f"""
        WITH r AS (
            SELECT rec_idx, last_name, last_reading, first_reading,
                   regexp_replace(lower(email_local), '[^a-z]', '', 'g') AS letters
            FROM {target}
            WHERE email_local IS NOT NULL AND NOT coalesce(email_is_role, false) AND regexp_matches(last_name, '{_KANJI_SQL}')
        )
        SELECT rec_idx, last_name, last_reading, letters FROM r
        WHERE strpos(letters, last_reading) = 0
          AND length(replace(letters, coalesce(nullif(first_reading, ''), '#'), '')) >= {int(MAILBOX_READING_MIN)}""").fetchall()
    changed = [(rec_idx, new) for rec_idx, last, guess, letters in rows
               if (new := mailbox_reading(last, guess, letters)) is not None]
    if not changed:
        return 0
    con.register("_nayose_mailbox_readings", pa.table({
        "rec_idx": pa.array([c[0] for c in changed], pa.int64()), "lr": pa.array([c[1] for c in changed], pa.string())}))
    try:
        con.execute(f"""UPDATE {target} AS u SET last_reading = x.lr,
            name_key = CASE WHEN u.first_reading IS NULL THEN x.lr
                            ELSE least(x.lr, u.first_reading) || greatest(x.lr, u.first_reading) END
            FROM _nayose_mailbox_readings x WHERE u.rec_idx = x.rec_idx""")
    finally:
        con.unregister("_nayose_mailbox_readings")
    return len(changed)


def _select(n: int, sources: Sequence[tuple["_Col", Sequence[pa.Array], np.ndarray | None]]) -> list[pa.Array]:
    """Per-row outputs from dictionary-level arrays: each row takes its value from the first
    source whose mask selects it (``dict_arrays[k][col.idx[row]]``); NULL where none does.
    String outputs come back dictionary-encoded (DuckDB decodes them in parallel while writing),
    other types are gathered with one take -- no hash join either way."""
    if len(sources) == 1 and sources[0][2] is None:
        col = sources[0][0]
        idx = col.idx
    else:
        idx = np.full(n, -1, dtype=np.int32)
        offset = 0
        for col, _, mask in sources:
            m = col.idx >= 0
            if mask is not None:
                m &= mask
            m &= idx < 0
            idx = np.where(m, col.idx + np.int32(offset), idx)
            offset += len(col.dictionary)
    ind = pa.array(idx, type=pa.int32(), mask=idx < 0)
    out = []
    for j in range(len(sources[0][1])):
        p = [src[1][j] for src in sources]
        d = p[0] if len(p) == 1 else pa.concat_arrays([x.cast(p[0].type) for x in p])
        if pa.types.is_string(d.type):
            out.append(pa.DictionaryArray.from_arrays(ind, d))
        else:
            out.append(d.take(ind))
    return out


# DuckDB's Arrow scan handles a dictionary column batch by batch with its whole dictionary: with
# ~760,000 distinct emails (the 1M sample) copying the assembled table took 2.3 s, decoded by
# Arrow first (in threads) 1.0 s. Small dictionaries (object, legal form, prefecture) stay.
DICTIONARY_SCAN_MAX = 1 << 16


def _plain_large_dictionaries(tbl: pa.Table, threads: int) -> pa.Table:
    """`tbl` with its dictionary-encoded string columns of more than DICTIONARY_SCAN_MAX entries
    decoded to plain strings (the same values)."""
    large = [i for i, f in enumerate(tbl.schema) if pa.types.is_dictionary(f.type)
             and any(len(chunk.dictionary) > DICTIONARY_SCAN_MAX for chunk in tbl.column(i).chunks)]
    if not large:
        return tbl
    with ThreadPoolExecutor(max_workers=threads) as pool:  # (Arrow's take releases the GIL)
        plain = list(pool.map(lambda i: tbl.column(i).cast(tbl.schema.field(i).type.value_type), large))
    for i, col in zip(large, plain):
        tbl = tbl.set_column(i, tbl.schema.field(i).name, col)
    return tbl


def _foreign_sound_array(names: pa.Array) -> pa.Array:
    """foreign_name_sound per row of a (dictionary-encoded) string array, computed once per
    distinct value; NULL where the name is neither katakana nor Latin letters only."""
    if isinstance(names, pa.ChunkedArray):
        names = names.combine_chunks()
    if not pa.types.is_dictionary(names.type):
        names = names.dictionary_encode()
    # (the dictionary `_select` builds joins its sources' dictionaries: the same name may be in it twice)
    distinct = names.dictionary.dictionary_encode()
    sounds = pa.array(map_values(_foreign_sound_of, distinct.dictionary.to_pylist()), pa.string())
    return sounds.take(distinct.indices).take(names.indices)


def _foreign_sound_of(v: str | None) -> str | None:
    return foreign_name_sound(v) if v and foreign_name_script(v) else None


COMPANY_CHILD_MIN = 5_000  # distinct raw company values (~17 µs of work each) worth a child process


def _company_arrays(sources: Sequence[tuple["_Col", np.ndarray]]) -> list[list[pa.Array]]:
    """Per source column (a `_Col` and the rows that take their company from it): core, legal
    form, reading and sound per dictionary entry used by those rows (an English core's business
    words read as Japanese: COMPANY_WORDS_EN), for `_select`. Many raw spellings share one core
    ((株)ABC, ABC株式会社, ＡＢＣ㈱), and the Company and Account.Name fields share companies: the
    reading (pykakasi, the costly part) is computed once per distinct spaced core over all
    sources, the sound once per distinct (core, reading), not per raw value. Pure: normalize runs
    it in a forked child (`Forked`) while it works on the names."""
    splits = []
    for col, mask in sources:
        pos = np.flatnonzero(col.used(mask))
        vals = col.values
        splits.append((pos, map_values(_split_company, [vals[i] for i in pos.tolist()])))
    spaced = list(dict.fromkeys(sp for _, parts in splits for core, _, sp in parts if core and sp))
    reading_of = dict(zip(spaced, map_values(company_reading, spaced)))
    readings_of = [[reading_of[p[2]] if p[0] and p[2] else None for p in parts] for _, parts in splits]
    both = list(dict.fromkeys((p[0], r) for (_, parts), readings in zip(splits, readings_of)
                              for p, r in zip(parts, readings)))
    sound_of = dict(zip(both, map_values(_company_sound_of, both)))
    out = []
    for (col, _mask), (pos, parts), readings in zip(sources, splits, readings_of):
        per_entry = ([p[0] for p in parts], [p[1] for p in parts], readings,
                     [sound_of[(p[0], r)] for p, r in zip(parts, readings)])
        arrays = []
        for column in per_entry:
            values = np.full(len(col.dictionary), None, dtype=object)
            if parts:
                values[pos] = column
            arrays.append(pa.array(values, pa.string()))
        out.append(arrays)
    return out


def _distinct_pairs(a: np.ndarray, b: np.ndarray, b_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (a, b) pairs of two integer code arrays (codes 0..; -1 for none, b's below
    b_size), as one integer key each: (a of each distinct pair, b of each, the distinct pair of
    every row), in (a, b) order."""
    width = b_size + 1
    key = (a.astype(np.int64) + 1) * width + (b.astype(np.int64) + 1)
    distinct, inverse = np.unique(key, return_inverse=True)
    return distinct // width - 1, distinct % width - 1, inverse.reshape(-1)


def _company_sound_of(core_reading: tuple) -> str | None:
    return company_sound(*core_reading)


#: What a checkbox holds when true (IsConverted, IsDeleted, HasOptedOutOfEmail, IsPersonAccount …),
#: lower case: Data Loader writes true / false, other exports 1 / 0, yes / no, on, はい / いいえ. The
#: one list eligibility, survivorship and normalize read.
TRUE_FLAG_VALUES = ("true", "1", "yes", "y", "t", "on", "はい")
_KEPT_WHEN_READ_ONLY = ("Object", "CreatedDate", "LastModifiedDate")


def read_only_record_sql(columns_by_lower: dict[str, str], alias: str = "") -> str | None:
    """SQL: the row is a record Salesforce keeps read-only -- a Lead already converted
    (IsConverted true) or a deleted record (IsDeleted true: the Recycle Bin, a merge loser, as
    Data Loader's Export All writes them) --, or None when the table has neither column.

    A converted Lead is what remains of a Lead that became a Contact: hidden from the Lead lists,
    never merged, edited or converted again -- and beside its own Contact it looks like a perfect
    duplicate (the same name, mailbox and phone). A deleted record cannot be merged either. So
    normalize keeps only their Id, object and dates: no rule pairs them with anything, they teach
    the vocabulary nothing, and they are single records in every output (an extract and a Data
    Loader export include converted Leads unless asked not to)."""
    flags = [columns_by_lower[c] for c in ("isconverted", "isdeleted") if c in columns_by_lower]
    if not flags:
        return None
    values = ", ".join(_lit(v) for v in TRUE_FLAG_VALUES)
    tests = [f"coalesce(lower(trim(CAST({f'{alias}.' if alias else ''}{_q(c)} AS VARCHAR))) IN ({values}), false)" for c in flags]
    return "(" + " OR ".join(tests) + ")"


def person_account_sql(columns_by_lower: dict[str, str], alias: str = "") -> str:
    """SQL: the row is a Person Account (IsPersonAccount true); 'false' when there is no such column."""
    if "ispersonaccount" not in columns_by_lower:
        return "false"
    values = ", ".join(_lit(v) for v in TRUE_FLAG_VALUES)
    col = f"{alias + '.' if alias else ''}{_q(columns_by_lower['ispersonaccount'])}"
    return f"coalesce(lower(trim(CAST({col} AS VARCHAR))) IN ({values}), false)"


def business_account_sql(columns_by_lower: dict[str, str], alias: str = "") -> str | None:
    """SQL: the row is a business Account (Object Account, not a Person Account), or None when the
    table has no Object column. A company, not a person: nayose.accounts matches it with other
    Accounts; normalize keeps only its object and dates, as for a read-only record, so that it
    pairs with no person and teaches the people's vocabulary and value counts nothing."""
    if "object" not in columns_by_lower:
        return None
    col = f"{alias + '.' if alias else ''}{_q(columns_by_lower['object'])}"
    return f"(coalesce(trim(CAST({col} AS VARCHAR)) = 'Account', false) AND NOT {person_account_sql(columns_by_lower, alias)})"


def not_matched_as_person_sql(columns_by_lower: dict[str, str], alias: str = "") -> str | None:
    """SQL: a read-only record (read_only_record_sql) or a business Account (business_account_sql):
    no person-matching rule pairs it with anything; None when the table can hold neither."""
    parts = [x for x in (read_only_record_sql(columns_by_lower, alias), business_account_sql(columns_by_lower, alias)) if x]
    return "(" + " OR ".join(parts) + ")" if parts else None


def born_on_creation_day_sql(birth_date: str, created: str) -> str:
    """SQL: the DATE `birth_date` lies within a day of its record's creation `created` (a timestamp):
    a form's date picker left at today (a day either side, for the time zones) -- no birth date."""
    return f"abs(date_diff('day', {birth_date}, CAST({created} AS DATE))) <= 1"


def _unless_read_only(expr: str, read_only: str | None, field: str) -> str:
    if read_only is None or field in _KEPT_WHEN_READ_ONLY:
        return expr
    return f"CASE WHEN {read_only} THEN NULL ELSE {expr} END"


def _run(
    con: duckdb.DuckDBPyConnection, config: Config, source: str, target: str, result: StageResult, views: _Views,
    vocabulary: dict[str, set[str]] | None = None,
) -> None:
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal t0
        now = time.perf_counter()
        timings[name] = round(now - t0, 3)
        t0 = now

    # ---- read ----------------------------------------------------------------------------
    loader = threading.Thread(target=_KANJI.load, name="nayose-kanji-load", daemon=True)
    loader.start()  # pykakasi's dictionary (~10 MB pickle) loads while DuckDB/Arrow work
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    except duckdb.Error as exc:
        raise InputError(f"normalize: cannot read table {source!r}: {exc}") from None
    by_lower = {c.lower(): c for c in cols}
    id_col = by_lower.get((config.input.id_column or "Id").lower()) or by_lower.get("id")
    if id_col is None:
        raise InputError(f"normalize: table {source!r} has no Id column", column="Id")
    present = {f: sql for f in _RAW_FIELDS if (sql := raw_field_sql(f, by_lower)) is not None}
    # (a converted Lead, a deleted record or a business Account keeps only its object and dates: see
    # read_only_record_sql and business_account_sql)
    read_only = not_matched_as_person_sql(by_lower)
    select = [f"CAST({_q(id_col)} AS VARCHAR) AS id"] + [
        f"{_unless_read_only(sql, read_only, f)} AS {_q(f)}" for f, sql in present.items()
    ]
    # a business-card service's person identifier: the first configured field with a value
    person_fields = [by_lower[f.lower()] for f in config.matching.person_id_fields if f.lower() in by_lower]
    if person_fields:
        person_sql = "coalesce(" + ", ".join(f"nullif(trim(CAST({_q(f)} AS VARCHAR)), '')" for f in person_fields) + ")"
        select.append(f"{_unless_read_only(person_sql, read_only, '__person_id')} AS __person_id")
    raw = con.sql(f"SELECT {', '.join(select)} FROM {source}").to_arrow_table()
    n = raw.num_rows
    lap("fetch")
    ids = _single(raw.column("id"))
    order = pc.sort_indices(ids)  # stable; NULL ids last
    stamp_fields = ("CreatedDate", "LastModifiedDate")
    enc_fields = [f for f in _RAW_FIELDS if f not in stamp_fields]
    # pyarrow releases the GIL: encode the columns on a few threads
    with ThreadPoolExecutor(max_workers=_threads(con)) as pool:
        built = list(pool.map(lambda f: _Col(_single(raw.column(f)) if f in present else None, order, n), enc_fields))
    c: dict[str, _Col] = dict(zip(enc_fields, built))
    stamps = {
        f: _single(raw.column(f)).take(order) if f in present else pa.nulls(n, pa.string()) for f in stamp_fields
    }
    ids_sorted = ids.take(order)
    person = _Col(_single(raw.column("__person_id")) if person_fields else None, order, n)
    del raw
    obj = c["Object"]
    (object_raw,) = _select(n, [(obj, [pc.utf8_trim_whitespace(obj.dictionary)], None)])
    lap("read")
    stats: dict = {"rows": n, "missing_columns": [f for f in _RAW_FIELDS if f not in present]}
    if (ro := read_only_record_sql(by_lower)) is not None:  # (converted Leads and deleted records: matched with nothing)
        stats["read_only_records"] = int(con.execute(f"SELECT count(*) FROM {source} WHERE {ro}").fetchall()[0][0])

    # ---- which fields feed which outputs ----------------------------------------------------
    c1, c2 = c["Country"], c["MailingCountry"]  # phone region: Country, else MailingCountry, else JP
    use_c1 = c1.present()
    use_c2 = ~use_c1 & c2.present()

    def region_fn(v: str) -> tuple:
        return (country_region(v),)

    (region_rows,) = _select(
        n, [(c1, c1.compute(region_fn, [pa.string()], c1.used(use_c1)), use_c1),
            (c2, c2.compute(region_fn, [pa.string()], c2.used(use_c2)), use_c2)]
    )
    region_rows = region_rows.cast(pa.string()).fill_null("JP")
    # address: Street/City/State/PostalCode, else the Mailing* fields
    std = [c[f] for f in ("Street", "City", "State", "PostalCode")]
    mail = [c[f] for f in ("MailingStreet", "MailingCity", "MailingState", "MailingPostalCode")]
    use_std = np.zeros(n, dtype=bool)
    for col in std:
        use_std |= col.present()
    use_mail = ~use_std

    # ---- companies, in a child process while this one does the SQL maps and the names --------
    loader.join()
    co, an = c["Company"], c["Account.Name"]  # company: Company, else Account.Name
    use_co = co.present()
    use_an = ~use_co & an.present()
    company_sources = [(co, use_co), (an, use_an)]
    # The companies' Python work (cores, readings, sounds) and the names' are independent: below
    # map_values' own split (PARALLEL_MIN values) a forked child computes the companies while
    # this process goes on (100k sample: 25,000 values, ~0.4 s of company work; the child needs
    # the kanji dictionary, loaded by then). Below COMPANY_CHILD_MIN values the fork costs more.
    company_values = int(co.used(use_co).sum() + an.used(use_an).sum())
    company_job = (Forked(_company_arrays, company_sources) if COMPANY_CHILD_MIN <= company_values < PARALLEL_MIN
                   else None)
    if company_job is not None:
        views.on_cleanup(company_job.cancel)

    # ---- SQL maps: emails, phones, streets, postal codes (DuckDB, both cores) --------------
    # (Overlapping them with the names' Python maps below, in a thread on a second connection, was
    # measured slower on two cores: DuckDB already keeps both busy. The company child above does
    # gain: it has the names' stretch, on one core here, to itself.)
    m = {
        "email": _email_map(views, c["Email"]),
        "phone": _phone_rows(views, c["Phone"], region_rows, "phone"),
        "mobile": _phone_rows(views, c["MobilePhone"], region_rows, "mobile"),
        "later_mobile": _later_mobile_rows(c["Phone"], region_rows),
        "street_std": _street_map(views, std[0], "street"),
        "street_mail": _street_map(views, mail[0], "mailing_street"),
        "postal_std": _postal_map(views, std[3], "postal"),
        "street_postal_std": _street_postal_map(views, std[0], "street_postal"),
        "street_postal_mail": _street_postal_map(views, mail[0], "mailing_street_postal"),
        "postal_mail": _postal_map(views, mail[3], "mailing_postal"),
    }
    lap("sql_maps")
    # ---- names ---------------------------------------------------------------------------
    # (a placeholder name -- 不明, ご担当者様, '-' -- is no name: emptied, so that it never agrees)
    ln, fn = (_Col.of(clean_name_values(x.dictionary, config.input.name_placeholders), x.idx)
              for x in (c["LastName"], c["FirstName"]))
    pl, pf = ln.present(), fn.present()
    both, ln_only, fn_only = pl & pf, pl & ~pf, pf & ~pl

    def name_part(v: str) -> tuple:
        return _name_norm(v), romaji_key(v)

    ln_used, fn_used = ln.used(both), fn.used(both)
    ln_part = ln.compute(name_part, [pa.string()] * 2, ln_used)
    fn_part = fn.compute(name_part, [pa.string()] * 2, fn_used)
    known_last = {x for x in pc.filter(ln_part[0], pa.array(ln_used)).to_pylist() if x and _is_japanese(x)}
    known_last_r = {x for x in pc.filter(ln_part[1], pa.array(ln_used)).to_pylist() if x}
    known_first_r = {x for x in pc.filter(fn_part[1], pa.array(fn_used)).to_pylist() if x}
    if vocabulary is not None:
        known_last, known_last_r, known_first_r = vocabulary["last"], vocabulary["last_r"], vocabulary["first_r"]
    split_counts = {"space": 0, "comma": 0, "dot": 0, "learned": 0, "unsplit": 0}

    def whole(v: str) -> tuple:
        last, first, how = _split_whole(v, known_last, known_last_r, known_first_r)
        ln_n = _name_norm(last) if last is not None else None
        fn_n = _name_norm(first) if first is not None else None
        if ln_n is None and fn_n is not None:
            last, first, ln_n, fn_n = first, None, fn_n, None
        return (ln_n, fn_n, _name_reading(last) if ln_n else None, _name_reading(first) if fn_n else None, how)

    ln_whole = ln.compute(whole, [pa.string()] * 5, ln.used(ln_only))
    fn_whole = fn.compute(whole, [pa.string()] * 5, fn.used(fn_only))
    for how in (ln_whole[4], fn_whole[4]):  # how each distinct whole name was split
        for entry in pc.value_counts(how.drop_null()).to_pylist():
            split_counts[entry["values"]] += entry["counts"]
    n_last = [ln_part[0], ln_part[1]]
    last_name, last_reading = _select(
        n, [(ln, n_last, both), (ln, [ln_whole[0], ln_whole[2]], ln_only), (fn, [fn_whole[0], fn_whole[2]], fn_only)]
    )
    first_name, first_reading = _select(
        n, [(fn, [fn_part[0], fn_part[1]], both), (ln, [ln_whole[1], ln_whole[3]], ln_only),
            (fn, [fn_whole[1], fn_whole[3]], fn_only)]
    )
    stats["whole_name_values"] = split_counts
    lap("names")

    # ---- company: Company, else Account.Name --------------------------------------------
    company_arrays = company_job.result() if company_job is not None else _company_arrays(company_sources)
    company = _select(n, [(col, arrays, mask) for (col, mask), arrays in zip(company_sources, company_arrays)])
    lap("company")

    # ---- cities, states, birthdates, short texts (Python) -----------------------------------
    def pick(i: int, fn_: Callable, k: int) -> list[pa.Array]:
        a, b = std[i], mail[i]
        types = [pa.string()] * k
        return _select(
            n, [(a, a.compute(fn_, types, a.used(use_std)), use_std),
                (b, b.compute(fn_, types, b.used(use_mail)), use_mail)]
        )

    def state_fn(v: str) -> tuple:
        p = canonical_prefecture(v)
        return p, (None if p else _collapse_text(v, True))

    types2 = [pa.string(), pa.string()]
    city_std = std[1].compute(_city, types2, std[1].used(use_std))
    city_mail = mail[1].compute(_city, types2, mail[1].used(use_mail))
    city_n, city_pref = _select(n, [(std[1], city_std, use_std), (mail[1], city_mail, use_mail)])
    no_city = ~(_rows_valid(std[1], city_std[0], use_std) | _rows_valid(mail[1], city_mail[0], use_mail))
    # Japanese cities seen in City fields, to take the city off the front of a street whose row has
    # no City (so 'Street: 千代田区千代田1-1-1' matches 'City: 千代田区, Street: 千代田1-1-1')
    known_cities = {x for x in city_n.dictionary.to_pylist() if x and len(x) >= 2 and _is_japanese(x)}
    if vocabulary is not None:
        known_cities = vocabulary["city"]
    state_pref, state_text = pick(2, state_fn, 2)
    bd = c["Birthdate"]
    no_birthdate = {parse_birthdate(d) for d in config.input.birthdate_placeholders} - {None}

    def birthdate_fn(v: str) -> tuple:  # (a system's zero date is no birth date: 1900-01-01)
        d = _parse_birthdate(v)
        return (None if d in no_birthdate else d,)

    (birthdate,) = _select(n, [(bd, bd.compute(birthdate_fn, [pa.string()]), None)])
    texts = {}
    for f, fold in (("Title", True), ("Department", True), ("LeadSource", False)):
        col = c[f]
        (texts[f],) = _select(
            n, [(col, col.compute(lambda v, fold=fold: (_collapse_text(v, fold),), [pa.string()]), None)]
        )
    (card_person_id,) = _select(n, [(person, person.compute(lambda v: (_collapse_text(v, False),), [pa.string()]), None)])
    lap("python_other")

    # ---- rows from the SQL maps -------------------------------------------------------------
    em, em_t = c["Email"], m["email"]
    email_cols = _select(n, [(em, [em_t.column(k).combine_chunks() for k in
                                   ("email", "local", "domain", "freemail", "role")], None)])
    # (no MobilePhone, and a mobile written after the switchboard in Phone: that is the mobile)
    phone_cols = [m["phone"][:2], [pc.coalesce(m["mobile"][0].cast(pa.string()), m["later_mobile"])]]
    stats["mobiles_from_phone"] = int(pc.sum(pc.and_(pc.is_null(m["mobile"][0]), pc.is_valid(m["later_mobile"])))
                                      .as_py() or 0)
    stats["phones_python_path"] = m["phone"][2] + m["mobile"][2]
    st_std, st_mail = m["street_std"], m["street_mail"]
    street_n, street_pref, street_city, street_rest = _select(
        n, [(std[0], st_std + _learned_city(st_std[0], known_cities, std[0].used(use_std & no_city)), use_std),
            (mail[0], st_mail + _learned_city(st_mail[0], known_cities, mail[0].used(use_mail & no_city)), use_mail)]
    )
    # (no postal code field: the code a card's whole address in Street starts with, 〒180-0004 東京都…)
    (postal,) = _select(n, [(std[3], [m["postal_std"]], use_std), (mail[3], [m["postal_mail"]], use_mail),
                            (std[0], [m["street_postal_std"]], use_std), (mail[0], [m["street_postal_mail"]], use_mail)])
    lap("select")

    # ---- assemble ------------------------------------------------------------------------
    tbl = pa.table(
        {
            "rec_idx": pa.array(np.arange(n, dtype=np.int32)),
            "id": ids_sorted,
            "object_raw": object_raw,
            "last_name": last_name, "first_name": first_name,
            "last_reading": last_reading, "first_reading": first_reading,
            "last_sound": _foreign_sound_array(last_name), "first_sound": _foreign_sound_array(first_name),
            "company_core": company[0], "company_legal_form": company[1], "company_reading": company[2],
            "company_sound": company[3],
            "email": email_cols[0], "email_local": email_cols[1], "email_domain": email_cols[2],
            "email_is_freemail": email_cols[3], "email_is_role": email_cols[4],
            "phone": phone_cols[0][0], "phone_is_mobile": phone_cols[0][1], "mobile": phone_cols[1][0],
            "postal_code": postal, "state_pref": state_pref, "city_pref": city_pref, "street_pref": street_pref,
            "city_n": city_n, "street_n": street_n, "street_city": street_city, "street_rest": street_rest,
            "state": state_text, "birthdate": birthdate,
            "title": texts["Title"], "department": texts["Department"], "lead_source": texts["LeadSource"],
            "created_raw": stamps["CreatedDate"], "modified_raw": stamps["LastModifiedDate"],
            "card_person_id": card_person_id,
        }
    )
    view = views.register("assembled", _plain_large_dictionaries(tbl, _threads(con)))
    no_address = ", ".join(_lit(x) for x in address_placeholders(config)) or "NULL"
    default_obj = _lit(config.input.default_object) if config.input.default_object else "NULL"
    id_prefix = " ".join(f"WHEN left(id, 3) = {_lit(p)} THEN {_lit(o)}" for p, o in _ID_PREFIX_OBJECT.items())
    keep_order = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute(
        f"""CREATE OR REPLACE TABLE {target} AS
        WITH j AS (
          SELECT * REPLACE (
              -- (an address that only holds the place -- 不明, なし, 〒000-0000 -- is no address)
              CASE WHEN street_n IN ({no_address}) THEN NULL ELSE street_n END AS street_n,
              CASE WHEN city_n IN ({no_address}) THEN NULL ELSE city_n END AS city_n,
              CASE WHEN state IN ({no_address}) THEN NULL ELSE state END AS state,
              CASE WHEN regexp_full_match(postal_code, {_lit(DUMMY_POSTAL_RE)}) THEN NULL ELSE postal_code END AS postal_code),
            CASE WHEN last_name IS NULL AND first_name IS NULL THEN NULL
                 ELSE coalesce(last_name, '') || coalesce(first_name, '') END AS full_name,
            CAST({_sql_timestamp('created_raw')} AS TIMESTAMP) AS created_ts
          FROM {view}
        )
        SELECT
          rec_idx, id,
          coalesce(NULLIF(object_raw, ''), CASE {id_prefix} END, {default_obj}) AS object,
          last_name, first_name, full_name,
          last_reading, first_reading,
          CASE WHEN first_reading IS NULL THEN last_reading WHEN last_reading IS NULL THEN first_reading
               ELSE least(last_reading, first_reading) || greatest(last_reading, first_reading) END AS name_key,
          -- a foreign name's sound (katakana or Latin letters), in either order: ロジャース トーマス
          -- and Thomas Rogers block together
          -- (three consonants at least in all: Walker / ウォーカー has one, 'k', Lee Ray two)
          CASE WHEN last_sound IS NOT NULL AND first_sound IS NOT NULL AND length(last_sound) + length(first_sound) >= 3
               THEN least(last_sound, first_sound) || ' ' || greatest(last_sound, first_sound) END AS name_sound,
          company_core, company_legal_form, company_reading, company_sound,
          email, email_local, email_domain, email_is_freemail, email_is_role,
          phone, mobile, phone_is_mobile,
          -- the person's own number: the mobile, else a mobile number written in the Phone field
          -- (携帯 typed into 電話番号 is common): what the mobile blocking rule joins on
          coalesce(mobile, CASE WHEN phone_is_mobile THEN phone END) AS personal_phone,
          postal_code, coalesce(state_pref, city_pref, street_pref) AS prefecture,
          coalesce(city_n, street_city) AS city,
          CASE WHEN city_n IS NOT NULL AND starts_with(street_n, city_n) AND length(street_n) > length(city_n)
               THEN substr(street_n, length(city_n) + 1)
               WHEN city_n IS NULL AND street_city IS NOT NULL THEN street_rest
               ELSE street_n END AS street,
          state,
          -- (a birth date on the day the record was made -- a day either side, for the time zones -- is
          -- a date picker left at today: no birth date)
          CASE WHEN {born_on_creation_day_sql('try_cast(birthdate AS DATE)', 'created_ts')} THEN NULL
               ELSE birthdate END AS birthdate,
          title, department, lead_source,
          created_ts AS created_date,
          CAST({_sql_timestamp('modified_raw')} AS TIMESTAMP) AS last_modified_date,
          card_person_id
        FROM j{'' if keep_order else ' ORDER BY rec_idx'}"""
    )
    lap("write")
    result.rows = n
    keys = ("full_name", "company_core", "email", "phone", "mobile", "postal_code", "prefecture", "birthdate")
    counts = con.execute(f"SELECT {', '.join(f'count({k})' for k in keys)} FROM {target}").fetchall()[0]
    stats["non_null"] = dict(zip(keys, counts))
    stats["timings"] = timings
    result.stats = stats


def _rows_valid(col: _Col, dict_arr: pa.Array, mask: np.ndarray) -> np.ndarray:
    """Per row: selected by ``mask`` and the row's dictionary entry in ``dict_arr`` is not NULL."""
    valid = dict_arr.is_valid().to_numpy(zero_copy_only=False)
    out = mask & (col.idx >= 0)
    out[out] = valid[col.idx[out]]
    return out


def _learned_city(norm: pa.Array, known: set[str], used: np.ndarray) -> list[pa.Array]:
    """(city, rest) per normalized street (the ``used`` entries) that starts with a city known
    from City fields (the longest one, leaving a non-empty rest); NULL otherwise."""
    k = len(norm)
    pos = np.flatnonzero(used).tolist() if known else []
    if not pos:
        return [pa.nulls(k, pa.string()), pa.nulls(k, pa.string())]
    lengths = sorted({len(c) for c in known}, reverse=True)
    cities: list[str | None] = [None] * k
    rests: list[str | None] = [None] * k
    texts = norm.take(pa.array(pos, pa.int64())).to_pylist()
    for i, t in zip(pos, texts):
        if t:
            for ln in lengths:
                if ln < len(t) and t[:ln] in known:
                    cities[i], rests[i] = t[:ln], t[ln:]
                    break
    return [pa.array(cities, pa.string()), pa.array(rests, pa.string())]


def _street_map(views: _Views, col: _Col, name: str) -> list[pa.Array]:
    """(street, prefecture) per distinct raw street: the SQL twin of ``_street`` (same regex
    steps); values with kanji numerals before 丁目/番/号 go through ``_street`` itself."""
    if len(col.dictionary) == 0:
        return [pa.array([], pa.string()), pa.array([], pa.string())]
    full_alt = "|".join(sorted(_PREF_FULL, key=len, reverse=True))
    short_alt = "|".join(sorted(_PREF_SHORT, key=len, reverse=True))
    short_case = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in _PREF_SHORT.items() if k != v)
    q = _STREET_A.sql("SELECT _i, lower(raw) AS a FROM {src}", "a")
    q = f"SELECT *, regexp_matches(a, {_lit(_KANJI_NUM_ROUTE)}) AS py FROM ({q})"
    q = _STREET_B.sql(q, "a")
    q = f"""SELECT _i, py, a,
              NULLIF(regexp_extract(a, {_lit(f'^({full_alt})')}, 1), '') AS pf,
              NULLIF(regexp_extract(a, {_lit(f'^({short_alt})([^郡町村区]|$)')}, 1), '') AS ps
            FROM ({q})"""
    t = views.sql_map(
        name,
        pa.table({"raw": pc.utf8_normalize(col.dictionary, "NFKC")}),
        f"""SELECT _i, py,
              NULLIF(CASE WHEN pf IS NOT NULL AND length(a) > length(pf) THEN substr(a, length(pf) + 1)
                          ELSE a END, '') AS norm,
              coalesce(pf, CASE ps {short_case} ELSE ps END) AS pref
            FROM ({q})""",
    )
    norm = t.column("norm").combine_chunks()
    pref = t.column("pref").combine_chunks()
    py = np.flatnonzero(t.column("py").to_numpy(zero_copy_only=False))
    if len(py):  # kanji numerals: the Python reference
        res = map_values(_street, col.dictionary.take(pa.array(py)).to_pylist())
        mask = np.zeros(len(norm), dtype=bool)
        mask[py] = True
        mask_arr = pa.array(mask)
        norm = pc.replace_with_mask(norm, mask_arr, pa.array([r[0] for r in res], norm.type))
        pref = pc.replace_with_mask(pref, mask_arr, pa.array([r[1] for r in res], pref.type))
    return [norm, pref]


def _email_map(views: _Views, em: _Col) -> pa.Table:
    """Email outputs per distinct raw value (SQL twin of normalize_email + email_flags)."""
    src = pa.table({"raw": pc.utf8_normalize(em.dictionary, "NFKC")})
    q = _EMAIL_STEPS.sql("SELECT _i, lower(raw) AS t FROM {src}", "t")
    return views.sql_map(
        "email",
        src,
        f"""SELECT _i, email, split_part(email, '@', 1) AS local, split_part(email, '@', 2) AS domain,
                   regexp_full_match(split_part(email, '@', 2), {_lit(_FREEMAIL_RE)}) AS freemail,
                   regexp_full_match(split_part(email, '@', 1), {_lit(_ROLE_RE)}) AS role
            FROM (SELECT _i, CASE WHEN NOT regexp_full_match(t, {_lit(_EMAIL_VALID)})
                                    OR {dummy_email_sql('t')} THEN NULL
                                  WHEN split_part(t, '@', 2) IN ({', '.join(map(_lit, _GMAIL_DOMAINS))})
                                  THEN replace(split_part(t, '@', 1), '.', '') || '@gmail.com' ELSE t END AS email
                  FROM ({q}))""",
    )


def _later_mobile_rows(col: _Col, region_rows: pa.Array) -> pa.Array:
    """Per row, ``later_mobile`` of its Phone value (string; NULL mostly). Only the values with a
    second number are looked at, once per distinct (value, region)."""
    n = len(col.idx)
    if len(col.dictionary) == 0:
        return pa.nulls(n, pa.string())
    several = pc.fill_null(pc.match_substring_regex(pc.utf8_lower(pc.utf8_normalize(col.dictionary, "NFKC")),
                                                    f"(?:{_MORE_NUMBERS.pattern})|(?:{TWO_NUMBERS_RE[4:]})"),
                           False).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero((col.idx >= 0) & several[np.maximum(col.idx, 0)])
    out = np.full(n, None, dtype=object)
    if len(rows):
        values = col.dictionary.take(pa.array(col.idx[rows])).to_pylist()
        regions = region_rows.take(pa.array(rows)).to_pylist()
        found = {key: later_mobile(*key) for key in set(zip(values, regions))}
        out[rows] = [found[key] for key in zip(values, regions)]
    return pa.array(out, pa.string())


def _phone_rows(views: _Views, col: _Col, region_rows: pa.Array, name: str) -> tuple[pa.Array, pa.Array, int]:
    """Per-row (e164, is_mobile) for one phone column; the JP rule runs in SQL over the distinct
    (value, region) pairs, everything else through ``normalize_phone``."""
    if pc.all(pc.equal(region_rows, "JP")).as_py() is not False:  # the common case
        key_col = col
        regions = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(len(col.dictionary), dtype=np.int32)), pa.array(["JP"], pa.string())
        )
    else:  # several regions: key on the distinct (value, region) pairs (no string per row)
        reg = region_rows.dictionary_encode()
        has = col.idx >= 0
        values, region, inverse = _distinct_pairs(col.idx[has], reg.indices.to_numpy(zero_copy_only=False)[has],
                                                  len(reg.dictionary))
        idx = np.full(len(col.idx), -1, dtype=np.int32)
        idx[has] = inverse
        key_col = _Col.of(col.dictionary.take(pa.array(values)), idx)
        regions = reg.dictionary.take(pa.array(region))
    src = pa.table({"raw": pc.utf8_normalize(key_col.dictionary, "NFKC"), "region": regions})
    q = _PHONE_STEPS.sql("SELECT _i, region, lower(raw) AS t FROM {src}", "t")
    fast = views.sql_map(
        f"{name}_fast",
        src,
        f"""SELECT _i, CASE WHEN length(nsn) IN (9, 10) AND NOT starts_with(nsn, '0') THEN '+81' || nsn END AS e164,
            CASE WHEN length(nsn) IN (9, 10) AND NOT starts_with(nsn, '0')
                 THEN length(nsn) = 10 AND substr(nsn, 1, 2) IN ('70', '80', '90') AND substr(nsn, 3, 1) <> '0'
            END AS is_mobile
        FROM (SELECT _i, CASE
                WHEN plus AND starts_with(digits, '81') THEN regexp_replace(substr(digits, 3), '^0', '')
                WHEN NOT plus AND starts_with(digits, '0081') THEN regexp_replace(substr(digits, 5), '^0', '')
                WHEN NOT plus AND region = 'JP' AND starts_with(digits, '0') AND NOT starts_with(digits, '00')
                  THEN substr(digits, 2)
              END AS nsn
              FROM (SELECT _i, region, regexp_replace(t, '[^0-9]', '', 'g') AS digits,
                           contains(t, '+') AND regexp_matches(t, {_lit(_PHONE_PLUS)}) AS plus
                    FROM ({q})))""",
    )
    e_arr = fast.column("e164").combine_chunks()
    m_arr = fast.column("is_mobile").combine_chunks()
    slow_idx = np.flatnonzero(pc.is_null(e_arr).to_numpy(zero_copy_only=False))
    if len(slow_idx):  # not a JP-rule number: the full Python path (phonenumbers)
        keys = key_col.dictionary.take(pa.array(slow_idx)).to_pylist()
        regs = regions.take(pa.array(slow_idx)).to_pylist()
        res = [_normalize_phone(k, r) for k, r in zip(keys, regs)]
        mask = np.zeros(len(e_arr), dtype=bool)
        mask[slow_idx] = True
        mask_arr = pa.array(mask)
        e_arr = pc.replace_with_mask(e_arr, mask_arr, pa.array([e for e, _ in res], pa.string()))
        m_arr = pc.replace_with_mask(m_arr, mask_arr, pa.array([None if e is None else m for e, m in res], pa.bool_()))
    slow = len(slow_idx)
    # (a dummy number -- 090-1234-5678, 03-0000-0000 -- is no number: it would agree for anyone)
    dummy = pc.fill_null(pc.match_substring_regex(e_arr, DUMMY_PHONE_RE), False)
    if pc.any(dummy).as_py():
        e_arr = pc.if_else(dummy, pa.scalar(None, pa.string()), e_arr)
        m_arr = pc.if_else(dummy, pa.scalar(None, pa.bool_()), m_arr)
    e_rows, m_rows = _select(len(region_rows), [(key_col, [e_arr, m_arr], None)])
    return e_rows, m_rows, slow
