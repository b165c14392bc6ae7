"""Independent synthetic generator: Japanese business-card / lead data with known duplicates.

Writes a Salesforce Data Loader style CSV (Leads 00Q..., Contacts 003..., 18-char Ids) of people
collected from business-card scans (Sansan / Eight, LeadSource 名刺), event lists, web forms,
manual entry and purchased lists, plus a truth CSV (Id,entity_id).  Everything here was written
without looking at the tool's own sample generator or matcher (held-out style check).

World model: companies (core name, legal form before/after, English name, domain, HQ + branch
offices each with their own switchboard and address, departments) employ people (kanji name with
hiragana reading, some foreign people in katakana / Latin letters, work email in a per-company
pattern, optional direct line, mobile, personal email).  About 30% of people get 2-5 records;
each record is rendered independently from its source (name as kanji / katakana / half-width /
romaji / whole in one field / swapped, company legal-form variants or English, phone and postal
formats, address with or without prefecture, OCR misreads on cards) and from the person's state at
the record date (promotions, department moves, office transfers, job changes ~4% of people).

Usage:
    python bench/independent/gen_cards.py --records 20000 --seed 2 --out y.csv --truth y.truth.csv
Only the standard library, numpy and jaconv are used.  Output is deterministic per seed.
"""
import argparse
import bisect
import csv
import datetime as dt
import itertools
import os
import random
import time
from collections import Counter, defaultdict

import jaconv
import numpy as np

# (Salesforce's 15 -> 18 character Id: the platform's algorithm, not nayose's matching)
from nayose.fakeorg.store import id18

# ----------------------------------------------------------------------------------------------
# Name lists.  "kanji:reading[/alt reading...]"; '|' in a reading marks a morpheme boundary
# (no long-vowel merge across it when romanizing, e.g. いの|うえ -> Inoue).  Order = frequency rank.
# ----------------------------------------------------------------------------------------------
SURNAMES = """
佐藤:さとう 鈴木:すずき 高橋:たかはし 田中:たなか 伊藤:いとう 渡辺:わたなべ 山本:やまもと 中村:なかむら
小林:こばやし 加藤:かとう 吉田:よしだ 山田:やまだ 佐々木:ささき 山口:やまぐち 松本:まつもと 井上:いの|うえ
木村:きむら 林:はやし 斎藤:さいとう 清水:しみず 山崎:やまざき/やまさき 森:もり 池田:いけだ 橋本:はしもと
阿部:あべ 石川:いしかわ 山下:やました 中島:なかじま/なかしま 石井:いしい 小川:おがわ 前田:まえだ 岡田:おかだ
長谷川:はせがわ 藤田:ふじた 後藤:ごとう 近藤:こんどう 村上:むらかみ 遠藤:えんどう 青木:あおき 坂本:さかもと
斉藤:さいとう 福田:ふくだ 太田:おおた 西村:にしむら 藤井:ふじい 金子:かねこ 岡本:おかもと 藤原:ふじわら
中野:なかの 三浦:みうら 原田:はらだ 中川:なかがわ 松田:まつだ 竹内:たけうち 小野:おの 田村:たむら
中山:なかやま 和田:わだ 石田:いしだ 森田:もりた 上田:うえだ 原:はら 内田:うちだ 柴田:しばた
酒井:さかい 宮崎:みやざき 横山:よこやま 高木:たかぎ 安藤:あんどう 宮本:みやもと 大野:おおの 小島:こじま
谷口:たにぐち 今井:いまい 工藤:くどう 高田:たかだ/たかた 増田:ますだ 丸山:まるやま 杉山:すぎやま 村田:むらた
大塚:おおつか 新井:あらい 小山:こやま/おやま 平野:ひらの 藤本:ふじもと 河野:こうの/かわの 上野:うえの 野口:のぐち
武田:たけだ 松井:まつい 千葉:ちば 岩崎:いわさき 菅原:すがわら 木下:きのした 久保:くぼ 佐野:さの
野村:のむら 松尾:まつお 市川:いちかわ 菊地:きくち 杉本:すぎもと 古川:ふるかわ 大西:おおにし 島田:しまだ
水野:みずの 桜井:さくらい 高野:たかの 渡部:わたなべ/わたべ 吉川:よしかわ/きっかわ 山内:やまうち 西田:にしだ 飯田:いいだ
菊池:きくち 西川:にしかわ 小松:こまつ 北村:きたむら 安田:やすだ 五十嵐:いがらし 川口:かわぐち 平田:ひらた
関:せき 中田:なかた/なかだ 久保田:くぼた 服部:はっとり 東:ひがし/あずま 岩田:いわた 土屋:つちや 川崎:かわさき
福島:ふくしま 本田:ほんだ 辻:つじ 樋口:ひぐち 秋山:あきやま 田口:たぐち 永井:ながい 山中:やまなか
中西:なかにし 吉村:よしむら 川上:かわかみ 石原:いしはら 大橋:おおはし 松岡:まつおか 馬場:ばば 浅野:あさの
荒木:あらき 大久保:おおくぼ 野田:のだ 小沢:おざわ 田辺:たなべ 川村:かわむら 星野:ほしの 黒田:くろだ
堀:ほり 尾崎:おざき 望月:もちづき 永田:ながた 熊谷:くまがい 内藤:ないとう 松村:まつむら 西山:にしやま
大谷:おおたに 平井:ひらい 大島:おおしま 岩本:いわもと 片山:かたやま 本間:ほんま 早川:はやかわ 横田:よこた
岡崎:おかざき 荒井:あらい 大石:おおいし 鎌田:かまた 成田:なりた 宮田:みやた 小田:おだ 石橋:いしばし
篠原:しのはら 須藤:すどう 河合:かわい 大川:おおかわ 高山:たかやま 吉岡:よしおか 萩原:はぎわら 宮下:みやした
小池:こいけ 飯塚:いいづか 南:みなみ 山根:やまね 桑原:くわばら 小西:こにし 村井:むらい 富田:とみた
杉浦:すぎうら 松下:まつした 大森:おおもり 奥村:おくむら 上原:うえはら 関口:せきぐち 岡:おか 内山:うちやま
今村:いまむら 武藤:むとう 西:にし 坂口:さかぐち 松浦:まつうら 青山:あおやま 北川:きたがわ 堀内:ほりうち
中尾:なかお 浜田:はまだ 菅野:かんの/すがの 高井:たかい 岡村:おかむら 森本:もりもと 桑田:くわた 小泉:こいずみ
西野:にしの 田島:たじま 川島:かわしま 平山:ひらやま 福井:ふくい 安部:あべ 井口:いぐち 牧野:まきの
金田:かねだ 細川:ほそかわ 松永:まつなが 三宅:みやけ 津田:つだ 松原:まつばら 吉野:よしの 山岸:やまぎし
日高:ひだか 小谷:こたに 中井:なかい 秋元:あきもと 根本:ねもと 竹田:たけだ 上村:うえむら/かみむら 沢田:さわだ
堀田:ほった 宇野:うの 古田:ふるた 角田:かくた/つのだ/すみだ 佐久間:さくま 川端:かわばた 大山:おおやま 野中:のなか
奥田:おくだ 新田:にった/しんでん 藤川:ふじかわ 岡部:おかべ 白石:しらいし 稲垣:いながき 宮原:みやはら 梅田:うめだ
長田:ながた/おさだ 村山:むらやま 滝沢:たきざわ 北野:きたの 八木:やぎ 植田:うえだ 徳永:とくなが 水谷:みずたに
古賀:こが 神田:かんだ/こうだ 辻本:つじもと 吉井:よしい 小宮:こみや 遠山:とおやま 宇田川:うだがわ 長尾:ながお
本多:ほんだ 森下:もりした 石黒:いしぐろ 三上:みかみ 大竹:おおたけ 岸:きし 寺田:てらだ 安井:やすい
栗原:くりはら 米田:よねだ 芦田:あしだ 小原:おはら/こはら 西岡:にしおか 前川:まえかわ 平松:ひらまつ 奥山:おくやま
大木:おおき 小笠原:おがさわら 秋田:あきた 木内:きうち 羽田:はた/はねだ 浅井:あさい 有馬:ありま 岸本:きしもと
藤森:ふじもり 梶原:かじわら 竹中:たけなか 相馬:そうま 宮内:みやうち 柳田:やなぎだ 片岡:かたおか 中本:なかもと
難波:なんば 伊東:いとう 今野:こんの 根岸:ねぎし 矢野:やの 堤:つつみ 滝口:たきぐち 杉田:すぎた
荻野:おぎの 笠原:かさはら 福本:ふくもと 大村:おおむら 尾上:おの|うえ 三好:みよし 広瀬:ひろせ 須田:すだ
榊原:さかきばら 松川:まつかわ 田代:たしろ 大沢:おおさわ 志村:しむら 小野寺:おのでら 相沢:あいざわ 飯島:いいじま
黒川:くろかわ 宮川:みやかわ 川田:かわだ 今田:いまだ 杉原:すぎはら 田上:たがみ 伊達:だて 緒方:おがた
鬼頭:きとう 御手洗:みたらい 九十九:つくも 薬師寺:やくしじ 五月女:そうとめ/さおとめ 勅使河原:てしがわら
東海林:しょうじ/とうかいりん 小鳥遊:たかなし 百目鬼:どうめき 長宗我部:ちょうそかべ 四月一日:わたぬき
"""
N_RARE_SURNAMES = 11  # the last entries above get a tiny weight

GIVEN_MALE = """
誠:まこと 大輔:だいすけ 健太:けんた 翔太:しょうた 拓也:たくや 直樹:なおき 浩:ひろし/こう 隆:たかし 剛:つよし/ごう
健一:けんいち 達也:たつや 和也:かずや 雄一:ゆういち 大樹:だいき/ひろき 亮:りょう/あきら 翔:しょう/かける 学:まなぶ/がく
博:ひろし 弘:ひろし 洋:ひろし/よう 健:けん/たけし/まさる 優:ゆう/まさる/すぐる 聡:さとし 悟:さとる 修:おさむ
茂:しげる 勇:いさむ 清:きよし 明:あきら 進:すすむ 実:みのる 豊:ゆたか 稔:みのる 昇:のぼる 勝:まさる 正:ただし
武:たけし 猛:たけし 隆之:たかゆき 秀樹:ひでき 英樹:ひでき 浩二:こうじ 浩一:こういち 健二:けんじ 賢治:けんじ
正樹:まさき 雅人:まさと 真一:しんいち 慎一:しんいち 信也:しんや 伸也:しんや 哲也:てつや 哲:てつ/さとし 徹:とおる
透:とおる 淳:じゅん/あつし 敦:あつし 篤:あつし 純一:じゅんいち 拓海:たくみ 匠:たくみ 蓮:れん 悠斗:ゆうと
陽太:ようた/ひなた 颯太:そうた 大翔:ひろと/はると/やまと 陸:りく 海斗:かいと 悠人:ゆうと 湊:みなと 樹:いつき
蒼:あおい/そう 翼:つばさ 駿:しゅん 瞬:しゅん 俊介:しゅんすけ 康介:こうすけ 浩介:こうすけ 圭介:けいすけ
啓介:けいすけ 洋平:ようへい 陽介:ようすけ 祐介:ゆうすけ 雄介:ゆうすけ 裕太:ゆうた 勇気:ゆうき 裕樹:ゆうき/ひろき
友也:ともや 智也:ともや 貴之:たかゆき 孝之:たかゆき 義男:よしお 良太:りょうた 涼太:りょうた 亮太:りょうた
一郎:いちろう 太郎:たろう 次郎:じろう 健太郎:けんたろう 慎太郎:しんたろう 幸一:こういち 和彦:かずひこ
克彦:かつひこ 俊彦:としひこ 直人:なおと 尚人:なおと 隼人:はやと 大地:だいち 光:ひかる 望:のぞむ 昌弘:まさひろ
正弘:まさひろ 雅之:まさゆき 将:しょう/まさる 竜也:たつや 龍一:りゅういち 恭平:きょうへい 修平:しゅうへい
航平:こうへい 翔平:しょうへい 拓真:たくま 一輝:かずき 和樹:かずき 大介:だいすけ 健司:けんじ 秀一:しゅういち
敏夫:としお 幸雄:ゆきお 和夫:かずお 英明:ひであき 晃:あきら/こう 耕平:こうへい 誠一:せいいち 圭:けい
渉:わたる 航:わたる/こう 太一:たいち 大和:やまと 賢:けん/まさる 新:しん/あらた 真:まこと/しん
"""

GIVEN_FEMALE = """
恵子:けいこ 裕子:ゆうこ/ひろこ 久美子:くみこ 由美:ゆみ 陽子:ようこ 真由美:まゆみ 智子:ともこ/さとこ 美穂:みほ
愛:あい/めぐみ 彩:あや 舞:まい 麻衣:まい 沙織:さおり 恵:めぐみ 香織:かおり 明美:あけみ 直美:なおみ 優子:ゆうこ
千尋:ちひろ 美咲:みさき 陽菜:ひな/はるな 結衣:ゆい さくら:さくら 葵:あおい 凛:りん 美羽:みう 花子:はなこ
幸子:さちこ/ゆきこ 洋子:ようこ 京子:きょうこ 典子:のりこ 順子:じゅんこ 純子:じゅんこ 由紀:ゆき 由香:ゆか
友美:ともみ 知美:ともみ 真理:まり 麻美:あさみ/まみ 理恵:りえ 里美:さとみ 聡子:さとこ 亜希子:あきこ 明子:あきこ
晶子:あきこ/しょうこ 祥子:しょうこ/さちこ 美紀:みき 美樹:みき 瞳:ひとみ 綾:あや 絵美:えみ 恵美:えみ/めぐみ
奈々:なな 奈緒:なお 菜々子:ななこ 真奈美:まなみ 愛子:あいこ 彩香:あやか 彩花:あやか 美香:みか 美加:みか
千春:ちはる 千秋:ちあき 早苗:さなえ 紀子:のりこ 弘子:ひろこ 広美:ひろみ 裕美:ひろみ/ゆみ 浩美:ひろみ 悦子:えつこ
和子:かずこ 節子:せつこ 美由紀:みゆき 美幸:みゆき 亜美:あみ 遥:はるか 遙:はるか 杏:あん/あんず 芽衣:めい
七海:ななみ 楓:かえで 詩織:しおり 栞:しおり 萌:もえ 梓:あずさ 茜:あかね 桃子:ももこ 加奈子:かなこ 佳奈:かな
香奈:かな 莉子:りこ 美月:みづき/みつき 結子:ゆうこ/ゆいこ 夏美:なつみ 春香:はるか 玲奈:れいな 沙耶:さや
紗希:さき 早紀:さき 由佳:ゆか 友香:ともか 奈津子:なつこ 美奈子:みなこ 真紀:まき 麻由:まゆ 千里:ちさと/ちり
薫:かおる 静香:しずか 美和:みわ 雅美:まさみ 正美:まさみ 久子:ひさこ 信子:のぶこ 文子:ふみこ 淳子:じゅんこ/あつこ
真由:まゆ 陽香:はるか 彩乃:あやの 瑞穂:みずほ 日菜子:ひなこ 若菜:わかな 愛美:まなみ/あいみ 歩:あゆみ
明日香:あすか 朋子:ともこ 美智子:みちこ 由美子:ゆみこ 真澄:ますみ 佳子:よしこ/けいこ
"""

# Latin:katakana[/katakana variant...]
FOREIGN_SURNAMES = """Smith:スミス Johnson:ジョンソン Brown:ブラウン Williams:ウィリアムズ/ウイリアムス Jones:ジョーンズ
Miller:ミラー Davis:デイビス/デービス Wilson:ウィルソン/ウイルソン Taylor:テイラー/テーラー Anderson:アンダーソン
Thomas:トーマス Martin:マーティン/マーチン Lee:リー Kim:キム Park:パク Wang:ワン Chen:チェン Zhang:チャン
Liu:リュウ Nguyen:グエン Garcia:ガルシア Muller:ミュラー Schmidt:シュミット Dubois:デュボア Rossi:ロッシ
Kumar:クマール Singh:シン Patel:パテル Clark:クラーク White:ホワイト"""
FOREIGN_GIVEN = """John:ジョン Michael:マイケル David:デイビッド/デビッド/デヴィッド James:ジェームズ/ジェームス
Robert:ロバート Daniel:ダニエル Paul:ポール Mark:マーク Chris:クリス Kevin:ケビン/ケヴィン Emily:エミリー
Sarah:サラ Jessica:ジェシカ Anna:アンナ Maria:マリア Laura:ローラ Emma:エマ Sophie:ソフィー Minjun:ミンジュン
Jiwoo:ジウ Wei:ウェイ/ウエイ Min:ミン Hao:ハオ Anh:アイン Raj:ラジ Priya:プリヤ Lucas:ルーカス Alex:アレックス"""


def _parse_names(block):
    out, seen = [], set()
    for tok in block.split():
        k, r = tok.split(":")
        if k in seen:
            continue
        seen.add(k)
        out.append((k, r.split("/")))
    return out


def _parse_foreign(block):
    return [(t.split(":")[0], t.split(":")[1].split("/")) for t in block.split()]


# Variant (itaiji) spellings some people officially use; cards show them, typed sources often not.
ITAIJI = {"高": "髙", "崎": "﨑", "辺": "邊", "斎": "齋", "沢": "澤", "浜": "濱", "島": "嶋", "桜": "櫻", "広": "廣"}
ITAIJI_ALT = {"辺": ["邊", "邉"]}
# Look-alike characters an OCR pass confuses on a scanned card.
OCR = {"太": "大", "大": "太", "崎": "埼", "埼": "崎", "辺": "边", "邊": "辺", "高": "髙", "髙": "高", "斎": "齋",
       "齋": "斎", "斉": "斎", "沢": "択", "澤": "沢", "浜": "濱", "島": "鳥", "田": "由", "由": "田", "木": "本",
       "本": "木", "末": "未", "土": "士", "千": "干", "人": "入", "子": "了", "日": "目", "王": "玉", "口": "ロ",
       "工": "エ", "力": "カ", "夕": "タ", "二": "ニ", "一": "ー", "野": "埜", "村": "材", "川": "州", "中": "申",
       "井": "并", "西": "酉", "幸": "辛", "博": "傅", "健": "建", "恵": "惠", "治": "冶", "浩": "活", "裕": "祐",
       "祐": "裕", "貴": "責", "明": "朋", "朋": "明", "和": "私", "代": "伐", "秀": "季", "原": "厚", "藤": "籐",
       "ソ": "ン", "ン": "ソ", "シ": "ツ", "ツ": "シ", "ー": "一", "ロ": "口", "カ": "力", "ク": "ケ", "ナ": "十"}

# ----------------------------------------------------------------------------------------------
# Romanization (own Hepburn converter with a few real-world styles)
# ----------------------------------------------------------------------------------------------
_ROM = dict(zip(
    "あいうえおかきくけこさしすせそたちつてとなにぬねのはひふへほまみむめもやゆよらりるれろわをん"
    "がぎぐげござじずぜぞだぢづでどばびぶべぼぱぴぷぺぽ",
    "a i u e o ka ki ku ke ko sa shi su se so ta chi tsu te to na ni nu ne no ha hi fu he ho "
    "ma mi mu me mo ya yu yo ra ri ru re ro wa o n ga gi gu ge go za ji zu ze zo da ji zu de do "
    "ba bi bu be bo pa pi pu pe po".split()))
for _k, _c in [("き", "ky"), ("ぎ", "gy"), ("し", "sh"), ("じ", "j"), ("ち", "ch"), ("に", "ny"), ("ひ", "hy"),
               ("び", "by"), ("ぴ", "py"), ("み", "my"), ("り", "ry")]:
    for _s, _v in [("ゃ", "a"), ("ゅ", "u"), ("ょ", "o")]:
        _ROM[_k + _s] = _c + _v
_KUNREI = {"shi": "si", "chi": "ti", "tsu": "tu", "fu": "hu", "ji": "zi", "sha": "sya", "shu": "syu",
           "sho": "syo", "ja": "zya", "ju": "zyu", "jo": "zyo", "cha": "tya", "chu": "tyu", "cho": "tyo"}


def romaji(hira, style="hepburn", passport_m=False):
    """hira -> lower-case romaji.  style: hepburn (long vowels dropped), wapuro (ou), oh, kunrei."""
    out, i, sokuon, prev_kana = [], 0, False, ""
    while i < len(hira):
        ch = hira[i]
        if ch == "|":
            prev_kana = ""
            i += 1
            continue
        if ch == "っ":
            sokuon = True
            i += 1
            continue
        two = hira[i:i + 2]
        if two in _ROM and len(two) == 2:
            syl, kana = _ROM[two], two
            i += 2
        else:
            syl, kana = _ROM.get(ch, ""), ch
            i += 1
        if style == "kunrei":
            syl = _KUNREI.get(syl, syl)
        # long vowels
        if out and prev_kana and kana in ("う", "お") and style != "wapuro" and style != "kunrei":
            last = out[-1]
            if last.endswith("o") and kana in ("う", "お"):
                if style == "oh":
                    out[-1] = last + "h"
                prev_kana = kana
                continue
            if last.endswith("u") and kana == "う":
                prev_kana = kana
                continue
        if sokuon and syl:
            syl = ("t" + syl) if syl.startswith("ch") else (syl[0] + syl)
            sokuon = False
        if passport_m and out and out[-1].endswith("n") and prev_kana == "ん" and syl[:1] in ("b", "m", "p"):
            out[-1] = out[-1][:-1] + "m"
        out.append(syl)
        prev_kana = kana
    return "".join(out).replace("hh", "h")


def kata(hira):
    return jaconv.hira2kata(hira.replace("|", ""))


def hira(h):
    return h.replace("|", "")


def halfwidth_kana(s):
    return jaconv.z2h(s, kana=True, ascii=False, digit=False)


def fullwidth(s):
    return jaconv.h2z(s, kana=False, ascii=True, digit=True)


# ----------------------------------------------------------------------------------------------
# Companies
# ----------------------------------------------------------------------------------------------
KANJI_PREFIX = """東和:Towa 大和:Yamato 三和:Sanwa 富士:Fuji 北斗:Hokuto 中央:Chuo 太平:Taihei 昭和:Showa 平和:Heiwa
旭:Asahi 光:Hikari 新栄:Shinei 大同:Daido 日東:Nitto 東邦:Toho 関東:Kanto 関西:Kansai 九州:Kyushu 北海道:Hokkaido
名古屋:Nagoya 東京:Tokyo 大阪:Osaka 横浜:Yokohama 京都:Kyoto 神戸:Kobe 広島:Hiroshima 仙台:Sendai 札幌:Sapporo
福岡:Fukuoka 日本:Nihon 東洋:Toyo 大洋:Taiyo 太陽:Taiyo 三協:Sankyo 協和:Kyowa 共栄:Kyoei 栄光:Eiko 明治:Meiji
朝日:Asahi 日の出:Hinode 千代田:Chiyoda 山陽:Sanyo 北陸:Hokuriku 中部:Chubu 東北:Tohoku 四国:Shikoku
瀬戸内:Setouchi 湘南:Shonan 信越:Shinetsu 常磐:Joban 武蔵:Musashi 相模:Sagami 第一:Daiichi 新日本:Shin-Nihon
西日本:Nishi-Nihon 東日本:Higashi-Nihon 大成:Taisei 三栄:Sanei 丸一:Maruichi 山一:Yamaichi 青葉:Aoba
若葉:Wakaba 双葉:Futaba 桜:Sakura 菱和:Ryowa 日進:Nisshin 進和:Shinwa 丸紅葉:Marumomiji 白鳥:Hakucho 金星:Kinsei"""
INDUSTRY = [("電機", "Denki", "Electric"), ("商事", "Shoji", "Trading"), ("工業", "Kogyo", "Industries"),
            ("建設", "Kensetsu", "Construction"), ("製作所", "Seisakusho", "Manufacturing"),
            ("物産", "Bussan", "Bussan"), ("運輸", "Unyu", "Transport"), ("食品", "Shokuhin", "Foods"),
            ("化学", "Kagaku", "Chemical"), ("精機", "Seiki", "Precision"), ("印刷", "Insatsu", "Printing"),
            ("不動産", "Fudosan", "Real Estate"), ("電子", "Denshi", "Electronics"), ("産業", "Sangyo", "Industry"),
            ("技研", "Giken", "Giken"), ("製薬", "Seiyaku", "Pharmaceutical"), ("通信", "Tsushin", "Communications"),
            ("情報システム", "Joho System", "Information Systems"), ("機械", "Kikai", "Machinery"),
            ("設計", "Sekkei", "Design"), ("証券", "Shoken", "Securities"), ("リース", "Lease", "Leasing"),
            ("倉庫", "Soko", "Warehouse"), ("電設", "Densetsu", "Electrical Works"), ("鋼材", "Kozai", "Steel"),
            ("ソフトウェア", "Software", "Software"), ("エンジニアリング", "Engineering", "Engineering")]
KATA_A = """テクノ:Techno ネクスト:Next グローバル:Global サン:Sun アース:Earth スマート:Smart デジタル:Digital
クラウド:Cloud ブルー:Blue グリーン:Green ライフ:Life メディア:Media フューチャー:Future アクア:Aqua
ユニバーサル:Universal ネット:Net データ:Data ビジョン:Vision リンク:Link ウェーブ:Wave スター:Star エコ:Eco
トラスト:Trust プライム:Prime アルファ:Alpha ベスト:Best ハート:Heart ソリッド:Solid クリエイト:Create
イノベーション:Innovation オーシャン:Ocean フォレスト:Forest"""
KATA_B = """ソリューションズ:Solutions システムズ:Systems テクノロジーズ:Technologies ラボ:Lab ワークス:Works
パートナーズ:Partners コミュニケーションズ:Communications デザイン:Design コンサルティング:Consulting
サービス:Service ネットワークス:Networks マーケティング:Marketing ホールディングス:Holdings エージェンシー:Agency
インターナショナル:International ジャパン:Japan プランニング:Planning ロジスティクス:Logistics
メディカル:Medical エナジー:Energy"""
FAMILY_BIZ = [("工務店", "Komuten", "Construction"), ("商店", "Shoten", "Store"), ("建設", "Kensetsu", "Construction"),
              ("製作所", "Seisakusho", "Works"), ("運送", "Unso", "Transport"), ("設計事務所", "Sekkei", "Architects"),
              ("印刷", "Insatsu", "Printing"), ("商会", "Shokai", "Trading")]
SUBSIDIARY = [("サービス", "Service"), ("システムズ", "Systems"), ("ビジネスサービス", "Business Service"),
              ("エンジニアリング", "Engineering"), ("ロジスティクス", "Logistics")]

LEGAL_ABBR = {"株式会社": ["(株)", "㈱", "（株）"], "有限会社": ["(有)", "㈲", "（有）"], "合同会社": ["(同)", "合同会社"]}
LEGAL_EN = {"株式会社": ["Co., Ltd.", "Inc.", "K.K.", "Corporation", "Co.,Ltd."],
            "有限会社": ["Ltd.", "Co., Ltd."], "合同会社": ["LLC", "G.K."]}

# (pref, city, area code, postal prefixes, towns, branch label)
CITIES = [
    ("東京都", "千代田区", "03", ["100", "101", "102"], ["丸の内", "大手町", "神田小川町", "有楽町", "麹町", "内幸町"], "東京"),
    ("東京都", "中央区", "03", ["103", "104"], ["日本橋", "八重洲", "銀座", "京橋", "新川", "日本橋本町"], "東京"),
    ("東京都", "港区", "03", ["105", "106", "107", "108"], ["芝", "浜松町", "新橋", "虎ノ門", "赤坂", "六本木", "港南", "芝浦"], "東京"),
    ("東京都", "新宿区", "03", ["160", "162", "169"], ["西新宿", "新宿", "四谷", "高田馬場"], "東京"),
    ("東京都", "渋谷区", "03", ["150", "151"], ["渋谷", "恵比寿", "道玄坂", "代々木", "神宮前"], "東京"),
    ("東京都", "品川区", "03", ["140", "141", "142"], ["大崎", "東五反田", "北品川", "西五反田"], "東京"),
    ("東京都", "豊島区", "03", ["170", "171"], ["東池袋", "南池袋", "西池袋"], "東京"),
    ("東京都", "台東区", "03", ["110", "111"], ["上野", "浅草橋", "東上野"], "東京"),
    ("東京都", "江東区", "03", ["135", "136"], ["豊洲", "有明", "東陽"], "東京"),
    ("東京都", "八王子市", "042", ["192"], ["旭町", "明神町"], "八王子"),
    ("東京都", "立川市", "042", ["190"], ["曙町", "錦町"], "立川"),
    ("大阪府", "大阪市北区", "06", ["530"], ["梅田", "中之島", "堂島", "天満"], "大阪"),
    ("大阪府", "大阪市中央区", "06", ["540", "541", "542"], ["本町", "北浜", "淡路町", "船場中央"], "大阪"),
    ("大阪府", "大阪市淀川区", "06", ["532"], ["西中島", "宮原"], "大阪"),
    ("大阪府", "堺市堺区", "072", ["590"], ["南瓦町", "熊野町"], "堺"),
    ("愛知県", "名古屋市中区", "052", ["460"], ["栄", "錦", "丸の内"], "名古屋"),
    ("愛知県", "名古屋市中村区", "052", ["450", "453"], ["名駅", "名駅南", "椿町"], "名古屋"),
    ("愛知県", "豊田市", "0565", ["471"], ["喜多町", "西町"], "豊田"),
    ("神奈川県", "横浜市西区", "045", ["220"], ["みなとみらい", "高島", "北幸"], "横浜"),
    ("神奈川県", "横浜市中区", "045", ["231"], ["本町", "山下町", "尾上町"], "横浜"),
    ("神奈川県", "横浜市港北区", "045", ["222"], ["新横浜"], "新横浜"),
    ("神奈川県", "川崎市川崎区", "044", ["210"], ["駅前本町", "砂子"], "川崎"),
    ("埼玉県", "さいたま市大宮区", "048", ["330"], ["桜木町", "大門町"], "大宮"),
    ("埼玉県", "川越市", "049", ["350"], ["脇田本町"], "川越"),
    ("千葉県", "千葉市中央区", "043", ["260"], ["富士見", "中央"], "千葉"),
    ("千葉県", "千葉市美浜区", "043", ["261"], ["中瀬"], "幕張"),
    ("千葉県", "船橋市", "047", ["273"], ["本町"], "船橋"),
    ("北海道", "札幌市中央区", "011", ["060"], ["北一条西", "大通西", "北四条西"], "札幌"),
    ("北海道", "札幌市北区", "011", ["001"], ["北七条西"], "札幌"),
    ("宮城県", "仙台市青葉区", "022", ["980"], ["中央", "一番町", "本町"], "仙台"),
    ("福岡県", "福岡市博多区", "092", ["812"], ["博多駅前", "博多駅東", "祇園町"], "福岡"),
    ("福岡県", "福岡市中央区", "092", ["810"], ["天神", "大名", "赤坂"], "福岡"),
    ("福岡県", "北九州市小倉北区", "093", ["802"], ["浅野", "京町"], "北九州"),
    ("広島県", "広島市中区", "082", ["730"], ["紙屋町", "八丁堀", "大手町"], "広島"),
    ("京都府", "京都市下京区", "075", ["600"], ["東塩小路町", "烏丸町"], "京都"),
    ("兵庫県", "神戸市中央区", "078", ["650", "651"], ["三宮町", "磯上通", "浜辺通"], "神戸"),
    ("静岡県", "静岡市葵区", "054", ["420"], ["紺屋町", "御幸町"], "静岡"),
    ("静岡県", "浜松市中区", "053", ["430"], ["板屋町", "砂山町"], "浜松"),
    ("新潟県", "新潟市中央区", "025", ["950", "951"], ["万代", "東大通"], "新潟"),
    ("石川県", "金沢市", "076", ["920"], ["広岡", "本町"], "金沢"),
    ("岡山県", "岡山市北区", "086", ["700"], ["駅前町", "本町"], "岡山"),
    ("熊本県", "熊本市中央区", "096", ["860"], ["花畑町", "辛島町"], "熊本"),
    ("鹿児島県", "鹿児島市", "099", ["890", "892"], ["中央町", "山之口町"], "鹿児島"),
    ("長野県", "長野市", "026", ["380"], ["南長野", "鶴賀"], "長野"),
    ("長野県", "松本市", "0263", ["390"], ["中央", "深志"], "松本"),
    ("群馬県", "高崎市", "027", ["370"], ["栄町", "八島町"], "高崎"),
    ("群馬県", "太田市", "0276", ["373"], ["飯田町"], "太田"),
    ("茨城県", "つくば市", "029", ["305"], ["竹園", "吾妻"], "つくば"),
    ("茨城県", "水戸市", "029", ["310"], ["宮町"], "水戸"),
    ("沖縄県", "那覇市", "098", ["900"], ["久茂地", "松山"], "那覇"),
    ("栃木県", "宇都宮市", "028", ["320", "321"], ["馬場通り", "駅前通り"], "宇都宮"),
    ("香川県", "高松市", "087", ["760"], ["サンポート", "寿町"], "高松"),
]
# weight of a city as a headquarters location
HQ_WEIGHT = {"東京都": 6.0, "大阪府": 2.0, "愛知県": 1.2, "神奈川県": 1.0, "福岡県": 0.8}

DEPTS = [  # (main, subs, weight, english)
    ("営業部", ["第一営業課", "第二営業課", "法人営業課", "営業企画課"], 30, "Sales Dept."),
    ("営業本部", ["東日本営業部", "西日本営業部", "営業推進部"], 8, "Sales Division"),
    ("マーケティング部", ["デジタルマーケティング課", "販売促進課", "マーケティング課"], 9, "Marketing Dept."),
    ("総務部", ["総務課", "庶務課", "法務課"], 8, "General Affairs Dept."),
    ("人事部", ["人事課", "採用課", "労務課"], 6, "Human Resources Dept."),
    ("経理部", ["経理課", "財務課"], 5, "Accounting Dept."),
    ("情報システム部", ["システム企画課", "インフラ課", "ヘルプデスク"], 8, "IT Dept."),
    ("経営企画部", ["経営企画課"], 4, "Corporate Planning Dept."),
    ("開発部", ["開発一課", "開発二課"], 5, "Development Dept."),
    ("技術部", ["技術課", "設計課"], 5, "Engineering Dept."),
    ("製造部", ["生産管理課", "製造課"], 3, "Manufacturing Dept."),
    ("品質保証部", ["品質管理課"], 3, "Quality Assurance Dept."),
    ("購買部", ["購買課", "調達課"], 3, "Purchasing Dept."),
    ("カスタマーサクセス部", ["サポート課"], 3, "Customer Success Dept."),
    ("DX推進室", [], 2, "DX Promotion Office"),
]
TITLES_JP = ["", "主任", "係長", "課長代理", "課長", "次長", "部長", "本部長", "執行役員", "取締役", "代表取締役社長"]
TITLE_W_JP = [34, 14, 9, 5, 14, 4, 11, 3, 2, 2, 0]
TITLES_KATA = ["", "リーダー", "マネージャー", "シニアマネージャー", "ディレクター", "執行役員", "代表取締役CEO"]
TITLE_W_KATA = [40, 14, 20, 8, 8, 3, 0]
TITLE_EN = {"主任": "Chief", "係長": "Supervisor", "課長代理": "Assistant Manager", "課長": "Manager",
            "次長": "Deputy General Manager", "部長": "General Manager", "本部長": "Division Director",
            "執行役員": "Executive Officer", "取締役": "Director", "代表取締役社長": "President & CEO",
            "リーダー": "Leader", "マネージャー": "Manager", "シニアマネージャー": "Senior Manager",
            "ディレクター": "Director", "代表取締役CEO": "CEO"}

EMAIL_PATTERNS = [("first.last", 30), ("f-last", 8), ("last.f", 10), ("last", 10), ("f.last", 14),
                  ("flast", 10), ("last_first", 6), ("last-f", 4), ("first_last", 8)]
FREE_MAIL = [("gmail.com", 50), ("yahoo.co.jp", 25), ("icloud.com", 12), ("outlook.jp", 6), ("hotmail.co.jp", 4),
             ("docomo.ne.jp", 3)]

SOURCES = [  # (LeadSource value, kind, weight, P(Contact))
    ("名刺", "card", 36, 0.45), ("展示会", "event", 10, 0.20), ("セミナー", "event", 8, 0.20),
    ("ウェビナー", "event", 5, 0.20), ("Webフォーム", "web", 12, 0.15), ("資料請求", "web", 8, 0.15),
    ("お問い合わせ", "web", 5, 0.15), ("手入力", "manual", 8, 0.50), ("紹介", "manual", 2, 0.50),
    ("購入リスト", "list", 6, 0.20),
]
EPOCH0 = dt.datetime(2016, 1, 4)
EPOCH1 = dt.datetime(2025, 9, 30)
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class W:
    """Weighted chooser over (value, weight) pairs."""

    def __init__(self, pairs):
        self.vals = [v for v, _ in pairs]
        self.cum = list(itertools.accumulate(w for _, w in pairs))

    def __call__(self, r):
        return self.vals[bisect.bisect_right(self.cum, r.random() * self.cum[-1])]




def b62(n, width):
    s = ""
    for _ in range(width):
        n, d = divmod(n, 62)
        s = B62[d] + s
    return s


# ----------------------------------------------------------------------------------------------
class Generator:
    def __init__(self, n_records, seed):
        self.N = n_records
        self.R = random.Random(seed)
        self.np = np.random.default_rng(seed)
        sur = _parse_names(SURNAMES)
        wts = [1.0 / (1 + (r / 8.0)) ** 0.95 for r in range(len(sur))]
        for i in range(len(sur) - N_RARE_SURNAMES, len(sur)):
            wts[i] = 0.008
        wts[sur.index(next(s for s in sur if s[0] == "小鳥遊"))] = 0.0015
        self.surnames = sur
        self.pick_surname = W(list(zip(range(len(sur)), wts)))
        gm, gf = _parse_names(GIVEN_MALE), _parse_names(GIVEN_FEMALE)
        self.given = [(k, r, "M") for k, r in gm] + [(k, r, "F") for k, r in gf]
        gw = [1.0 / (1 + r / 15.0) ** 0.8 for r in range(len(gm))] + \
             [1.0 / (1 + r / 15.0) ** 0.8 for r in range(len(gf))]
        gw = [w * (1.25 if i < len(gm) else 1.0) for i, w in enumerate(gw)]  # business lists skew male
        self.pick_given = W(list(zip(range(len(self.given)), gw)))
        self.f_sur, self.f_given = _parse_foreign(FOREIGN_SURNAMES), _parse_foreign(FOREIGN_GIVEN)
        self.pick_title_jp = W(list(zip(range(len(TITLES_JP)), TITLE_W_JP)))
        self.pick_title_kata = W(list(zip(range(len(TITLES_KATA)), TITLE_W_KATA)))
        self.pick_source = W([((s, k, p), w) for s, k, w, p in SOURCES])
        self.pick_pattern = W(EMAIL_PATTERNS)
        self.pick_free = W(FREE_MAIL)
        self.used_phones, self.used_domains, self.used_cores = set(), set(), set()
        self.towns = {}  # (city idx, town) -> (postal, [buildings])

    # ------------------------------------------------------------------ phones / addresses
    def new_phone(self, area, mid=None):
        R = self.R
        while True:
            ml = {2: 4, 3: 3, 4: 2}[len(area)]
            m = mid or "".join(str(R.randint(0, 9)) for _ in range(ml))
            if m[0] == "0":
                m = str(R.randint(2, 9)) + m[1:]
            last = "%04d" % R.randint(0, 9999)
            t = (area, m, last)
            if t not in self.used_phones:
                self.used_phones.add(t)
                return t

    def new_mobile(self):
        R = self.R
        while True:
            t = (R.choice(["090", "090", "080", "080", "070"]), "%04d" % R.randint(1000, 9999), "%04d" % R.randint(0, 9999))
            if t not in self.used_phones:
                self.used_phones.add(t)
                return t

    def new_office(self, city_idx, name):
        R = self.R
        pref, city, area, prefixes, towns, _ = CITIES[city_idx]
        town = R.choice(towns)
        key = (city_idx, town)
        if key not in self.towns:
            postal = "%s-%04d" % (R.choice(prefixes), R.randint(1, 99) * 10 + R.choice([0, 0, 1, 2, 4]))
            blds = ["%s%s" % (town, R.choice(["センタービル", "ビル", "タワー", "スクエア", "プラザ", "第一ビル", "第二ビル", "ビルディング"]))
                    for _ in range(3)]
            self.towns[key] = (postal, blds, (R.randint(1, 5), R.randint(1, 25), R.randint(1, 20)))
        postal, blds, nums = self.towns[key]
        if R.random() < 0.5:  # same block as other companies in the town sometimes
            nums = (R.randint(1, 5), R.randint(1, 25), R.randint(1, 20))
        bld = R.choice(blds) if R.random() < 0.75 else None
        floor = R.randint(1, 25) if bld else None
        return dict(name=name, pref=pref, city=city, town=town, nums=nums, bld=bld, floor=floor,
                    postal=postal, phone=self.new_phone(area), city_idx=city_idx)

    # ------------------------------------------------------------------ companies
    def make_company(self, cid, weight):
        R = self.R
        for _ in range(50):
            r = R.random()
            if r < 0.45:
                p = R.choice(KANJI_PREFIX.split()).split(":")
                ind = R.choice(INDUSTRY)
                core, rom, eng = p[0] + ind[0], p[1] + " " + ind[1], p[1] + " " + R.choice([ind[1], ind[2]])
                kind = "kanji"
            elif r < 0.72:
                a = R.choice(KATA_A.split()).split(":")
                b = R.choice(KATA_B.split()).split(":")
                core, rom, eng, kind = a[0] + b[0], a[1] + " " + b[1], a[1] + " " + b[1], "kata"
            elif r < 0.82:
                letters = "".join(R.choice("ABCDEFGHIJKLMNPRSTUVWXYZ") for _ in range(R.choice([2, 3, 3, 4])))
                b = R.choice(KATA_B.split()).split(":")
                core, rom, eng, kind = letters + b[0], letters + " " + b[1], letters + " " + b[1], "latin"
            else:
                s = self.surnames[self.pick_surname(R)]
                biz = R.choice(FAMILY_BIZ)
                sr = romaji(s[1][0]).capitalize()
                core, rom, eng, kind = s[0] + biz[0], sr + " " + biz[1], sr + " " + biz[2], "family"
            if core not in self.used_cores:
                break
        self.used_cores.add(core)
        if kind == "family":
            legal = R.choices(["株式会社", "有限会社", "合同会社"], [55, 40, 5])[0]
        else:
            legal = R.choices(["株式会社", "有限会社", "合同会社"], [88, 5, 7])[0]
        front = R.random() < 0.45
        return self._company(cid, core, rom, eng, kind, legal, front, weight)

    def _company(self, cid, core, rom, eng, kind, legal, front, weight, domain_hint=None):
        R = self.R
        eng_name = None
        if kind != "family" and R.random() < 0.55 or kind in ("kata", "latin") and R.random() < 0.5:
            eng_name = "%s %s" % (eng, R.choice(LEGAL_EN[legal]))
        # domain
        base = rom.lower().replace("-", "")
        parts = base.split()
        opts = ["".join(parts), "-".join(parts), parts[0], "".join(p[0] for p in parts) + parts[-1][:3]]
        if domain_hint:
            opts = [domain_hint + "-" + parts[-1][:3], domain_hint + "-s", domain_hint + "grp"]
        tld = R.choices([".co.jp", ".com", ".jp", ".net"], [70, 18, 9, 3])[0]
        dom = None
        for o in opts if R.random() < 0.5 else opts[1:] + opts[:1]:
            if o + tld not in self.used_domains:
                dom = o + tld
                break
        k = 2
        while dom is None or dom in self.used_domains:
            dom = "%s%d%s" % (opts[0], k, tld)
            k += 1
        self.used_domains.add(dom)
        official = legal + core if front else core + legal
        c = dict(id=cid, core=core, rom=rom, eng=eng_name, kind=kind, legal=legal, front=front,
                 official=official, domain=dom, weight=weight, offices=[], depts=[],
                 pattern=self.pick_pattern(R), used_local=set(), shared_info=False,
                 kata_titles=(kind in ("kata", "latin") and R.random() < 0.6))
        # account name as kept in Salesforce (sometimes not the exact official string)
        c["account"] = official if R.random() < 0.8 else self.company_variant(c, R.choice(["abbr", "space", "noform"]))
        return c

    def build_companies(self, n_people):
        R = self.R
        n = max(3, round(self.N / 12))
        w = self.np.lognormal(0.0, 1.25, n)
        comps = [self.make_company(i, float(w[i])) for i in range(n)]
        for c in comps:  # family businesses / 有限会社 stay small
            if c["kind"] == "family" or c["legal"] == "有限会社":
                c["weight"] = min(c["weight"] * 0.25, 1.5)
        # a few subsidiaries / group companies with a near-identical name
        for c in R.sample(comps, max(1, n // 40)):
            sub = R.choice(SUBSIDIARY)
            dom_hint = c["domain"].split(".")[0]
            s = self._company(len(comps), c["core"] + sub[0], c["rom"] + " " + sub[1], c["rom"] + " " + sub[1],
                              c["kind"] if c["kind"] != "family" else "kanji", "株式会社", c["front"],
                              float(self.np.lognormal(-0.5, 0.8)), dom_hint)
            comps.append(s)
        total_w = sum(c["weight"] for c in comps)
        hq_pick = W([(i, HQ_WEIGHT.get(CITIES[i][0], 0.35) / (1 + sum(1 for x in CITIES if x[0] == CITIES[i][0]) * 0.3))
                     for i in range(len(CITIES))])
        for c in comps:
            exp = c["weight"] / total_w * n_people
            c["exp"] = exp
            hq = hq_pick(R)
            c["offices"].append(self.new_office(hq, "本社"))
            nb = 0 if exp < 5 else (R.randint(0, 1) if exp < 15 else (R.randint(1, 3) if exp < 40 else R.randint(2, 6)))
            used = {CITIES[hq][5]}
            for _ in range(nb):
                ci = R.randrange(len(CITIES))
                lab = CITIES[ci][5]
                if lab in used:
                    continue
                used.add(lab)
                kind = "支店" if R.random() < 0.55 else "営業所"
                c["offices"].append(self.new_office(ci, lab + kind))
            if exp < 2.5 and R.random() < 0.6:
                c["depts"] = []
            else:
                k = min(len(DEPTS), 2 + int(exp // 4) + R.randint(0, 2))
                ds = [DEPTS[0]] + R.sample(DEPTS[1:], k - 1)
                c["depts"] = ds
            c["shared_info"] = exp < 4 and R.random() < 0.12
        self.companies = comps
        self.pick_company = W([(c, c["weight"]) for c in comps])

    # ------------------------------------------------------------------ people
    def email_local(self, c, p, pattern=None):
        first, last = p["rom_given"], p["rom_sur"]
        pat = pattern or c["pattern"]
        f = first[0]
        loc = {"first.last": f"{first}.{last}", "f-last": f"{f}-{last}", "last.f": f"{last}.{f}", "last": last,
               "f.last": f"{f}.{last}", "flast": f"{f}{last}", "last_first": f"{last}_{first}",
               "last-f": f"{last}-{f}", "first_last": f"{first}_{last}"}[pat]
        base, k = loc, 2
        while loc in c["used_local"]:
            loc = f"{base}{k}" if k > 2 or self.R.random() < 0.6 else f"{last}.{first}"
            k += 1
        c["used_local"].add(loc)
        return loc

    def new_stint(self, c, p, title_bias=0):
        R = self.R
        office = c["offices"][0] if len(c["offices"]) == 1 or R.random() < 0.55 else R.choice(c["offices"][1:])
        dept = W([(d, d[2]) for d in c["depts"]])(R) if c["depts"] else None
        tpick = self.pick_title_kata if c["kata_titles"] else self.pick_title_jp
        ladder = TITLES_KATA if c["kata_titles"] else TITLES_JP
        ti = min(tpick(R) + title_bias, len(ladder) - 2)
        if c["exp"] < 2 and R.random() < 0.35:
            ti = len(ladder) - 1  # owner of a tiny company
        sub = R.choice(dept[1]) if dept and dept[1] and R.random() < 0.55 else None
        direct = None
        if R.random() < (0.38 if c["exp"] > 8 else 0.12):
            sw = office["phone"]
            direct = self.new_phone(sw[0], sw[1] if R.random() < 0.5 else None)
        return dict(company=c, office=office, dept=dept, sub=sub, title=ti, ladder=ladder, email=None, direct=direct)

    def assign_email(self, st, p):
        c = st["company"]
        if c["shared_info"]:
            st["email"] = "info@" + c["domain"]
        elif self.R.random() < 0.97:
            st["email"] = self.email_local(c, p) + "@" + c["domain"]

    def new_name(self, p, c, dept_people):
        R = self.R
        r = R.random()
        if r < 0.03:
            ls, gs = R.choice(self.f_sur), R.choice(self.f_given)
            p.update(foreign=True, lat_sur=ls[0], lat_given=gs[0], kata_sur=ls[1], kata_given=gs[1],
                     rom_sur=ls[0].lower(), rom_given=gs[0].lower())
            return
        p["foreign"] = False
        if r < 0.045 and self.people:  # namesake of someone elsewhere (common names more likely)
            q = R.choice(self.people)
            if not q["foreign"] and q["stints"][0]["company"] is not c:
                for k in ("sur", "sur_read", "given", "given_read", "sur_official"):
                    p[k] = q[k]
                return
        if dept_people and r < 0.075:  # same-surname colleague in the same department
            q = R.choice(dept_people)
            if not q["foreign"]:
                p["sur"], p["sur_read"], p["sur_official"] = q["sur"], q["sur_read"], q["sur_official"]
                gi = self.given[self.pick_given(R)]
                p["given"] = gi[0]
                p["given_read"] = gi[1][0] if len(gi[1]) == 1 or R.random() < 0.75 else R.choice(gi[1][1:])
                return
        s = self.surnames[self.pick_surname(R)]
        p["sur"] = s[0]
        p["sur_read"] = s[1][0] if len(s[1]) == 1 or R.random() < 0.8 else R.choice(s[1][1:])
        off = s[0]
        for ch, v in ITAIJI.items():
            if ch in off and R.random() < 0.12:
                off = off.replace(ch, R.choice(ITAIJI_ALT.get(ch, [v])))
        p["sur_official"] = off
        gi = self.given[self.pick_given(R)]
        p["given"] = gi[0]
        p["given_read"] = gi[1][0] if len(gi[1]) == 1 or R.random() < 0.75 else R.choice(gi[1][1:])

    def build_people(self):
        R = self.R
        self.people = []
        dept_members = defaultdict(list)
        total = 0
        eid = 0
        while total < self.N:
            c = self.pick_company(R)
            p = dict(eid="E%06d" % eid, stints=[])
            eid += 1
            p["rstyle"] = R.choices(["hepburn", "wapuro", "oh", "kunrei"], [72, 15, 8, 5])[0]
            p["pm"] = R.random() < 0.3
            st = self.new_stint(c, p)
            dkey = (c["id"], st["dept"][0] if st["dept"] else None)
            self.new_name(p, c, dept_members.get(dkey))
            if not p["foreign"]:
                p["rom_sur"] = romaji(p["sur_read"], p["rstyle"], p["pm"])
                p["rom_given"] = romaji(p["given_read"], p["rstyle"], p["pm"])
            self.assign_email(st, p)
            dept_members[dkey].append(p)
            p["stints"].append(st)
            p["mobile"] = self.new_mobile() if R.random() < 0.40 else None
            if R.random() < 0.25:
                fr, la = p["rom_given"], p["rom_sur"]
                loc = R.choice([f"{fr}.{la}{R.randint(60, 99)}", f"{la}{fr[0]}{R.randint(1, 999)}",
                                f"{fr}{la[:3]}", f"{la}.{fr}.{R.randint(1, 99)}", f"{fr[:3]}{la[:3]}{R.randint(10, 99)}"])
                p["personal"] = loc + "@" + self.pick_free(R)
            else:
                p["personal"] = None
            if R.random() < 0.30:
                n = 1 + R.choices([1, 2, 3, 4], [60, 25, 10, 5])[0]
            else:
                n = 1
            n = min(n, self.N - total)
            p["n"] = n
            total += n
            self.people.append(p)
        # job changers: ~4% of all people, drawn from the multi-record people
        multi = [p for p in self.people if p["n"] >= 2]
        k = min(len(multi), round(0.04 * len(self.people)))
        for p in R.sample(multi, k):
            old = p["stints"][0]["company"]
            while True:
                c = self.pick_company(R)
                if c is not old:
                    break
            st = self.new_stint(c, p, title_bias=R.choice([0, 0, 1]))
            self.assign_email(st, p)
            p["stints"].append(st)
        R.shuffle(self.people)

    # ------------------------------------------------------------------ timelines
    def timeline(self, p):
        """Return a list of (date, state) per record."""
        R = self.R
        n = p["n"]
        span_days = (EPOCH1 - EPOCH0).days
        d = EPOCH0 + dt.timedelta(days=R.uniform(0, span_days - 30), seconds=R.randint(8 * 3600, 20 * 3600))
        dates = [d]
        for _ in range(n - 1):
            gap = R.expovariate(1 / 320.0) + R.uniform(0, 20)
            nd = dates[-1] + dt.timedelta(days=gap, seconds=R.randint(-3 * 3600, 3 * 3600))
            if nd > EPOCH1:
                nd = dates[-1] + (EPOCH1 - dates[-1]) * R.random()
            dates.append(nd)
        st = dict(p["stints"][0])
        states = [dict(st)]
        change_at = R.randint(1, n - 1) if len(p["stints"]) > 1 else None
        for i in range(1, n):
            if change_at == i:
                st = dict(p["stints"][1])
            else:
                c = st["company"]
                if R.random() < 0.20 and st["title"] < len(st["ladder"]) - 2:  # promotion
                    st["title"] += 2 if (st["ladder"][st["title"] + 1] == "課長代理" and R.random() < 0.5) else 1
                    st["title"] = min(st["title"], len(st["ladder"]) - 2)
                if R.random() < 0.08 and len(c["depts"]) > 1:  # department move
                    nd = R.choice(c["depts"])
                    st["dept"], st["sub"] = nd, (R.choice(nd[1]) if nd[1] and R.random() < 0.5 else None)
                if R.random() < 0.06 and len(c["offices"]) > 1:  # transfer to another office
                    st["office"] = R.choice([o for o in c["offices"] if o is not st["office"]])
                    if st["direct"]:
                        st["direct"] = self.new_phone(st["office"]["phone"][0])
            states.append(dict(st))
        return list(zip(dates, states))

    # ------------------------------------------------------------------ renderers
    def company_variant(self, c, style):
        R = self.R
        core, legal = c["core"], c["legal"]
        if style == "official":
            return c["official"]
        if style == "abbr":
            ab = R.choice(LEGAL_ABBR[legal])
            return ab + core if c["front"] or R.random() < 0.15 else core + ab
        if style == "wrongpos":
            return core + legal if c["front"] else legal + core
        if style == "space":
            return legal + " " + core if c["front"] else core + " " + legal
        if style == "noform":
            return core
        if style == "english":
            if not c["eng"]:
                return c["official"] if R.random() < 0.6 else core
            e = c["eng"]
            r = R.random()
            if r < 0.25:
                return e.upper().replace(", LTD.", ",LTD.")
            if r < 0.45:
                return e.split(" Co.")[0].split(" Inc.")[0].split(" K.K.")[0].split(" Corporation")[0] \
                    .split(" LLC")[0].split(" G.K.")[0].split(" Ltd.")[0].split(" Co.,")[0]
            return e
        if style == "halfkana":
            if c["kind"] in ("kata", "latin"):
                h = halfwidth_kana(core)
                if R.random() < 0.3:  # bank-transfer style
                    return ("ｶ)" + h) if c["front"] else (h + "(ｶ")
                return (legal + h) if c["front"] else (h + legal)
            return c["official"]
        if style == "fullwidth":
            return fullwidth(c["official"]) if c["kind"] == "latin" else c["official"]
        raise ValueError(style)

    def render_company(self, st, kind, obj):
        R = self.R
        c = st["company"]
        if obj == "Contact":
            return c["account"] if R.random() < 0.9 else self.company_variant(c, "official")
        probs = {
            "card": [("official", 80), ("space", 5), ("english", 6), ("fullwidth", 2), ("branch", 7)],
            "event": [("official", 35), ("abbr", 20), ("noform", 22), ("wrongpos", 8), ("english", 7),
                      ("space", 5), ("halfkana", 3)],
            "web": [("official", 35), ("abbr", 18), ("noform", 25), ("wrongpos", 10), ("english", 8), ("space", 4)],
            "manual": [("official", 45), ("abbr", 20), ("noform", 25), ("wrongpos", 5), ("english", 5)],
            "list": [("official", 55), ("abbr", 20), ("halfkana", 12), ("fullwidth", 5), ("space", 8)],
        }[kind]
        style = W(probs)(R)
        if style == "branch":
            if st["office"]["name"] != "本社":
                return c["official"] + R.choice([" ", "　", ""]) + st["office"]["name"]
            style = "official"
        return self.company_variant(c, style)

    def name_fields(self, p, mode, official):
        """Return (LastName, FirstName) for a name rendering mode."""
        R = self.R
        if p["foreign"]:
            ks, kg = R.choice(p["kata_sur"]), R.choice(p["kata_given"])
            ls, lg = p["lat_sur"], p["lat_given"]
            if mode.startswith(("kanji", "kata", "hira", "halfkata")) and R.random() < 0.4:
                mode = "romaji_whole" if mode.endswith("whole") else R.choice(["romaji_split", "romaji_split", "romaji_upper"])
            if mode.startswith(("kanji", "kata", "hira")):
                if mode.endswith("whole") or mode == "kanji_whole_fw":
                    return (R.choice([f"{ks}　{kg}", f"{kg}・{ks}", f"{kg} {ks}"]), "")
                if mode.startswith("halfkata"):
                    return halfwidth_kana(ks), halfwidth_kana(kg)
                return ks, kg
            if mode == "romaji_whole":
                return (R.choice([f"{lg} {ls}", f"{ls} {lg}", f"{ls.upper()} {lg}"]), "")
            if mode == "romaji_upper":
                return ls.upper(), lg.upper()
            if mode == "romaji_swapped" or mode == "kanji_swapped":
                return lg, ls
            return ls, lg
        sur = p["sur_official"] if official else p["sur"]
        gv = p["given"]
        if mode == "kanji_split":
            return sur, gv
        if mode == "kanji_whole_fw":
            return f"{sur}　{gv}", ""
        if mode == "kanji_whole":
            return R.choice([f"{sur} {gv}", f"{sur}{gv}", f"{sur}　{gv}"]), ""
        if mode == "kanji_swapped":
            return gv, sur
        ks, kg = kata(p["sur_read"]), kata(p["given_read"])
        if mode == "kata_split":
            return ks, kg
        if mode == "kata_whole":
            return R.choice([f"{ks} {kg}", f"{ks}　{kg}", f"{ks}{kg}"]), ""
        if mode == "halfkata_split":
            return halfwidth_kana(ks), halfwidth_kana(kg)
        if mode == "hira_split":
            return hira(p["sur_read"]), hira(p["given_read"])
        # romaji
        style = p["rstyle"] if R.random() < 0.7 else R.choice(["hepburn", "wapuro", "oh", "kunrei"])
        rs = romaji(p["sur_read"], style, p["pm"]).capitalize()
        rg = romaji(p["given_read"], style, p["pm"]).capitalize()
        if mode == "romaji_split":
            return rs, rg
        if mode == "romaji_upper":
            return rs.upper(), rg.upper()
        if mode == "romaji_swapped":
            return (rg, rs) if R.random() < 0.6 else (rg.upper(), rs.upper())
        if mode == "romaji_whole":
            return R.choice([f"{rg} {rs}", f"{rs} {rg}", f"{rs.upper()} {rg}", f"{rg.upper()} {rs.upper()}"]), ""
        raise ValueError(mode)

    NAME_MODES = {
        "sansan": [("kanji_split", 78), ("kanji_whole_fw", 12), ("romaji_split", 4), ("kata_split", 3), ("kanji_swapped", 1),
                   ("romaji_swapped", 2)],
        "eight": [("kanji_split", 52), ("kanji_whole_fw", 22), ("kata_split", 12), ("halfkata_split", 4),
                  ("romaji_split", 5), ("romaji_upper", 3), ("kanji_swapped", 2)],
        "event": [("kanji_split", 58), ("kanji_whole", 10), ("kata_split", 9), ("halfkata_split", 3), ("romaji_split", 6),
                  ("romaji_upper", 3), ("romaji_swapped", 4), ("hira_split", 2), ("kanji_swapped", 3), ("kata_whole", 2)],
        "web": [("kanji_whole", 45), ("kanji_split", 33), ("kata_whole", 4), ("kata_split", 4), ("romaji_whole", 5),
                ("romaji_split", 3), ("hira_split", 2), ("kanji_swapped", 3), ("halfkata_split", 1)],
        "manual": [("kanji_split", 55), ("kata_split", 25), ("halfkata_split", 5), ("romaji_split", 8), ("kanji_whole", 5),
                   ("romaji_swapped", 2)],
        "list": [("kanji_split", 70), ("kanji_whole", 8), ("halfkata_split", 12), ("kata_split", 6), ("romaji_upper", 4)],
    }

    def fmt_phone(self, t, kind):
        R = self.R
        a, m, l = t
        styles = {
            "card": [("hyphen", 78), ("intl", 9), ("intl0", 3), ("paren", 4), ("plain", 3), ("dot", 3)],
            "event": [("hyphen", 55), ("plain", 30), ("fw", 8), ("kana_dash", 4), ("intl_sp", 3)],
            "web": [("hyphen", 45), ("plain", 35), ("fw", 12), ("kana_dash", 5), ("intl", 3)],
            "manual": [("hyphen", 70), ("plain", 20), ("paren", 6), ("fw", 4)],
            "list": [("hyphen", 50), ("plain", 25), ("fw", 20), ("paren", 5)],
        }[kind]
        s = W(styles)(R)
        if s == "hyphen":
            return f"{a}-{m}-{l}"
        if s == "plain":
            return a + m + l
        if s == "intl":
            return f"+81-{a[1:]}-{m}-{l}"
        if s == "intl_sp":
            return f"+81 {a[1:]} {m} {l}"
        if s == "intl0":
            return f"+81(0){a[1:]}-{m}-{l}"
        if s == "paren":
            return f"{a}({m}){l}"
        if s == "dot":
            return f"{a}.{m}.{l}"
        if s == "fw":
            return fullwidth(R.choice([f"{a}-{m}-{l}", a + m + l]))
        if s == "kana_dash":
            return f"{a}ー{m}ー{l}"
        raise ValueError(s)

    def fmt_postal(self, pc, kind):
        R = self.R
        s = W({"card": [("std", 45), ("mark", 40), ("nohy", 5), ("marknohy", 5), ("fw", 5)],
               "eight": [("mark", 75), ("std", 20), ("fw", 5)]}.get(kind, [("std", 50), ("nohy", 25), ("mark", 10),
                                                                         ("fw", 12), ("marknohy", 3)]))(R)
        if s == "std":
            return pc
        if s == "nohy":
            return pc.replace("-", "")
        if s == "mark":
            return R.choice(["〒", "〒", "〒 "]) + pc
        if s == "marknohy":
            return "〒" + pc.replace("-", "")
        return R.choice(["", "〒"]) + fullwidth(pc)

    def fmt_street(self, off):
        R = self.R
        a, b, c = off["nums"]
        s = W([("h", 55), ("chome", 15), ("ban", 12), ("fw", 8), ("minus", 5), ("kd", 5)])(R)
        num = {"h": f"{a}-{b}-{c}", "chome": f"{a}丁目{b}-{c}", "ban": f"{a}丁目{b}番{c}号",
               "fw": fullwidth(f"{a}-{b}-{c}"), "minus": f"{a}−{b}−{c}", "kd": f"{a}ー{b}ー{c}"}[s]
        st = off["town"] + num
        if off["bld"] and R.random() < 0.75:
            fl = R.choice([f"{off['floor']}F", f"{off['floor']}階", f" {off['floor']}F", fullwidth(f"{off['floor']}F")])
            st += R.choice([" ", "　", ""]) + off["bld"] + fl
        return st

    def render_address(self, off, kind, sub):
        R = self.R
        street = self.fmt_street(off)
        mode = W({"card": [("std", 75), ("pref_city", 12), ("all_street", 5), ("no_pref", 8)],
                  "eight": [("all_street", 55), ("std", 35), ("pref_city", 10)]}.get(
            sub, [("std", 60), ("pref_city", 15), ("all_street", 10), ("no_pref", 10), ("short_pref", 5)]))(R)
        if mode == "std":
            return off["pref"], off["city"], street
        if mode == "pref_city":
            return "", off["pref"] + off["city"], street
        if mode == "all_street":
            return "", "", off["pref"] + off["city"] + R.choice(["", " "]) + street
        if mode == "no_pref":
            return "", off["city"], street
        return off["pref"].rstrip("都府県"), off["city"], street

    def render_email(self, e, kind):
        R = self.R
        if not e:
            return ""
        r = R.random()
        if r < 0.03:
            e = e.upper()
        elif r < 0.07:
            loc, dom = e.split("@")
            e = ".".join(x.capitalize() for x in loc.split(".")) + "@" + dom
        elif r < 0.08:
            e = e + " "
        if kind == "card" and R.random() < 0.012:  # OCR on the address
            e = R.choice([e.replace("m", "rn", 1), e.replace("l", "1", 1), e.replace("o", "0", 1)])
        return e

    def render_dept(self, st, kind, card_branch):
        R = self.R
        d = st["dept"]
        if not d:
            return ""
        main, sub = d[0], st["sub"]
        if st["ladder"][st["title"]] in ("部長", "本部長", "執行役員", "取締役", "ディレクター"):
            sub = None
        r = R.random()
        if kind in ("card", "list"):
            s = main + (R.choice([" ", "　", ""]) + sub if sub else "")
            if card_branch and st["office"]["name"] != "本社" and R.random() < 0.5:
                s = st["office"]["name"] + R.choice([" ", "　"]) + s
            if r < 0.04:
                s = d[3]
            return s
        if r < 0.55:
            return main
        if r < 0.7 and sub:
            return sub
        if r < 0.8:
            return main.rstrip("部") if main.endswith("部") else main
        if r < 0.85:
            return d[3]
        return main + (" " + sub if sub else "")

    def render_title(self, st, kind, english):
        R = self.R
        t = st["ladder"][st["title"]]
        if not t:
            return "" if R.random() < 0.9 else R.choice(["担当", "スタッフ", "一般"])
        if english:
            return TITLE_EN.get(t, t)
        if kind == "card" and st["dept"] and R.random() < 0.08:
            return st["dept"][0] + " " + t
        if R.random() < 0.04:
            return TITLE_EN.get(t, t)
        return t

    def ocr(self, s):
        R = self.R
        idx = [i for i, ch in enumerate(s) if ch in OCR]
        if not idx:
            return s, False
        i = R.choice(idx)
        return s[:i] + OCR[s[i]] + s[i + 1:], True

    def render(self, p, st, when, rec_no):
        R = self.R
        lead_source, kind, p_contact = self.pick_source(R)
        obj = "Contact" if R.random() < p_contact else "Lead"
        sub = kind
        if kind == "card":
            sub = "sansan" if R.random() < 0.6 else "eight"
        c, off = st["company"], st["office"]
        hq = c["offices"][0]
        rec = dict(LeadSource=lead_source if R.random() < 0.96 else "")
        # name
        mode = W(self.NAME_MODES[sub])(R)
        official = kind in ("card", "list") or R.random() < 0.5
        ln, fn = self.name_fields(p, mode, official)
        if kind == "web" and fn and R.random() < 0.35:  # whole name typed into one field
            sep = " " if ln.isascii() else R.choice([" ", "　", ""])
            ln, fn = ln + sep + fn, ""
        self.stats["ocr_total"] += kind == "card"
        if kind == "card" and R.random() < 0.06:
            if R.random() < 0.5 and fn:
                fn, hit = self.ocr(fn)
                if not hit:
                    ln, hit = self.ocr(ln)
            else:
                ln, hit = self.ocr(ln)
                if not hit and fn:
                    fn, hit = self.ocr(fn)
            self.stats["ocr"] += hit
        if R.random() < 0.015:
            ln = ln + R.choice([" ", "　"])
        rec["LastName"], rec["FirstName"] = ln, fn
        english = p["foreign"] and R.random() < 0.5 or mode.startswith("romaji") and R.random() < 0.3
        # company
        comp = self.render_company(st, kind, obj)
        if english and c["eng"] and kind != "list" and R.random() < 0.6:
            comp = self.company_variant(c, "english")
        if kind == "card" and R.random() < 0.02:
            comp, _ = self.ocr(comp)
        rec["Company"] = comp
        # department / title
        show = {"card": 0.92, "list": 0.85, "event": 0.45, "web": 0.55, "manual": 0.6}[kind]
        minimal = kind == "event" and R.random() < 0.6  # event list: name + company + email only
        if minimal:
            show = 0.0
        rec["Department"] = self.render_dept(st, kind, kind == "card") if R.random() < show else ""
        if english and rec["Department"] and st["dept"] and R.random() < 0.7:
            rec["Department"] = st["dept"][3]
        rec["Title"] = self.render_title(st, kind, english) if R.random() < show else ""
        # email
        work, personal = st["email"], p["personal"]
        pe = {"card": 0.02, "event": 0.08, "web": 0.16, "manual": 0.05, "list": 0.0}[kind]
        miss = {"card": 0.08, "event": 0.03, "web": 0.0, "manual": 0.4, "list": 0.35}[kind]
        r = R.random()
        if personal and r < pe:
            email = personal
        elif r < pe + miss or not work:
            email = personal if (kind == "web" and personal) else ""
        else:
            email = work
        rec["Email"] = self.render_email(email, kind)
        # phones
        mob = p["mobile"]
        phone, mphone = None, None
        if kind == "card":
            phone = st["direct"] if st["direct"] and R.random() < 0.75 else off["phone"]
            if mob and R.random() < 0.8:
                mphone = mob
        elif kind == "event":
            if not minimal and R.random() < 0.5:
                phone = mob if mob and R.random() < 0.35 else (st["direct"] or off["phone"])
        elif kind == "web":
            if R.random() < 0.85:
                if mob and R.random() < 0.4:
                    phone = mob
                else:
                    phone = st["direct"] if st["direct"] and R.random() < 0.6 else (hq["phone"] if R.random() < 0.25 else off["phone"])
        elif kind == "manual":
            if R.random() < 0.85:
                phone = st["direct"] if st["direct"] and R.random() < 0.5 else (hq["phone"] if R.random() < 0.25 else off["phone"])
            if mob and R.random() < 0.35:
                mphone = mob
        else:  # purchased list: company numbers
            phone = hq["phone"] if R.random() < 0.6 else off["phone"]
        if phone and kind == "card" and R.random() < 0.01:  # OCR on a digit
            a, m, l = phone
            i = R.randrange(4)
            l = l[:i] + {"8": "3", "3": "8", "1": "7", "7": "1", "6": "5", "5": "6", "0": "8", "9": "0",
                         "2": "7", "4": "1"}[l[i]] + l[i + 1:]
            phone = (a, m, l)
        fk = "card" if kind == "card" else kind
        rec["Phone"] = self.fmt_phone(phone, fk) if phone else ""
        rec["MobilePhone"] = self.fmt_phone(mphone, fk) if mphone else ""
        # address
        addr_p = {"card": 0.93, "list": 0.9, "event": 0.0 if minimal else 0.1, "web": 0.35, "manual": 0.3}[kind]
        if lead_source == "資料請求":
            addr_p = 0.9
        if R.random() < addr_p:
            o = off if kind != "list" or R.random() < 0.4 else hq
            rec["PostalCode"] = self.fmt_postal(o["postal"], sub) if R.random() < 0.95 else ""
            rec["State"], rec["City"], rec["Street"] = self.render_address(o, kind, sub)
        else:
            rec["PostalCode"] = rec["State"] = rec["City"] = rec["Street"] = ""
        mod = when + dt.timedelta(days=R.expovariate(1 / 200.0) if R.random() < 0.6 else 0,
                                  seconds=R.randint(0, 3600))
        if mod > EPOCH1 + dt.timedelta(days=30):
            mod = when + dt.timedelta(seconds=R.randint(60, 7200))
        rec["_created"], rec["_modified"], rec["_obj"], rec["_eid"] = when, mod, obj, p["eid"]
        return rec

    # ------------------------------------------------------------------ main
    def run(self):
        self.stats = Counter()
        n_people_est = int(self.N / 1.48)
        self.people = []
        self.build_companies(n_people_est)
        self.build_people()
        recs = []
        for p in self.people:
            for i, (when, st) in enumerate(self.timeline(p)):
                recs.append(self.render(p, st, when, i))
        recs.sort(key=lambda r: r["_created"])
        counters = {"Lead": self.R.randint(10 ** 6, 10 ** 7), "Contact": self.R.randint(10 ** 6, 10 ** 7)}
        pods = {"Lead": "00Q5g00000", "Contact": "0035g00000"}
        for r in recs:
            counters[r["_obj"]] += self.R.randint(1, 40)
            r["Id"] = id18(pods[r["_obj"]] + b62(counters[r["_obj"]], 5))
        return recs


COLUMNS = ["Id", "LastName", "FirstName", "Company", "Department", "Title", "Email", "Phone", "MobilePhone",
           "PostalCode", "State", "City", "Street", "LeadSource", "CreatedDate", "LastModifiedDate"]


def iso(d):
    return d.strftime("%Y-%m-%dT%H:%M:%S") + ".000Z"


def norm_phone(s):
    s = jaconv.z2h(s, kana=False, ascii=True, digit=True)
    d = "".join(ch for ch in s if ch.isdigit())
    if s.strip().startswith("+81"):
        d = d[2:]
        d = d if d.startswith("0") else "0" + d
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--truth", required=True)
    a = ap.parse_args()
    t0 = time.time()
    g = Generator(a.records, a.seed)
    recs = g.run()
    for path in (a.out, a.truth):
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
    with open(a.out, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in recs:
            r["CreatedDate"], r["LastModifiedDate"] = iso(r["_created"]), iso(r["_modified"])
            w.writerow([r[c] for c in COLUMNS])
    with open(a.truth, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["Id", "entity_id"])
        for r in recs:
            w.writerow([r["Id"], r["_eid"]])
    # summary
    ids = [r["Id"] for r in recs]
    assert len(set(ids)) == len(ids) and all(len(i) == 18 for i in ids)
    ent = Counter(r["_eid"] for r in recs)
    true_pairs = sum(n * (n - 1) // 2 for n in ent.values())
    by_phone = defaultdict(Counter)
    by_email = defaultdict(Counter)
    for r in recs:
        if r["Phone"]:
            by_phone[norm_phone(r["Phone"])][r["_eid"]] += 1
        if r["Email"]:
            by_email[r["Email"].strip().lower()][r["_eid"]] += 1

    def diff_pairs(groups):
        tot = 0
        for cnt in groups.values():
            n = sum(cnt.values())
            tot += n * (n - 1) // 2 - sum(k * (k - 1) // 2 for k in cnt.values())
        return tot

    objs = Counter(r["_obj"] for r in recs)
    src = Counter(r["LeadSource"] or "(blank)" for r in recs)
    sizes = Counter(min(n, 5) for n in ent.values())
    movers = sum(1 for p in g.people if len(p["stints"]) > 1)
    foreign = sum(1 for p in g.people if p["foreign"])
    print(f"records              {len(recs)}")
    print(f"entities (people)    {len(ent)}  (with >1 record: {sum(1 for n in ent.values() if n > 1)}; "
          f"sizes {dict(sorted(sizes.items()))})")
    print(f"companies            {len(g.companies)}")
    print(f"true pairs           {true_pairs}")
    print(f"diff-people pairs sharing a Phone  {diff_pairs(by_phone)}")
    print(f"diff-people pairs sharing an Email {diff_pairs(by_email)}")
    print(f"Leads / Contacts     {objs['Lead']} / {objs['Contact']}")
    print(f"job changers         {movers}   foreign people {foreign}   OCR-misread card records {g.stats['ocr']}"
          f" of {g.stats['ocr_total']}")
    print("LeadSource           " + ", ".join(f"{k}:{v}" for k, v in src.most_common()))
    print(f"time                 {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
