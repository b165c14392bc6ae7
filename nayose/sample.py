"""Built-in sample org: a synthetic Salesforce Data Loader export with known duplicates.

`generate_sample(records, seed)` returns two pyarrow tables:

* the records, one row per Lead / Contact, columns named like a Data Loader export
  (``Id, Object, FirstName, LastName, Company, Account.Name, ...``, then the custom reading fields
  ``LastNameKana__c, FirstNameKana__c``), every column a string, null where the export would be empty;
* the truth, ``Id, entity_id, kind``: records sharing an ``entity_id`` are the same real person
  (true duplicates); ``kind`` is customer / billing / recruiting / partner.

`write_sample(records, seed, out_csv)` writes both as UTF-8 CSV (quoted values, empty for null).

The data is mostly Japanese (about 10 % English names, some English companies) and is built to be
hard in the same ways real orgs are hard:

* about 16 % of people have 1-3 extra records (about 30 % of records sit in a duplicate group),
  each extra differing by 1-4 of the variations real Japanese data shows: full-width / half-width
  text and digits, legal form moved or abbreviated ((株)ABC, ㈱ABC, ABC株式会社, ABC Co., Ltd.),
  names with / without a space or whole in LastName, katakana / half-width katakana / hiragana /
  romaji (Satou / Sato / Satoh) instead of kanji, swapped name fields, one-character typos and
  variant kanji (渡辺 / 渡邊), phone / postal / address formats, email case, plus-tags, personal vs
  work email, moved office, changed email domain, job changes, missing fields, title changes;
* every record (singletons and colleagues too) gets the same kinds of format noise at a lower rate,
  so no format is a duplicate marker;
* hard negatives are plentiful: colleagues sharing the switchboard phone, address, postal code and
  email domain (often with the same common surname), the same full name at different companies,
  family members sharing a home address and phone, shared role addresses (info@, sales@).

Choices worth knowing:

* Business-card routes (名刺 / Business Card / Sansan / Eight) are over-represented among the extra
  records; Sansan records carry a per-person ``Sansan_Person_Id__c``.
* Readings (フリガナ) live in the custom fields ``LastNameKana__c`` / ``FirstNameKana__c``: the
  person's true katakana reading from the name pools, whatever script or spelling the name fields
  show. Filled on about 85 % of Japanese business-card records (about 15 % of those in half-width
  katakana, as card tools export them) and on about 40 % of other Japanese records; empty for
  English names. "Eight captured only the first character of the reading" shows on about a quarter
  of Japanese Eight records as readings of one kana each (大村 / 清 with オ / キ): the name fields
  keep the name as captured. The readings come from their own random stream, so every other
  column is what it would be without them.
* Company is required on a Lead, so B2C leads carry placeholders (個人, [[Unknown]], -, なし, the
  person's name); B2C contacts have no Account or the bucket Account 個人のお客様. A spelling variant
  of a company on a Contact is a duplicate Account with its own AccountId.
* Dates span the 8 years before a fixed export time (2026-11-01), so output never depends on today.
* Row order follows CreatedDate and Ids count up per object, as in a real org, so neither row order
  nor Id reveals which records belong together.

Everything is deterministic by ``seed``; the name, company and address pools are fixed. Codes are
drawn with numpy per record and strings are assembled with pyarrow compute kernels; only rare
variations (typos, width changes, email case / plus-tags) run per row in Python. 1M records take
about 20 s on two cores.
"""

from __future__ import annotations

import functools
import gc
import random
import re
import time
from pathlib import Path

import jaconv
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

__all__ = ["COLUMNS", "TRUTH_COLUMNS", "generate_sample", "write_sample", "sample_stats"]

COLUMNS = [
    "Id", "Object", "FirstName", "LastName", "Company", "Account.Name", "AccountId", "Title",
    "Department", "Email", "Phone", "MobilePhone", "Street", "City", "State", "PostalCode",
    "Country", "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode",
    "MailingCountry", "Birthdate", "LeadSource", "OwnerId", "CreatedDate", "LastModifiedDate",
    "Sansan_Person_Id__c", "HasOptedOutOfEmail", "Segment__c", "LastNameKana__c", "FirstNameKana__c",
]
TRUTH_COLUMNS = ["Id", "entity_id", "kind"]
KINDS = ("customer", "billing", "recruiting", "partner")

# Export "now": fixed so the output never depends on the day it is generated.
_END = np.datetime64("2026-11-01T00:00:00", "s")
_SPAN_DAYS = 8 * 365 + 2

# --------------------------------------------------------------------------------------------
# Pools (fixed, seed-independent). Surnames are ordered roughly by real frequency.
# --------------------------------------------------------------------------------------------

_SURNAMES = """
佐藤:サトウ 鈴木:スズキ 高橋:タカハシ 田中:タナカ 伊藤:イトウ 渡辺:ワタナベ 山本:ヤマモト 中村:ナカムラ
小林:コバヤシ 加藤:カトウ 吉田:ヨシダ 山田:ヤマダ 佐々木:ササキ 山口:ヤマグチ 松本:マツモト 井上:イノウエ
木村:キムラ 林:ハヤシ 斎藤:サイトウ 清水:シミズ 山崎:ヤマザキ 森:モリ 池田:イケダ 橋本:ハシモト
阿部:アベ 石川:イシカワ 山下:ヤマシタ 中島:ナカジマ 石井:イシイ 小川:オガワ 前田:マエダ 岡田:オカダ
長谷川:ハセガワ 藤田:フジタ 後藤:ゴトウ 近藤:コンドウ 村上:ムラカミ 遠藤:エンドウ 青木:アオキ 坂本:サカモト
斉藤:サイトウ 福田:フクダ 太田:オオタ 西村:ニシムラ 藤井:フジイ 金子:カネコ 岡本:オカモト 藤原:フジワラ
中野:ナカノ 三浦:ミウラ 原田:ハラダ 中川:ナカガワ 松田:マツダ 竹内:タケウチ 小野:オノ 田村:タムラ
中山:ナカヤマ 和田:ワダ 石田:イシダ 森田:モリタ 上田:ウエダ 原:ハラ 内田:ウチダ 柴田:シバタ
酒井:サカイ 宮崎:ミヤザキ 横山:ヨコヤマ 高木:タカギ 安藤:アンドウ 宮本:ミヤモト 大野:オオノ 小島:コジマ
工藤:クドウ 谷口:タニグチ 今井:イマイ 高田:タカダ 丸山:マルヤマ 増田:マスダ 杉山:スギヤマ 村田:ムラタ
大塚:オオツカ 小山:コヤマ 平野:ヒラノ 藤本:フジモト 久保:クボ 松井:マツイ 千葉:チバ 岩崎:イワサキ
桜井:サクライ 木下:キノシタ 野口:ノグチ 松尾:マツオ 菊地:キクチ 野村:ノムラ 新井:アライ 渡部:ワタナベ
佐野:サノ 古川:フルカワ 杉本:スギモト 菅原:スガワラ 市川:イチカワ 大西:オオニシ 五十嵐:イガラシ 西田:ニシダ
中田:ナカタ 小松:コマツ 北村:キタムラ 安田:ヤスダ 中西:ナカニシ 川口:カワグチ 山内:ヤマウチ 田口:タグチ
服部:ハットリ 樋口:ヒグチ 永井:ナガイ 松岡:マツオカ 吉川:ヨシカワ 中尾:ナカオ 秋山:アキヤマ 大橋:オオハシ
荒木:アラキ 関:セキ 平田:ヒラタ 河野:コウノ 宮田:ミヤタ 本田:ホンダ 菅野:スガノ 辻:ツジ
上野:ウエノ 吉村:ヨシムラ 武田:タケダ 大久保:オオクボ 西川:ニシカワ 小池:コイケ 須藤:スドウ 東:ヒガシ
田辺:タナベ 岩田:イワタ 野田:ノダ 桑原:クワハラ 中井:ナカイ 小西:コニシ 浅野:アサノ 馬場:ババ
内藤:ナイトウ 松下:マツシタ 川村:カワムラ 大石:オオイシ 星野:ホシノ 堀:ホリ 菊池:キクチ 岡崎:オカザキ
飯田:イイダ 熊谷:クマガイ 川崎:カワサキ 吉岡:ヨシオカ 大谷:オオタニ 山中:ヤマナカ 早川:ハヤカワ 北川:キタガワ
平井:ヒライ 片山:カタヤマ 森本:モリモト 広瀬:ヒロセ 水野:ミズノ 岩本:イワモト 荒井:アライ 松村:マツムラ
岡:オカ 浜田:ハマダ 長田:ナガタ 沢田:サワダ 島田:シマダ 小田:オダ 西山:ニシヤマ 榎本:エノモト
堀内:ホリウチ 中谷:ナカタニ 黒田:クロダ 尾崎:オザキ 望月:モチヅキ 永田:ナガタ 石原:イシハラ 矢野:ヤノ
小沢:オザワ 松永:マツナガ 福島:フクシマ 川上:カワカミ 宮下:ミヤシタ 大川:オオカワ 河合:カワイ 西尾:ニシオ
山根:ヤマネ 大島:オオシマ 今村:イマムラ 坂口:サカグチ 矢島:ヤジマ 富田:トミタ 関口:セキグチ 中原:ナカハラ
根本:ネモト 松原:マツバラ 竹田:タケダ 金井:カナイ 岩井:イワイ 森下:モリシタ 大木:オオキ 土屋:ツチヤ
吉原:ヨシハラ 石橋:イシバシ 西:ニシ 野崎:ノザキ 高野:タカノ 小倉:オグラ 宮原:ミヤハラ 高山:タカヤマ
小野寺:オノデラ 千田:チダ 大森:オオモリ 今野:コンノ 奥村:オクムラ 飯島:イイジマ 水谷:ミズタニ 佐久間:サクマ
石塚:イシヅカ 成田:ナリタ 白石:シライシ 平山:ヒラヤマ 篠原:シノハラ 杉浦:スギウラ 上原:ウエハラ 田島:タジマ
青山:アオヤマ 吉井:ヨシイ 松浦:マツウラ 本間:ホンマ 岡村:オカムラ 内山:ウチヤマ 細川:ホソカワ 伊東:イトウ
堤:ツツミ 相馬:ソウマ 浅井:アサイ 南:ミナミ 大竹:オオタケ 宇野:ウノ 福井:フクイ 中澤:ナカザワ
桜田:サクラダ 市村:イチムラ 吉野:ヨシノ 三宅:ミヤケ 足立:アダチ 北野:キタノ 栗原:クリハラ 柳田:ヤナギダ
小原:オハラ 古田:フルタ 戸田:トダ 梅田:ウメダ 奥田:オクダ 堀田:ホッタ 藤川:フジカワ 森川:モリカワ
小泉:コイズミ 新田:ニッタ 宮内:ミヤウチ 堀江:ホリエ 徳永:トクナガ 大山:オオヤマ 安部:アベ 川島:カワシマ
村井:ムライ 松山:マツヤマ 岡部:オカベ 稲垣:イナガキ 三上:ミカミ 河村:カワムラ 寺田:テラダ 田原:タハラ
川田:カワダ 西野:ニシノ 谷:タニ 吉本:ヨシモト 浅田:アサダ 関根:セキネ 芦田:アシダ 福本:フクモト
大村:オオムラ 三木:ミキ 神田:カンダ 細谷:ホソヤ 植田:ウエダ 山岸:ヤマギシ 田代:タシロ 宮川:ミヤガワ
岸:キシ 秋元:アキモト 若林:ワカバヤシ 竹中:タケナカ 米田:ヨネダ 有田:アリタ 平川:ヒラカワ 中嶋:ナカジマ
長尾:ナガオ 松島:マツシマ 島崎:シマザキ 西岡:ニシオカ 辻本:ツジモト 加納:カノウ 高井:タカイ 金田:カネダ
宮沢:ミヤザワ 三輪:ミワ 岩瀬:イワセ 石山:イシヤマ 須田:スダ 日高:ヒダカ 下田:シモダ 坂井:サカイ
古賀:コガ 松野:マツノ 小森:コモリ 桑田:クワタ 大和田:オオワダ 長野:ナガノ 竹下:タケシタ 寺島:テラシマ
福永:フクナガ 片岡:カタオカ 田上:タガミ 川端:カワバタ 深沢:フカザワ 野中:ノナカ 村山:ムラヤマ 伊達:ダテ
渡邊:ワタナベ 髙橋:タカハシ 齋藤:サイトウ 山﨑:ヤマザキ 濱田:ハマダ 澤田:サワダ 廣瀬:ヒロセ 櫻井:サクライ
小澤:オザワ 渡邉:ワタナベ 東海林:ショウジ 一ノ瀬:イチノセ 四宮:シノミヤ 海老原:エビハラ 鬼塚:オニヅカ 荻野:オギノ
宇佐美:ウサミ 江口:エグチ 大場:オオバ 緒方:オガタ 笠原:カサハラ 亀井:カメイ 久保田:クボタ 黒川:クロカワ
小坂:コサカ 佐伯:サエキ 塩田:シオタ 篠田:シノダ 下村:シモムラ 新谷:シンタニ 菅:スガ 関谷:セキヤ
高瀬:タカセ 滝沢:タキザワ 立石:タテイシ 谷川:タニガワ 塚本:ツカモト 津田:ツダ 土井:ドイ 豊田:トヨダ
中沢:ナカザワ 成瀬:ナルセ 西原:ニシハラ 二宮:ニノミヤ 野沢:ノザワ 萩原:ハギワラ 畑中:ハタナカ 花田:ハナダ
林田:ハヤシダ 日野:ヒノ 平松:ヒラマツ 深田:フカダ 藤村:フジムラ 古谷:フルヤ 前川:マエカワ 牧野:マキノ
増井:マスイ 三島:ミシマ 水上:ミズカミ 溝口:ミゾグチ 村松:ムラマツ 持田:モチダ 森山:モリヤマ 八木:ヤギ
柳沢:ヤナギサワ 山川:ヤマカワ 湯浅:ユアサ 横田:ヨコタ 吉沢:ヨシザワ 米山:ヨネヤマ 若松:ワカマツ 鷲尾:ワシオ
"""

_GIVEN_MALE = """
誠:マコト 大輔:ダイスケ 健一:ケンイチ 浩:ヒロシ 博:ヒロシ 隆:タカシ 修:オサム 学:マナブ 剛:ツヨシ 健太:ケンタ
拓也:タクヤ 翔太:ショウタ 直樹:ナオキ 和也:カズヤ 達也:タツヤ 哲也:テツヤ 雄一:ユウイチ 健二:ケンジ 聡:サトシ
亮:リョウ 淳:ジュン 明:アキラ 茂:シゲル 清:キヨシ 実:ミノル 進:ススム 豊:ユタカ 勇:イサム 正:タダシ 武:タケシ
康弘:ヤスヒロ 浩二:コウジ 英樹:ヒデキ 秀樹:ヒデキ 俊介:シュンスケ 慎一:シンイチ 真一:シンイチ 誠一:セイイチ
洋平:ヨウヘイ 裕介:ユウスケ 大樹:ダイキ 悠斗:ユウト 蓮:レン 陽太:ヨウタ 翔:ショウ 大翔:ヒロト 颯太:ソウタ
悠真:ユウマ 湊:ミナト 一郎:イチロウ 太郎:タロウ 次郎:ジロウ 三郎:サブロウ 健太郎:ケンタロウ 浩一:コウイチ
孝:タカシ 弘:ヒロシ 敏行:トシユキ 和彦:カズヒコ 正人:マサト 雅之:マサユキ 昌平:ショウヘイ 秀明:ヒデアキ
克也:カツヤ 智也:トモヤ 友哉:トモヤ 拓海:タクミ 匠:タクミ 優:ユウ 航:ワタル 渉:ワタル 歩:アユム 大地:ダイチ
海斗:カイト 陸:リク 樹:イツキ 健:ケン 賢一:ケンイチ 謙二:ケンジ 光:ヒカル 輝:ヒカル 崇:タカシ 隆之:タカユキ
貴之:タカユキ 隆史:タカシ 義男:ヨシオ 幸男:ユキオ 秀夫:ヒデオ 和夫:カズオ 正夫:マサオ 光男:ミツオ 昭:アキラ
晃:アキラ 徹:トオル 透:トオル 亨:トオル 稔:ミノル 勝:マサル 優一:ユウイチ 祐一:ユウイチ 雄太:ユウタ 裕太:ユウタ
勇気:ユウキ 祐樹:ユウキ 友樹:トモキ 直人:ナオト 圭:ケイ 圭介:ケイスケ 啓介:ケイスケ 恵介:ケイスケ 大介:ダイスケ
亮介:リョウスケ 涼介:リョウスケ 良平:リョウヘイ 康平:コウヘイ 航平:コウヘイ 浩平:コウヘイ 修平:シュウヘイ
純一:ジュンイチ 潤:ジュン 慎也:シンヤ 信也:シンヤ 伸也:シンヤ 紀夫:ノリオ 典之:ノリユキ 憲一:ケンイチ 龍:リュウ
竜也:タツヤ 龍之介:リュウノスケ 颯:ハヤテ 蒼:アオイ 朝陽:アサヒ 陽翔:ハルト 悠人:ユウト 翼:ツバサ 智:サトシ
拓:タク 卓也:タクヤ 琢磨:タクマ 拓真:タクマ 文彦:フミヒコ 信彦:ノブヒコ 正樹:マサキ 雅樹:マサキ 将:ショウ
翔平:ショウヘイ 祥平:ショウヘイ 直也:ナオヤ 尚也:ナオヤ 昇:ノボル 登:ノボル 栄一:エイイチ 英二:エイジ
英明:ヒデアキ 泰:ヤスシ 靖:ヤスシ 康:ヤスシ 保:タモツ 賢治:ケンジ 憲治:ケンジ 宏:ヒロシ 寛:ヒロシ 洋:ヒロシ
広樹:ヒロキ 弘樹:ヒロキ 大貴:ダイキ 大輝:ダイキ 俊:シュン 駿:シュン 瞬:シュン 純平:ジュンペイ 淳平:ジュンペイ
恭平:キョウヘイ 京介:キョウスケ 孝之:タカユキ 正和:マサカズ 雅人:マサト 政人:マサト 博之:ヒロユキ 裕之:ヒロユキ
和樹:カズキ 一樹:カズキ 健司:ケンジ 俊彦:トシヒコ 洋介:ヨウスケ 陽介:ヨウスケ 雄介:ユウスケ 悠介:ユウスケ
"""

_GIVEN_FEMALE = """
陽子:ヨウコ 恵子:ケイコ 京子:キョウコ 洋子:ヨウコ 幸子:サチコ 裕子:ユウコ 直子:ナオコ 智子:トモコ 美穂:ミホ
由美:ユミ 真由美:マユミ 明美:アケミ 久美子:クミコ 恵美:エミ 愛:アイ 彩:アヤ 舞:マイ 麻衣:マイ 美咲:ミサキ
葵:アオイ 結衣:ユイ 陽菜:ヒナ さくら:サクラ 優子:ユウコ 香織:カオリ 沙織:サオリ 由佳:ユカ 真理子:マリコ
美紀:ミキ 千尋:チヒロ 奈々:ナナ 亜希子:アキコ 明子:アキコ 和子:カズコ 節子:セツコ 典子:ノリコ 純子:ジュンコ
順子:ジュンコ 美香:ミカ 美加:ミカ 友美:トモミ 智美:トモミ 由紀:ユキ 有紀:ユキ 由香:ユカ 絵美:エミ 恵:メグミ
めぐみ:メグミ 愛子:アイコ 美和:ミワ 美智子:ミチコ 道子:ミチコ 文子:フミコ 弘子:ヒロコ 宏美:ヒロミ 裕美:ヒロミ
浩子:ヒロコ 真紀:マキ 麻美:アサミ 朋子:トモコ 知子:トモコ 千春:チハル 千晶:チアキ 千里:チサト 里美:サトミ
聡子:サトコ 美奈子:ミナコ 加奈子:カナコ 可奈:カナ 佳奈:カナ 彩香:アヤカ 綾香:アヤカ 彩乃:アヤノ 綾:アヤ
瞳:ヒトミ 薫:カオル 静香:シズカ 晴美:ハルミ 春香:ハルカ 遥:ハルカ 菜々子:ナナコ 菜摘:ナツミ 夏美:ナツミ
奈津子:ナツコ 理恵:リエ 里恵:リエ 理沙:リサ 梨沙:リサ 沙也加:サヤカ 清香:サヤカ 早紀:サキ 咲:サキ 紗希:サキ
真央:マオ 麻央:マオ 美月:ミツキ 美優:ミユ 未来:ミク 萌:モエ 桃子:モモコ 若菜:ワカナ 優花:ユウカ 由衣:ユイ
唯:ユイ 結菜:ユイナ 芽衣:メイ 凛:リン 杏:アン 杏奈:アンナ 紬:ツムギ 陽葵:ヒマリ 結愛:ユア 美桜:ミオ 澪:ミオ
莉子:リコ 理子:リコ 紀子:ノリコ 法子:ノリコ 直美:ナオミ 尚美:ナオミ 久美:クミ 由美子:ユミコ 貴子:タカコ
孝子:タカコ 敬子:ケイコ 啓子:ケイコ 桂子:ケイコ 景子:ケイコ 良子:ヨシコ 芳子:ヨシコ 佳子:ヨシコ 淑子:ヨシコ
洋美:ヒロミ 正子:マサコ 雅子:マサコ 昌子:マサコ 冬美:フユミ 秋子:アキコ 美樹:ミキ 亜紀:アキ 亜美:アミ
麻里:マリ 真理:マリ 茜:アカネ 栞:シオリ 詩織:シオリ 志保:シホ 美帆:ミホ 美保:ミホ 真帆:マホ 実穂:ミホ
歩美:アユミ あゆみ:アユミ 亜由美:アユミ 由里:ユリ 百合:ユリ 友里:ユリ 小百合:サユリ 奈緒:ナオ 菜穂:ナホ
"""

_EN_FIRST_MALE = """
John:ジョン Michael:マイケル David:デビッド James:ジェームズ Robert:ロバート William:ウィリアム Richard:リチャード
Thomas:トーマス Daniel:ダニエル Matthew:マシュー Christopher:クリストファー Andrew:アンドリュー Mark:マーク Paul:ポール
Steven:スティーブン Kevin:ケビン Brian:ブライアン Peter:ピーター Eric:エリック Jason:ジェイソン Ryan:ライアン
Alex:アレックス Chris:クリス Tom:トム Mike:マイク Wei:ウェイ Raj:ラジ Carlos:カルロス Pierre:ピエール Hans:ハンス
"""
_EN_FIRST_FEMALE = """
Mary:メアリー Jennifer:ジェニファー Linda:リンダ Elizabeth:エリザベス Sarah:サラ Emily:エミリー Jessica:ジェシカ
Laura:ローラ Emma:エマ Olivia:オリビア Sophie:ソフィー Anna:アンナ Rachel:レイチェル Karen:カレン Lisa:リサ
Nancy:ナンシー Susan:スーザン Amy:エイミー Hannah:ハンナ Grace:グレース Priya:プリヤ Maria:マリア Mei:メイ
"""
_EN_LAST = """
Smith:スミス Johnson:ジョンソン Williams:ウィリアムズ Brown:ブラウン Jones:ジョーンズ Miller:ミラー Davis:デイビス
Garcia:ガルシア Wilson:ウィルソン Anderson:アンダーソン Taylor:テイラー Thomas:トーマス Moore:ムーア Martin:マーティン
Jackson:ジャクソン White:ホワイト Harris:ハリス Clark:クラーク Lewis:ルイス Walker:ウォーカー Hall:ホール Allen:アレン
Young:ヤング King:キング Wright:ライト Scott:スコット Green:グリーン Baker:ベイカー Adams:アダムス Nelson:ネルソン
Hill:ヒル Campbell:キャンベル Mitchell:ミッチェル Roberts:ロバーツ Carter:カーター Phillips:フィリップス Evans:エバンス
Turner:ターナー Parker:パーカー Collins:コリンズ Edwards:エドワーズ Stewart:スチュワート Morris:モリス Murphy:マーフィー
Cook:クック Rogers:ロジャース Kim:キム Lee:リー Park:パク Chen:チェン Wang:ワン Zhang:チャン Liu:リウ Patel:パテル
Singh:シン Nguyen:グエン Schmidt:シュミット Schneider:シュナイダー Dubois:デュボワ Rossi:ロッシ
"""

# Long-tail surnames are built from two parts (e.g. 大 + 沢 -> 大沢 オオサワ / オオザワ).
_TAIL_A = """
大:オオ 小:コ 上:カミ 中:ナカ 下:シモ 北:キタ 南:ミナミ 東:ヒガシ 西:ニシ 高:タカ 長:ナガ 石:イシ 岩:イワ
川:カワ 山:ヤマ 森:モリ 松:マツ 竹:タケ 梅:ウメ 桜:サクラ 藤:フジ 菊:キク 杉:スギ 柳:ヤナギ 青:アオ 白:シラ
黒:クロ 赤:アカ 金:カネ 今:イマ 古:フル 新:ニイ 浅:アサ 深:フカ 宮:ミヤ 寺:テラ 村:ムラ 野:ノ 原:ハラ 吉:ヨシ
福:フク 平:ヒラ 岡:オカ 前:マエ 荒:アラ 秋:アキ 春:ハル 星:ホシ 月:ツキ 水:ミズ 池:イケ 沼:ヌマ 堀:ホリ 桑:クワ
坂:サカ 関:セキ 滝:タキ 菅:スガ 片:カタ 飯:イイ 奥:オク 根:ネ 芝:シバ 増:マス 安:ヤス 永:ナガ 広:ヒロ 富:トミ
徳:トク 谷:タニ 本:モト 里:サト 畑:ハタ 島:シマ 江:エ 熊:クマ 鶴:ツル 亀:カメ 鳥:トリ 宇:ウ 志:シ 三:ミ
"""
_TAIL_B = """
田:タ/ダ 川:カワ/ガワ 山:ヤマ 野:ノ 村:ムラ 井:イ 原:ハラ/バラ 本:モト 島:シマ/ジマ 沢:サワ/ザワ 谷:タニ/ヤ
口:グチ 崎:サキ/ザキ 木:キ/ギ 尾:オ 岡:オカ 林:バヤシ 橋:ハシ/バシ 部:ベ 宮:ミヤ 内:ウチ 瀬:セ 浦:ウラ 森:モリ
池:イケ 坂:サカ/ザカ 江:エ 城:シロ/ジロ 塚:ツカ/ヅカ 倉:クラ/グラ 場:バ 間:マ 堀:ホリ/ボリ 畑:ハタ/バタ
浜:ハマ 地:チ 丸:マル 中:ナカ 平:ヒラ/ダイラ 越:コシ/ゴシ 方:カタ/ガタ 渕:フチ/ブチ
"""

# Long-tail given names: prefix + suffix with compatible readings (健+太 ケンタ, 正+之 マサユキ, 美+穂 ミホ).
_GIVEN_TAIL_MALE = [
    ("健:ケン 浩:コウ 修:シュウ 純:ジュン 亮:リョウ 悠:ユウ 慎:シン 翔:ショウ 大:ダイ 拓:タク 恭:キョウ 耕:コウ "
     "航:コウ 祐:ユウ 雄:ユウ 賢:ケン 謙:ケン 晋:シン 尚:ショウ 圭:ケイ 啓:ケイ 龍:リュウ 隆:リュウ 峻:シュン",
     "一:イチ 二:ジ 太:タ 介:スケ 輔:スケ 平:ヘイ 也:ヤ 哉:ヤ 樹:キ 斗:ト 吾:ゴ 司:ジ 作:サク"),
    ("正:マサ 雅:マサ 和:カズ 一:カズ 智:トモ 友:トモ 康:ヤス 泰:ヤス 俊:トシ 敏:トシ 隆:タカ 貴:タカ 信:ノブ "
     "伸:ノブ 義:ヨシ 善:ヨシ 光:ミツ 克:カツ 秀:ヒデ 英:ヒデ 直:ナオ 尚:ナオ 博:ヒロ 裕:ヒロ 達:タツ 輝:テル",
     "之:ユキ 行:ユキ 彦:ヒコ 人:ト 樹:キ 也:ヤ 夫:オ 男:オ 明:アキ 史:フミ 則:ノリ 治:ハル 志:シ"),
]
_GIVEN_TAIL_FEMALE = [
    ("美:ミ 真:マ 由:ユ 友:トモ 千:チ 奈:ナ 沙:サ 亜:ア 里:リ 理:リ 佳:カ 紗:サ 麻:マ 早:サ 和:カズ 久:ク "
     "智:トモ 直:ナオ 裕:ユ 優:ユ 結:ユ 愛:アイ 菜:ナ 柚:ユズ 明:アケ 貴:タカ 幸:サチ 春:ハル 夏:ナツ 秋:アキ",
     "子:コ 美:ミ 香:カ 代:ヨ 恵:エ 奈:ナ 菜:ナ 穂:ホ 希:キ 紀:キ 里:リ 花:カ 華:カ 乃:ノ 衣:イ 帆:ホ 音:ネ 緒:オ"),
]

# Company name parts: kanji / katakana, romaji slug, English.
_CO_PREFIX = """
東京:tokyo:Tokyo 大阪:osaka:Osaka 名古屋:nagoya:Nagoya 横浜:yokohama:Yokohama 京都:kyoto:Kyoto 神戸:kobe:Kobe
札幌:sapporo:Sapporo 福岡:fukuoka:Fukuoka 仙台:sendai:Sendai 広島:hiroshima:Hiroshima 北海道:hokkaido:Hokkaido
東北:tohoku:Tohoku 関東:kanto:Kanto 関西:kansai:Kansai 中部:chubu:Chubu 九州:kyushu:Kyushu 四国:shikoku:Shikoku
北陸:hokuriku:Hokuriku 日本:nihon:Nippon 新日本:shinnihon:New_Japan 東洋:toyo:Toyo 東亜:toa:Toa 大和:yamato:Yamato
富士:fuji:Fuji 朝日:asahi:Asahi 太陽:taiyo:Taiyo 明治:meiji:Meiji 大正:taisho:Taisho 昭和:showa:Showa
平成:heisei:Heisei 協和:kyowa:Kyowa 共栄:kyoei:Kyoei 三和:sanwa:Sanwa 三協:sankyo:Sankyo 第一:daiichi:Daiichi
中央:chuo:Chuo 日之出:hinode:Hinode 光:hikari:Hikari 若葉:wakaba:Wakaba 青葉:aoba:Aoba 桜:sakura:Sakura
菊水:kikusui:Kikusui 北斗:hokuto:Hokuto 大同:daido:Daido 日新:nisshin:Nisshin 旭:asahi:Asahi 丸和:maruwa:Maruwa
山陽:sanyo:Sanyo 山陰:sanin:Sanin 湘南:shonan:Shonan 武蔵:musashi:Musashi 相模:sagami:Sagami 房総:boso:Boso
信州:shinshu:Shinshu 越後:echigo:Echigo 加賀:kaga:Kaga 尾張:owari:Owari 三河:mikawa:Mikawa 浪速:naniwa:Naniwa
筑紫:tsukushi:Tsukushi 薩摩:satsuma:Satsuma 琉球:ryukyu:Ryukyu 瀬戸内:setouchi:Setouchi 常磐:joban:Joban
みらい:mirai:Mirai ひかり:hikari:Hikari あおば:aoba:Aoba 大成:taisei:Taisei 大栄:daiei:Daiei 栄光:eiko:Eiko
正和:seiwa:Seiwa 誠和:seiwa:Seiwa 昭栄:shoei:Shoei 泰平:taihei:Taihei 太平洋:taiheiyo:Pacific 極東:kyokuto:Far_East
新光:shinko:Shinko 日光:nikko:Nikko 晴海:harumi:Harumi 豊和:howa:Howa 明光:meiko:Meiko 千代田:chiyoda:Chiyoda
丸の内:marunouchi:Marunouchi 日本橋:nihonbashi:Nihonbashi 銀座:ginza:Ginza 新宿:shinjuku:Shinjuku 品川:shinagawa:Shinagawa
梅田:umeda:Umeda 天神:tenjin:Tenjin 栄:sakae:Sakae 金剛:kongo:Kongo 白鳥:shiratori:Shiratori 鳳:otori:Otori
サンライズ:sunrise:Sunrise ネクスト:next:Next グローバル:global:Global フューチャー:future:Future
クリエイト:create:Create アドバンス:advance:Advance ユニオン:union:Union パシフィック:pacific:Pacific
オリエント:orient:Orient アルファ:alpha:Alpha ブルー:blue:Blue グリーン:green:Green スター:star:Star
ライト:light:Light エース:ace:Ace トップ:top:Top ワールド:world:World リンク:link:Link スマート:smart:Smart
デジタル:digital:Digital ハーモニー:harmony:Harmony フロンティア:frontier:Frontier ビジョン:vision:Vision
イノベート:innovate:Innovate ジャパン:japan:Japan ユニバーサル:universal:Universal プライム:prime:Prime
コスモ:cosmo:Cosmo アクア:aqua:Aqua テラ:terra:Terra ノヴァ:nova:Nova ステラ:stella:Stella ルミナス:luminous:Luminous
エコ:eco:Eco ミライト:mirait:Mirait シグマ:sigma:Sigma デルタ:delta:Delta オメガ:omega:Omega ゼット:zett:Zett
"""

_CO_MID = """
総合:sogo:General 国際:kokusai:International 精密:seimitsu:Precision 産業:sangyo:Industrial 電子:denshi:Electronic
情報:joho:Information 環境:kankyo:Environmental 技術:gijutsu:Technical 中央:chuo:Central ビジネス:business:Business
メディカル:medical:Medical 物流:butsuryu:Logistics ライフ:life:Life 設備:setsubi:Facility 通信:tsushin:Telecom
"""

# Regional prefixes for the middle word, used only when an org is too big for the plain pool
# (several million records): 関西総合ABC, 九州物流ABC.
_CO_REGION = """
東日本:higashinihon:East_Japan 西日本:nishinihon:West_Japan 関東:kanto:Kanto 関西:kansai:Kansai
九州:kyushu:Kyushu 東北:tohoku:Tohoku 北海道:hokkaido:Hokkaido 中部:chubu:Chubu 四国:shikoku:Shikoku
北陸:hokuriku:Hokuriku 中国:chugoku:Chugoku 沖縄:okinawa:Okinawa
"""

_EN_CO_REGION = """
Pacific:パシフィック Atlantic:アトランティック Nordic:ノルディック Global:グローバル Asia:アジア Euro:ユーロ
Metro:メトロ Coastal:コースタル Alpine:アルパイン Urban:アーバン
"""

_CO_CORE = """
電機:denki:Electric 電気:denki:Electric 商事:shoji:Trading 物産:bussan:Bussan 工業:kogyo:Industries 製作所:seisakusho:Works
システム:system:Systems システムズ:systems:Systems ソリューションズ:solutions:Solutions テクノロジー:technology:Technology
化学:kagaku:Chemical 化成:kasei:Kasei 建設:kensetsu:Construction 工務店:komuten:Builders 不動産:fudosan:Real_Estate
食品:shokuhin:Foods 製菓:seika:Confectionery 運輸:unyu:Transport 物流:butsuryu:Logistics 倉庫:soko:Warehouse
精機:seiki:Seiki 製薬:seiyaku:Pharmaceutical 薬品:yakuhin:Pharma 印刷:insatsu:Printing 電子:denshi:Electronics
情報システム:johosystem:Information_Systems ソフトウェア:software:Software ネットワークス:networks:Networks
コンサルティング:consulting:Consulting 総研:soken:Research_Institute 企画:kikaku:Planning 設計:sekkei:Design
デザイン:design:Design 広告:kokoku:Advertising エージェンシー:agency:Agency 保険サービス:hoken:Insurance_Services
証券:shoken:Securities リース:lease:Leasing ファイナンス:finance:Finance 商会:shokai:Shokai 興業:kogyo:Kogyo
産業:sangyo:Sangyo 開発:kaihatsu:Development エンジニアリング:engineering:Engineering 機械:kikai:Machinery
金属:kinzoku:Metal 鉄工所:tekko:Iron_Works 製鋼:seiko:Steel ゴム:gomu:Rubber 硝子:garasu:Glass 繊維:seni:Textile
紙業:shigyo:Paper 電設:densetsu:Electrical_Works 通信:tsushin:Communications テレコム:telecom:Telecom
メディア:media:Media 出版:shuppan:Publishing ホールディングス:holdings:Holdings フーズ:foods:Foods
ファーマ:pharma:Pharma メディカル:medical:Medical ヘルスケア:healthcare:Healthcare ホーム:home:Home
住宅:jutaku:Housing ハウジング:housing:Housing エナジー:energy:Energy 石油:sekiyu:Oil 自動車:jidosha:Motors
モータース:motors:Motors 交通:kotsu:Transit 観光:kanko:Tourism トラベル:travel:Travel ホテル:hotel:Hotel
サービス:service:Services マネジメント:management:Management パートナーズ:partners:Partners キャピタル:capital:Capital
ラボ:lab:Lab 研究所:kenkyusho:Laboratory 技研:giken:Giken 工機:koki:Koki 光学:kogaku:Optical 計器:keiki:Instruments
電工:denko:Denko 製紙:seishi:Paper 酒造:shuzo:Brewery 水産:suisan:Fisheries 商店:shoten:Shoten ストア:store:Store
流通:ryutsu:Distribution 貿易:boeki:Trading インターナショナル:international:International アソシエイツ:associates:Associates
クリエイティブ:creative:Creative ワークス:works:Works テック:tech:Tech データ:data:Data クラウド:cloud:Cloud
セキュリティ:security:Security 警備保障:keibi:Security_Services 人材サービス:jinzai:Staffing 教育:kyoiku:Education
商工:shoko:Shoko 電算:densan:Computing 測量:sokuryo:Survey 塗装:toso:Coating 造園:zoen:Landscaping 製作:seisaku:Production
"""

_EN_CO_A = """
Blue:ブルー Silver:シルバー North:ノース Summit:サミット Pioneer:パイオニア Apex:エイペックス Vertex:バーテックス
Crescent:クレセント Harbor:ハーバー Evergreen:エバーグリーン Redwood:レッドウッド Granite:グラナイト Atlas:アトラス
Orion:オリオン Nova:ノバ Quantum:クアンタム Bright:ブライト Clear:クリア Prime:プライム Core:コア Falcon:ファルコン
Maple:メープル Cedar:シーダー Golden:ゴールデン Iron:アイアン Eagle:イーグル Bay:ベイ Pacific:パシフィック Stone:ストーン
"""
_EN_CO_B = """
River:リバー Bridge:ブリッジ Point:ポイント Path:パス Wave:ウェーブ Peak:ピーク Field:フィールド Gate:ゲート
Line:ライン Light:ライト Star:スター Rock:ロック Leaf:リーフ Sky:スカイ
"""
_EN_CO_C = """
Analytics:アナリティクス Systems:システムズ Software:ソフトウェア Labs:ラボ Partners:パートナーズ Dynamics:ダイナミクス
Networks:ネットワークス Solutions:ソリューションズ Technologies:テクノロジーズ Consulting:コンサルティング Capital:キャピタル
Logistics:ロジスティクス Health:ヘルス Robotics:ロボティクス Media:メディア Data:データ Cloud:クラウド Security:セキュリティ
Devices:デバイシズ Foods:フーズ Energy:エナジー Materials:マテリアルズ Therapeutics:セラピューティクス Commerce:コマース
"""

# Prefectures: name, business weight, postal 3-digit range; then cities: name, area code.
_PREFS = """
北海道|3|040-099|札幌市中央区:011,札幌市北区:011,旭川市:0166,函館市:0138
青森県|0.5|030-039|青森市:017,八戸市:0178
岩手県|0.5|020-029|盛岡市:019
宮城県|2|980-989|仙台市青葉区:022,仙台市宮城野区:022
秋田県|0.4|010-019|秋田市:018
山形県|0.4|990-999|山形市:023
福島県|0.8|960-979|福島市:024,郡山市:024
茨城県|1.5|300-319|水戸市:029,つくば市:029
栃木県|1|320-329|宇都宮市:028
群馬県|1|370-379|前橋市:027,高崎市:027
埼玉県|4|330-369|さいたま市大宮区:048,さいたま市浦和区:048,川越市:049,川口市:048,越谷市:048
千葉県|3.5|260-299|千葉市中央区:043,船橋市:047,市川市:047,松戸市:047
東京都|35|100-208|千代田区:03,中央区:03,港区:03,新宿区:03,渋谷区:03,品川区:03,豊島区:03,文京区:03,台東区:03,江東区:03,大田区:03,目黒区:03,世田谷区:03,中野区:03,杉並区:03,墨田区:03,北区:03,板橋区:03,練馬区:03,足立区:03,江戸川区:03,荒川区:03,葛飾区:03,八王子市:042,立川市:042,武蔵野市:0422,町田市:042
神奈川県|7|210-259|横浜市西区:045,横浜市中区:045,横浜市港北区:045,川崎市川崎区:044,川崎市中原区:044,相模原市中央区:042,藤沢市:0466,厚木市:046
新潟県|1|940-959|新潟市中央区:025,長岡市:0258
富山県|0.5|930-939|富山市:076
石川県|0.6|920-929|金沢市:076
福井県|0.4|910-919|福井市:0776
山梨県|0.4|400-409|甲府市:055
長野県|1|380-399|長野市:026,松本市:0263
岐阜県|0.8|500-509|岐阜市:058
静岡県|2|410-439|静岡市葵区:054,浜松市中区:053,沼津市:055
愛知県|7|440-498|名古屋市中区:052,名古屋市中村区:052,名古屋市東区:052,豊田市:0565,岡崎市:0564,豊橋市:0532
三重県|0.7|510-519|津市:059,四日市市:059
滋賀県|0.6|520-529|大津市:077
京都府|2.5|600-629|京都市下京区:075,京都市中京区:075
大阪府|10|530-599|大阪市北区:06,大阪市中央区:06,大阪市西区:06,大阪市淀川区:06,堺市堺区:072,豊中市:06,吹田市:06,東大阪市:06
兵庫県|3.5|650-679|神戸市中央区:078,姫路市:079,西宮市:0798,尼崎市:06
奈良県|0.5|630-639|奈良市:0742
和歌山県|0.3|640-649|和歌山市:073
鳥取県|0.2|680-689|鳥取市:0857
島根県|0.2|690-699|松江市:0852
岡山県|0.8|700-719|岡山市北区:086,倉敷市:086
広島県|2|720-739|広島市中区:082,福山市:084
山口県|0.5|740-759|山口市:083,下関市:083
徳島県|0.3|770-779|徳島市:088
香川県|0.5|760-769|高松市:087
愛媛県|0.5|790-799|松山市:089
高知県|0.3|780-789|高知市:088
福岡県|4|800-839|福岡市博多区:092,福岡市中央区:092,北九州市小倉北区:093,久留米市:0942
佐賀県|0.3|840-849|佐賀市:0952
長崎県|0.5|850-859|長崎市:095
熊本県|0.7|860-869|熊本市中央区:096
大分県|0.4|870-879|大分市:097
宮崎県|0.3|880-889|宮崎市:0985
鹿児島県|0.6|890-899|鹿児島市:099
沖縄県|0.6|900-909|那覇市:098
"""

_TOWNS = """
本町 中央 栄 錦 大手町 丸の内 西新宿 芝 新橋 銀座 日本橋 神田 梅田 難波 天神 博多駅前 駅前本町 旭町 緑町 若葉
桜台 東町 西町 南町 北町 元町 港町 浜町 幸町 寿町 宮前 高砂 松が丘 中町 新町 本郷 東雲 平和町 昭和町 大通
五反田 大崎 虎ノ門 赤坂 六本木 麻布台 浜松町 有楽町 京橋 八丁堀 茅場町 御茶ノ水 飯田橋 四谷 市ヶ谷 九段南 内幸町
曙町 春日 白山 駒込 池袋 高田馬場 中野坂上 荻窪 吉祥寺本町 三軒茶屋 自由が丘 蒲田 大森北 鶴見中央 みなとみらい 関内
北浜 堂島 淀屋橋 本町橋 天満 江坂町 千里山 栄町 泉 名駅 丸の内中央 中島 大手前 城東 城西 桜木町 住吉 日吉 青葉台
"""

_BLDG_A = """
第一 第二 第三 中央 日本 朝日 大和 センター スカイ グラン パーク サンシャイン 住友 丸善 新光 東和 共同 日興 明治安田
興和 太陽 青葉 ヒューリック 三共 NBF KDX 日土地 オーク ランド プライム アーバン ニュー 本町 駅前 新宿 渋谷 品川
"""
_BLDG_B = "ビル ビル ビル ビルディング タワー センタービル プラザ 会館 ビル本館 スクエア".split()
_HOME_A = "メゾン コーポ ハイツ パレス グランド ライオンズ サンハイム シティ ベル ロイヤル フォレスト リバー".split()
_HOME_B = "マンション ハイツ レジデンス コート ヒルズ 荘 ハウス テラス".split()

_OVERSEAS = [
    # street, city, state, postal, country variants, phone prefix
    ("Market Street", "San Francisco", "CA", "94105", ("United States", "USA", "US"), "+1 415"),
    ("Broadway", "New York", "NY", "10006", ("United States", "USA", "US"), "+1 212"),
    ("Pine Street", "Seattle", "WA", "98101", ("United States", "USA", "US"), "+1 206"),
    ("Congress Avenue", "Austin", "TX", "78701", ("United States", "USA", "US"), "+1 512"),
    ("Bishopsgate", "London", "", "EC2N 4AY", ("United Kingdom", "UK", "GB"), "+44 20"),
    ("Raffles Place", "Singapore", "", "048619", ("Singapore", "SG", "Singapore"), "+65 6"),
    ("Friedrichstraße", "Berlin", "", "10117", ("Germany", "DE", "Deutschland"), "+49 30"),
]

_TITLES_JP = [
    ("", 18), ("担当", 4), ("主任", 6), ("係長", 5), ("課長", 9), ("課長代理", 3), ("次長", 3), ("部長", 8),
    ("本部長", 2), ("執行役員", 1.5), ("取締役", 1.5), ("代表取締役", 1.5), ("代表取締役社長", 1),
    ("マネージャー", 5), ("シニアマネージャー", 2), ("リーダー", 3), ("チームリーダー", 2), ("エンジニア", 4),
    ("シニアエンジニア", 2), ("コンサルタント", 2), ("営業", 3), ("営業担当", 3), ("室長", 1.5), ("所長", 1),
    ("支店長", 1), ("グループ長", 1.5), ("ディレクター", 1.5), ("アシスタント", 1), ("スペシャリスト", 1),
    ("主査", 1), ("参事", 0.5),
]
_TITLES_EN = [
    ("", 10), ("CEO", 1), ("CTO", 1), ("CFO", 0.5), ("COO", 0.5), ("VP of Sales", 1), ("VP Engineering", 1),
    ("Director", 3), ("Senior Director", 1), ("Manager", 5), ("Senior Manager", 2), ("Engineer", 3),
    ("Software Engineer", 3), ("Account Executive", 3), ("Sales Manager", 2), ("Marketing Manager", 2),
    ("Product Manager", 2), ("Consultant", 2), ("Analyst", 2), ("Head of IT", 1), ("IT Manager", 1),
    ("Country Manager", 1),
]
_DEPTS_JP = [
    ("", 15), ("営業部", 10), ("営業本部", 4), ("第一営業部", 3), ("第二営業部", 2), ("法人営業部", 4),
    ("マーケティング部", 5), ("経営企画部", 3), ("情報システム部", 6), ("総務部", 4), ("開発部", 4), ("技術部", 4),
    ("製造部", 2), ("品質保証部", 2), ("購買部", 2), ("調達部", 1), ("法務部", 1), ("広報部", 1),
    ("海外事業部", 1), ("カスタマーサクセス部", 2), ("DX推進室", 2), ("研究開発本部", 2), ("事業開発部", 2),
    ("商品企画部", 1), ("生産管理部", 1), ("物流部", 1), ("管理部", 2), ("経営管理部", 1), ("社長室", 0.5),
    ("IT戦略部", 1), ("デジタル推進部", 1), ("販売促進部", 1),
]
_DEPTS_EN = [
    ("", 10), ("Sales", 5), ("Marketing", 3), ("IT", 3), ("Engineering", 3), ("Operations", 2),
    ("Procurement", 1), ("Business Development", 2), ("Product", 1), ("Customer Success", 1), ("R&D", 1),
]
_BILLING_TITLES = ["経理", "請求書担当", "経理部 請求書担当", "経理担当", "経理課長", "Accounts Payable"]
_BILLING_DEPTS = ["経理部", "財務経理部", "経理課", "財務部", "Finance"]
_RECRUIT_TITLES = ["採用担当", "人事", "人事部 採用担当", "採用マネージャー", "人事担当", "Recruiter", "HR Manager"]
_RECRUIT_DEPTS = ["人事部", "人事総務部", "採用チーム", "人事部 採用グループ", "HR"]
_PARTNER_DEPTS = ["パートナー営業", "パートナー営業部", "パートナー営業部", "アライアンス部", "Partner Sales"]

_FREEMAIL = ["gmail.com", "yahoo.co.jp", "gmail.com", "icloud.com", "outlook.jp", "hotmail.co.jp",
             "docomo.ne.jp", "ezweb.ne.jp", "i.softbank.jp", "gmail.com", "yahoo.co.jp", "nifty.com"]
_ROLE_LOCALS = ["info", "sales", "contact", "eigyo", "support", "marketing", "webmaster", "soumu"]
_BILLING_LOCALS = ["keiri", "invoice", "ap", "seikyu"]
_RECRUIT_LOCALS = ["saiyo", "recruit", "jinji", "hr"]
_PLUS_TAGS = ["web", "sf", "event", "news", "2021", "pardot", "form"]

_LEAD_SOURCES = ["Web", "名刺", "Business Card", "Sansan", "Eight", "展示会", "Event", "購入リスト",
                 "Purchased List", "Manual", "手入力", "Partner Referral", "採用", ""]
(_LS_WEB, _LS_MEISHI, _LS_BCARD, _LS_SANSAN, _LS_EIGHT, _LS_TENJI, _LS_EVENT, _LS_KONYU, _LS_PLIST,
 _LS_MANUAL, _LS_TENYU, _LS_PARTNER, _LS_SAIYO, _LS_NONE) = range(14)
# Route category of each LeadSource: web, card, event, list, manual, partner, recruit, none.
_LS_CATEGORY = np.array([0, 1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 7])
# Route mixes (rows: jp base, jp extra, english, b2c, recruiting, partner, billing).
_ROUTE_MIX = np.array([
    [30, 7, 1, 9, 4, 9, 2, 8, 1, 4, 5, 3, 0, 7],
    [24, 10, 2, 16, 9, 10, 2, 6, 1, 4, 5, 2, 0, 6],
    [30, 2, 12, 6, 2, 3, 12, 1, 10, 10, 2, 5, 0, 5],
    [60, 0, 0, 0, 0, 10, 2, 10, 0, 4, 8, 0, 0, 6],
    [10, 8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 75, 5],
    [0, 12, 0, 10, 3, 0, 0, 0, 0, 10, 0, 60, 0, 5],
    [0, 12, 0, 8, 0, 0, 0, 0, 0, 20, 40, 0, 0, 20],
], dtype=float)
# Probability each field group is captured, by route category.
# Columns: title, department, phone, mobile, email, address, country.
_KEEP = np.array([
    [0.50, 0.40, 0.75, 0.45, 0.99, 0.35, 0.30],  # web
    [0.95, 0.90, 0.95, 0.85, 0.95, 0.95, 0.60],  # card
    [0.80, 0.70, 0.60, 0.35, 0.97, 0.30, 0.30],  # event
    [0.70, 0.60, 0.90, 0.05, 0.60, 0.90, 0.70],  # purchased list
    [0.60, 0.50, 0.70, 0.50, 0.85, 0.60, 0.50],  # manual
    [0.80, 0.70, 0.80, 0.40, 0.92, 0.60, 0.50],  # partner
    [0.90, 0.90, 0.80, 0.30, 0.95, 0.40, 0.30],  # recruiting
    [0.50, 0.50, 0.70, 0.30, 0.85, 0.50, 0.40],  # none
])
_SEGMENTS = ["大企業", "中堅企業", "中小企業", "官公庁", "個人"]
_B2C_COMPANY = ["個人", "個人", "[[Unknown]]", "[[Unknown]]", "-", "なし", "個人のお客様"]
_COUNTRY_JP = ["日本", "Japan", "JP", "日本国"]
_KANJI_NUM = "〇一二三四五六七八九"

# Variant kanji used by the typo variation (itaiji are a classic source of duplicates).
_ITAIJI = {
    "辺": "邊邉", "邊": "辺", "邉": "辺", "斎": "斉齋", "斉": "斎", "齋": "斎", "高": "髙", "髙": "高",
    "崎": "﨑", "﨑": "崎", "浜": "濱", "濱": "浜", "沢": "澤", "澤": "沢", "広": "廣", "廣": "広",
    "桜": "櫻", "櫻": "桜", "島": "嶋", "嶋": "島", "国": "國", "竜": "龍", "龍": "竜", "富": "冨",
    "冨": "富", "恵": "惠", "真": "眞", "德": "徳", "徳": "德", "博": "愽", "浩": "造", "裕": "祐",
    "祐": "裕", "子": "予", "太": "大", "大": "太", "一": "市", "健": "建", "幸": "辛", "美": "実",
}
_KANA_SIMILAR = {
    "ウ": "ー", "ー": "ウ", "ズ": "ヅ", "ヅ": "ズ", "ジ": "ヂ", "ヂ": "ジ", "オ": "ヲ", "ツ": "ッ", "ッ": "ツ",
    "ヨ": "ョ", "ョ": "ヨ", "ユ": "ュ", "ュ": "ユ", "ヤ": "ャ", "シ": "ツ", "ソ": "ン", "ン": "ソ", "ク": "ケ",
    "エ": "工", "カ": "力", "ハ": "八", "ロ": "口", "ニ": "二", "タ": "ダ", "ダ": "タ", "キ": "ギ", "ト": "ド",
}


def _pairs(text: str) -> list[list[str]]:
    return [item.split(":") for item in text.split()]


# Character tables for width conversion (str.translate runs in C).
_FW_ASCII = {c: chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
_FW_ASCII[0x20] = "\u3000"
_FW_PHONE = {ord(str(d)): chr(0xFF10 + d) for d in range(10)}
_FW_PHONE.update({ord("-"): "－", ord("("): "（", ord(")"): "）", ord("+"): "＋", ord(" "): "\u3000"})
_FW_PHONE_CHOON = dict(_FW_PHONE)
_FW_PHONE_CHOON[ord("-")] = "ー"  # a classic mis-typed hyphen
_HW_KANA = {c: jaconv.z2h(chr(c), kana=True, ascii=False, digit=False) for c in range(0x30A1, 0x30FD)}
_HW_KANA[ord("・")] = "･"

_NC = 13  # name table columns, see _Pools._name_table


def _romaji_styles(kata: str) -> tuple[str, str, str]:
    """Three realistic romanisations of a katakana reading: wapuro (Satou), Hepburn without
    macrons (Sato), passport (Satoh). Long vowels collapse only before a consonant or at the end,
    so イノウエ stays Inoue."""
    base = jaconv.kata2alphabet(kata).replace("-", "").replace("'", "")
    hep = re.sub(r"(ou|oo)(?=[^aeiou]|$)", "o", base)
    hep = re.sub(r"uu(?=[^aeiou]|$)", "u", hep)
    pas = re.sub(r"(ou|oo)(?=[^aeiou]|$)", "oh", base)
    pas = re.sub(r"uu(?=[^aeiou]|$)", "u", pas)
    pas = re.sub(r"n(?=[bmp])", "m", pas)
    return base, hep, pas


# --------------------------------------------------------------------------------------------
# Vectorised helpers: numpy for codes and indices, pyarrow compute for strings
# --------------------------------------------------------------------------------------------


def _S(values) -> pa.Array:
    return pa.array(list(values), pa.string())


def _take(arr: pa.Array, idx) -> pa.Array:
    return arr.take(pa.array(np.asarray(idx, dtype=np.int64)))


def _j(*parts) -> pa.Array:
    """Element-wise concatenation of string arrays and str scalars."""
    return pc.binary_join_element_wise(*parts, "")


def _where(mask, a, b) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), a, b)


def _istr(a) -> pa.Array:
    return pc.cast(pa.array(np.asarray(a, dtype=np.int64)), pa.string())


def _pad(s: pa.Array, width: int) -> pa.Array:
    return pc.utf8_lpad(s, width=width, padding="0")


def _patch(arr: pa.Array, mask: np.ndarray, fn) -> pa.Array:
    """Rewrite the masked rows with a Python function fn(value, row) (for rare variations)."""
    idx = np.flatnonzero(mask)
    if not len(idx):
        return arr
    vals = arr.take(pa.array(idx)).to_pylist()
    new = [fn(v, i) for v, i in zip(vals, idx.tolist())]
    return pc.replace_with_mask(arr, pa.array(np.asarray(mask, dtype=bool)), pa.array(new, pa.string()))


def _choice(rng: np.random.Generator, p, size: int) -> np.ndarray:
    cdf = np.cumsum(np.asarray(p, dtype=float))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(size), side="right"), len(cdf) - 1)


def _row_choice(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per-row categorical draw: probs is (k, m), rows selects the distribution of each draw."""
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(len(rows))[:, None]
    return np.minimum((u > cdf[rows]).sum(axis=1), probs.shape[1] - 1)


def _differ(rng: np.random.Generator, base: np.ndarray, k: int) -> np.ndarray:
    """A code in [0, k) that differs from base."""
    return (base + rng.integers(1, k, size=len(base))) % k


def _dup_rank(keys: pa.Array, valid: np.ndarray) -> np.ndarray:
    """0 for the first occurrence of each key (in row order), 1 for the second, ..."""
    enc = pc.dictionary_encode(keys)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    codes = enc.indices.to_numpy().astype(np.int64)
    n = len(codes)
    codes = np.where(valid, codes, -1 - np.arange(n))
    order = np.argsort(codes, kind="stable")
    sc = codes[order]
    start = np.r_[True, sc[1:] != sc[:-1]]
    pos = np.arange(n)
    rank_sorted = pos - np.maximum.accumulate(np.where(start, pos, 0))
    rank = np.empty(n, np.int64)
    rank[order] = rank_sorted
    return rank


def _sf_ids(prefix: str, counters: np.ndarray, pod: str = "5F0") -> pa.Array:
    """18-character Salesforce ids: prefix + pod + 9 base62 digits + the case-safe suffix."""
    alphabet = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
    suffix_chars = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", np.uint8)
    n = len(counters)
    buf = np.empty((n, 18), dtype=np.uint8)
    head = np.frombuffer((prefix + pod).encode(), np.uint8)
    buf[:, : len(head)] = head
    c = np.asarray(counters, dtype=np.int64).copy()
    for pos in range(14, 5, -1):
        buf[:, pos] = alphabet[c % 62]
        c //= 62
    upper = (buf[:, :15] >= 65) & (buf[:, :15] <= 90)
    bits = (upper.reshape(n, 3, 5) * np.array([1, 2, 4, 8, 16])).sum(axis=2)
    buf[:, 15:] = suffix_chars[bits]
    arr = pa.array(buf.reshape(-1).view("S18"))
    if isinstance(arr, pa.ChunkedArray):  # pyarrow chunks big fixed-width byte arrays (2M ids and more)
        arr = arr.combine_chunks()
    return pc.cast(arr, pa.string())


def _hex_ids(rng: np.random.Generator, n: int, width: int = 16) -> pa.Array:
    lut = np.frombuffer(b"0123456789abcdef", np.uint8)
    digits = lut[rng.integers(0, 16, size=(n, width))].astype(np.uint8)
    return pc.cast(pa.array(digits.reshape(-1).view(f"S{width}")), pa.string())


def _typo(s: str, r: random.Random, kanji_chars: list[str]) -> str:
    """Change one character the way a typist or an OCR pass would."""
    if not s:
        return s
    pos = r.randrange(len(s))
    c = s[pos]
    if c in _ITAIJI:
        rep = r.choice(_ITAIJI[c])
    elif "\u4e00" <= c <= "\u9fff":
        rep = r.choice(kanji_chars)
    elif c in _KANA_SIMILAR:
        rep = _KANA_SIMILAR[c]
    elif "\u30a1" <= c <= "\u30f6":
        rep = chr(r.randrange(0x30A2, 0x30F3))
    elif "\u3041" <= c <= "\u3096":
        rep = chr(r.randrange(0x3042, 0x3093))
    elif c.isascii() and c.isalpha():
        op = r.randrange(3)
        if op == 0 and len(s) > 3:
            return s[:pos] + s[pos + 1:]
        if op == 1:
            return s[:pos] + c + s[pos:]
        rep = chr(ord("a") + r.randrange(26))
        rep = rep.upper() if c.isupper() else rep
    else:
        return s
    return s[:pos] + rep + s[pos + 1:]


# --------------------------------------------------------------------------------------------
# Pools
# --------------------------------------------------------------------------------------------


class _Pools:
    """Name, company and address pools as numpy / arrow tables, built once per process."""

    def __init__(self) -> None:
        prng = np.random.default_rng(20240501)
        # ---- names: one table for surnames, one for given names (JP first, then English) ----
        sur = [tuple(x) for x in _pairs(_SURNAMES)]
        seen = {k for k, _ in sur}
        tail = []
        for a, ar in _pairs(_TAIL_A):
            for b, brs in _pairs(_TAIL_B):
                if a == b or a + b in seen:
                    continue
                variants = brs.split("/")
                tail.append((a + b, ar + variants[int(prng.integers(len(variants)))]))
                seen.add(a + b)
        jp_sur = sur + tail
        en_last = [tuple(x) for x in _pairs(_EN_LAST)]
        sur_tbl = self._name_table(jp_sur, en_last)
        self.n_sur_jp = len(jp_sur)
        self.n_en_last = len(en_last)
        w_main = np.arange(1, len(sur) + 1, dtype=float) ** -0.55
        self.sur_p = np.concatenate([0.66 * w_main / w_main.sum(), np.full(len(tail), 0.34 / len(tail))])

        male, female = [tuple(x) for x in _pairs(_GIVEN_MALE)], [tuple(x) for x in _pairs(_GIVEN_FEMALE)]
        known = {k for k, _ in male + female}

        def tail_names(specs):
            out = []
            for pre, suf in specs:
                for a, ar in _pairs(pre):
                    for b, br in _pairs(suf):
                        if a != b and a + b not in known:
                            known.add(a + b)
                            out.append((a + b, ar + br))
            return out

        tail_m, tail_f = tail_names(_GIVEN_TAIL_MALE), tail_names(_GIVEN_TAIL_FEMALE)
        en_m, en_f = _pairs(_EN_FIRST_MALE), _pairs(_EN_FIRST_FEMALE)
        jp_given = male + female + tail_m + tail_f
        giv_tbl = self._name_table(jp_given, [tuple(x) for x in en_m + en_f])
        self.n_giv_jp = len(jp_given)
        self.n_en_first_male, self.n_en_first_female = len(en_m), len(en_f)
        # 70 % of people carry one of the common names (Zipf), 30 % a long-tail name
        o_tm = len(male) + len(female)
        o_tf = o_tm + len(tail_m)
        self.giv_male_ids = np.concatenate([np.arange(len(male)), o_tm + np.arange(len(tail_m))])
        self.giv_male_p = np.concatenate([0.7 * self._zipf(len(male), 0.5), np.full(len(tail_m), 0.3 / len(tail_m))])
        self.giv_female_ids = np.concatenate([len(male) + np.arange(len(female)), o_tf + np.arange(len(tail_f))])
        self.giv_female_p = np.concatenate([0.7 * self._zipf(len(female), 0.5),
                                            np.full(len(tail_f), 0.3 / len(tail_f))])
        self.sur_flat = _S(sur_tbl.ravel())
        self.giv_flat = _S(giv_tbl.ravel())
        # first kana of the reading (Eight), full-width and half-width: index 2 * row + half
        self.sur_initial = _S(x for r in sur_tbl[:, 1] for x in (r[:1], r[:1].translate(_HW_KANA)))
        self.giv_initial = _S(x for r in giv_tbl[:, 1] for x in (r[:1], r[:1].translate(_HW_KANA)))
        self.kanji_chars = sorted({c for k, _ in jp_sur + jp_given for c in k if "\u4e00" <= c <= "\u9fff"})
        self.sur_tbl, self.giv_tbl = sur_tbl, giv_tbl

        # ---- company words ----
        self.co_prefix = _pairs(_CO_PREFIX)
        self.co_mid = _pairs(_CO_MID)
        self.co_core = _pairs(_CO_CORE)
        self.en_a, self.en_b, self.en_c = _pairs(_EN_CO_A), _pairs(_EN_CO_B), _pairs(_EN_CO_C)

        # ---- geography ----
        pref_names: list[str] = []
        city_pref, city_names, city_area, city_w, city_p3 = [], [], [], [], []
        for line in _PREFS.strip().splitlines():
            name, weight, postal, cities = line.split("|")
            lo, hi = (int(x) for x in postal.split("-"))
            pi = len(pref_names)
            pref_names.append(name)
            entries = [c.split(":") for c in cities.split(",")]
            for cname, area in entries:
                city_pref.append(pi)
                city_names.append(cname)
                city_area.append(area)
                city_w.append(float(weight) / len(entries))
                city_p3.append(f"{int(prng.integers(lo, hi + 1)):03d}")
        self.pref_names = pref_names
        self.city_pref = np.array(city_pref)
        self.city_p = np.array(city_w) / sum(city_w)
        self.pref_pa = _S(pref_names)
        self.city_pa = _S(city_names)
        self.city_p3_pa = _S(city_p3)
        self.tokyo_cities = np.flatnonzero(self.city_pref == pref_names.index("東京都"))
        area_codes = sorted(set(city_area) | {"070", "080", "090"})
        self.area_idx = {a: i for i, a in enumerate(area_codes)}
        self.city_area = np.array([self.area_idx[a] for a in city_area])
        self.area_pa = _S(area_codes)
        self.area_nz_pa = _S(a[1:] for a in area_codes)
        # digits of the middle block: 03-xxxx-xxxx, 045-xxx-xxxx, 0466-xx-xxxx, 090-xxxx-xxxx
        self.area_mid_digits = np.array([4 if len(a) == 2 or a in ("070", "080", "090") else 5 - len(a) + 1
                                         for a in area_codes])
        self.towns_pa = _S(_TOWNS.split())
        self.n_towns = len(_TOWNS.split())
        self.town_p4 = prng.integers(1, 9999, size=(len(city_names), self.n_towns))
        self.bldg_a = _S(_BLDG_A.split())
        self.bldg_b = _S(_BLDG_B)
        self.home_a = _S(_HOME_A)
        self.home_b = _S(_HOME_B)
        self.kanji_num = _S(_KANJI_NUM)

    @staticmethod
    def _zipf(n: int, s: float) -> np.ndarray:
        w = np.arange(1, n + 1, dtype=float) ** -s
        return w / w.sum()

    @staticmethod
    def _name_table(jp: list[tuple[str, str]], en: list[tuple[str, str]]) -> np.ndarray:
        """Columns: 0 native, 1 katakana, 2 half-width katakana, 3 hiragana, 4-6 romaji Title
        (wapuro / Hepburn / passport), 7-9 romaji UPPER, 10-12 romaji lower (for emails)."""
        rows = []
        for native, kata in jp:
            roms = _romaji_styles(kata)
            rows.append([native, kata, kata.translate(_HW_KANA), jaconv.kata2hira(kata),
                         *(r.capitalize() for r in roms), *(r.upper() for r in roms), *roms])
        for latin, kata in en:
            rows.append([latin, kata, kata.translate(_HW_KANA), kata, latin, latin, latin,
                         *([latin.upper()] * 3), *([latin.lower()] * 3)])
        return np.array(rows, dtype=object)


@functools.lru_cache(maxsize=1)
def _pools() -> _Pools:
    return _Pools()


# --------------------------------------------------------------------------------------------
# Companies and sites
# --------------------------------------------------------------------------------------------

_N_FORMS = 10  # spellings per company, see _company_forms


def _company_forms(core: str, legal: int, front: bool, en: str, en_alt: str, kana: str) -> list[str]:
    """Ten spellings of one company; index 0 is its registered name."""
    if legal == 3:  # English company; `kana` is its katakana name, en_alt its legal suffix
        gk = en_alt == "G.K."
        sub, abbr = ("合同会社", "(同)") if gk else ("株式会社", "(株)")
        comma = f"{en}, {en_alt}" if en_alt in ("Inc.", "Ltd.", "LLC") else f"{en} {en_alt.replace('.', '')}"
        return [f"{en} {en_alt}", f"{kana}{sub}", comma, f"{en} {en_alt}".upper(), f"{kana}{abbr}",
                f"{abbr}{kana}", f"{en} Co., Ltd.", f"{en} Corporation", en, f"{en} {en_alt.rstrip('.')}"]
    full, abbr, circled, en1, en2 = [
        ("株式会社", "株", "㈱", "Co., Ltd.", en_alt),
        ("有限会社", "有", "㈲", "Ltd.", "Y.K."),
        ("合同会社", "同", "(同)", "LLC", "G.K."),
    ][legal]

    def put(form: str, at_front: bool, sep: str = "") -> str:
        return f"{form}{sep}{core}" if at_front else f"{core}{sep}{form}"

    return [
        put(full, front),  # 0 registered name (前株 or 後株)
        put(full, not front),  # 1 legal form moved
        put(f"({abbr})", front),  # 2 (株)ABC
        put(f"（{abbr}）", front),  # 3 （株）ABC
        put(circled, front),  # 4 ㈱ABC
        put(f"({abbr})", not front),  # 5 abbreviated on the other side
        f"{en} {en1}",  # 6 English name, Co., Ltd.
        f"{en} {en2}",  # 7 English name, Inc. / K.K. / Corporation
        core,  # 8 no legal form
        put(full, front, "\u3000" if legal == 0 else " "),  # 9 with a space
    ]


def _unique_draws(rng: np.random.Generator, n: int, sizes: tuple[int, ...], probs: tuple) -> np.ndarray:
    """n distinct index tuples from the product of the pool sizes, in draw order."""
    total = int(np.prod(sizes))
    if n > total * 0.8:
        raise ValueError(f"company name pool too small for {n} companies (max ~{int(total * 0.8)})")
    mult = np.cumprod((1,) + sizes[::-1])[:-1][::-1]
    got = np.empty(0, np.int64)
    while len(got) < n:
        m = max(1024, 2 * (n - len(got)))
        code = np.zeros(m, np.int64)
        for s, p, k in zip(sizes, probs, mult):
            code += (_choice(rng, p, m) if p is not None else rng.integers(0, s, m)) * k
        allc = np.concatenate([got, code])
        _, first = np.unique(allc, return_index=True)
        got = allc[np.sort(first)]
    got = got[:n]
    return np.stack([(got // k) % s for s, k in zip(sizes, mult)], axis=1)


def _make_companies(rng: np.random.Generator, P: _Pools, n_jp: int, n_en: int) -> dict:
    mids = P.co_mid
    if n_jp > 0.8 * len(P.co_prefix) * (len(mids) + 1) * len(P.co_core):
        # Too many companies for the plain pool: region + middle word too (only then, so that
        # smaller orgs stay exactly as they were).
        mids = mids + [[r[0] + m[0], r[1] + m[1], f"{r[2]}_{m[2]}"] for r in _pairs(_CO_REGION) for m in mids]
    mid_p = np.full(len(mids) + 1, 0.3 / len(mids))
    mid_p[0] = 0.7
    jp = _unique_draws(rng, n_jp, (len(P.co_prefix), len(mids) + 1, len(P.co_core)), (None, mid_p, None))
    en_b = P.en_b
    if n_en > 0.8 * len(P.en_a) * (len(en_b) + 1) * len(P.en_c):  # as for the Japanese names above
        en_b = en_b + [[f"{r[0]} {b[0]}", r[1] + b[1]] for r in _pairs(_EN_CO_REGION) for b in en_b]
    b_p = np.full(len(en_b) + 1, 0.5 / len(en_b))
    b_p[0] = 0.5
    en = _unique_draws(rng, n_en, (len(P.en_a), len(en_b) + 1, len(P.en_c)), (None, b_p, None))
    n = n_jp + n_en
    legal = np.concatenate([_choice(rng, [86, 8, 6], n_jp), np.full(n_en, 3)]).tolist()
    front = (rng.random(n) < np.where(np.array(legal) == 0, 0.5, 0.45)).tolist()
    en_alt_jp = ["Inc.", "K.K.", "Corporation", "Co., Ltd."]
    jp_sub = rng.random(n_en) < 0.7  # Japanese subsidiaries of foreign companies
    en_legal_sub = ["K.K.", "K.K.", "K.K.", "G.K.", "Co., Ltd."]
    en_legal_os = ["Inc.", "Inc.", "Corporation", "LLC", "Ltd.", "Pte. Ltd.", "GmbH"]
    alt_idx = rng.integers(0, 4, n).tolist()
    sub_idx = rng.integers(0, len(en_legal_sub), n_en).tolist()
    os_idx = rng.integers(0, len(en_legal_os), n_en).tolist()
    dom_style = rng.integers(0, 6, n).tolist()
    old_dom = (rng.random(n) < 0.3).tolist()
    old_style = rng.integers(0, 4, n).tolist()

    forms: list[str] = []
    domains: list[str] = []
    old_domains: list[str] = []
    used: dict[str, int] = {}

    def unique_domain(d: str) -> str:
        k = used.get(d, 0)
        used[d] = k + 1
        if k == 0:
            return d
        name, _, tld = d.partition(".")
        return unique_domain(f"{name}{k + 1}.{tld}")

    jp_l, en_l, jp_sub_l = jp.tolist(), en.tolist(), jp_sub.tolist()
    for i in range(n):
        if i < n_jp:
            p, m, c = jp_l[i]
            pre, core = P.co_prefix[p], P.co_core[c]
            mid = mids[m - 1] if m else ("", "", "")
            en_name = " ".join(w.replace("_", " ") for w in (pre[2], mid[2], core[2]) if w)
            slug_a, slug_b = pre[1], mid[1] + core[1]
            forms.extend(_company_forms(pre[0] + mid[0] + core[0], legal[i], front[i], en_name,
                                        en_alt_jp[alt_idx[i]], ""))
            tld = ".co.jp"
        else:
            j = i - n_jp
            a, b, c = en_l[j]
            words = [P.en_a[a]] + ([en_b[b - 1]] if b else []) + [P.en_c[c]]
            en_name = " ".join(w[0] for w in words)
            kana = "".join(w[1] for w in words)
            slug_a, slug_b = words[0][0].lower(), "".join(w[0].lower().replace(" ", "") for w in words[1:])
            if jp_sub_l[j]:
                en_name += " Japan"
                kana += "ジャパン"
                alt = en_legal_sub[sub_idx[j]]
                tld = ".co.jp" if dom_style[i] < 2 else ".com"
            else:
                alt = en_legal_os[os_idx[j]]
                tld = ".com" if dom_style[i] < 4 else ".io"
            forms.extend(_company_forms(en_name, 3, False, en_name, alt, kana))
        ds = dom_style[i]
        if ds <= 1:
            dom = f"{slug_a}-{slug_b}{tld}"
        elif ds <= 3:
            dom = f"{slug_a}{slug_b}{tld}"
        elif ds == 4:
            dom = f"{slug_a}-{slug_b[:4]}{tld}"
        else:
            dom = f"{slug_a[:1]}{slug_b[:3]}{'-net' if tld == '.co.jp' else ''}{tld}"
        domains.append(unique_domain(dom))
        if old_dom[i]:
            old = [f"{slug_a}{slug_b}.jp", f"{slug_a}-{slug_b}-corp.co.jp", f"{slug_a}.{slug_b}.ne.jp",
                   f"{slug_b}-{slug_a}.com"][old_style[i]]
            old_domains.append(unique_domain(old))
        else:
            old_domains.append("")
    return {
        "forms": _S(forms), "domain": _S(domains), "old_domain": _S(old_domains),
        "is_en": np.arange(n) >= n_jp, "overseas": np.concatenate([np.zeros(n_jp, bool), ~jp_sub]),
    }


class _Sites:
    """Addresses and switchboard / home phones (offices and homes), added in blocks."""

    STR = ("s0", "s1", "s2", "s3", "bldg", "pref", "city", "p3", "p4", "intl_phone")
    NUM = ("area", "mid", "last", "overseas")

    def __init__(self) -> None:
        self.blocks: list[dict] = []
        self.n = 0

    def add_jp(self, rng: np.random.Generator, P: _Pools, count: int, home: bool,
               city: np.ndarray | None = None) -> np.ndarray:
        if city is None:
            city = _choice(rng, P.city_p, count)
        town = rng.integers(0, P.n_towns, count)
        chome = _choice(rng, [30, 25, 18, 12, 8, 4, 2, 1], count) + 1
        banchi = rng.integers(1, 31, count)
        go = np.where(rng.random(count) < 0.75, rng.integers(1, 26, count), 0)
        if home:
            in_bldg = rng.random(count) < 0.55
            room = rng.integers(1, 15, count) * 100 + rng.integers(1, 12, count)
            name = _j(_take(P.home_a, rng.integers(0, len(_HOME_A), count)),
                      _take(P.bldg_a, rng.integers(0, len(P.bldg_a), count)),
                      _take(P.home_b, rng.integers(0, len(_HOME_B), count)))
            sfx = _where(rng.random(count) < 0.5, "号室", "")
            bldg = _where(in_bldg, _j(name, " ", _istr(room), sfx), "")
            has_phone = rng.random(count) < 0.5
        else:
            in_bldg = rng.random(count) < 0.8
            floor = _choice(rng, np.ones(30), count) + 1
            name = _j(_take(P.bldg_a, rng.integers(0, len(P.bldg_a), count)),
                      _take(P.bldg_b, rng.integers(0, len(_BLDG_B), count)))
            bldg = _where(in_bldg, _j(name, " ", _istr(floor), _where(rng.random(count) < 0.6, "F", "階")), "")
            has_phone = np.ones(count, bool)
        area = P.city_area[city]
        mid_digits = P.area_mid_digits[area]
        mid = rng.integers(10 ** (mid_digits - 1), 10 ** mid_digits)
        mid = np.where(mid_digits == 4, rng.integers(2000, 10000, count), mid)
        town_s = _take(P.towns_pa, town)
        cs, bs, gs = _istr(chome), _istr(banchi), _istr(go)
        ck = _take(P.kanji_num, chome)
        has_go = go > 0
        block = {
            "s0": _where(has_go, _j(town_s, cs, "-", bs, "-", gs), _j(town_s, cs, "-", bs)),
            "s1": _where(has_go, _j(town_s, cs, "丁目", bs, "番", gs, "号"), _j(town_s, cs, "丁目", bs, "番地")),
            "s2": _where(has_go, _j(town_s, ck, "丁目", bs, "番", gs, "号"), _j(town_s, ck, "丁目", bs, "番地")),
            "s3": _where(has_go, _j(town_s, cs, "丁目", bs, "-", gs), _j(town_s, cs, "丁目", bs)),
            "bldg": bldg,
            "pref": _take(P.pref_pa, P.city_pref[city]),
            "city": _take(P.city_pa, city),
            "p3": _take(P.city_p3_pa, city),
            "p4": _pad(_istr(P.town_p4[city, town]), 4),
            "intl_phone": _S([""] * count),
            "area": np.where(has_phone, area, -1),
            "mid": mid, "last": rng.integers(0, 10000, count),
            "overseas": np.full(count, -1),
        }
        return self._push(block, count)

    def add_overseas(self, rng: np.random.Generator, count: int) -> np.ndarray:
        k = rng.integers(0, len(_OVERSEAS), count).tolist()
        num = rng.integers(1, 2000, count).tolist()
        suite = rng.integers(100, 3000, count).tolist()
        a = rng.integers(200, 999, count).tolist()
        b = rng.integers(0, 10000, count).tolist()
        street = [f"{x} {_OVERSEAS[i][0]}" + (f", Suite {s}" if s % 3 else "") for i, x, s in zip(k, num, suite)]
        block = {
            "s0": _S(street), "s1": _S(street), "s2": _S(street), "s3": _S(street),
            "bldg": _S([""] * count),
            "pref": _S(_OVERSEAS[i][2] for i in k),
            "city": _S(_OVERSEAS[i][1] for i in k),
            "p3": _S(_OVERSEAS[i][3] for i in k),
            "p4": _S([""] * count),
            "intl_phone": _S(f"{_OVERSEAS[i][5]} {x}-{y:04d}" for i, x, y in zip(k, a, b)),
            "area": np.full(count, -1), "mid": np.zeros(count, np.int64), "last": np.zeros(count, np.int64),
            "overseas": np.array(k, dtype=np.int64),
        }
        return self._push(block, count)

    def _push(self, block: dict, count: int) -> np.ndarray:
        self.blocks.append(block)
        ids = np.arange(self.n, self.n + count)
        self.n += count
        return ids

    def finish(self) -> None:
        for key in self.STR:
            setattr(self, key, pa.concat_arrays([b[key] for b in self.blocks]))
        for key in self.NUM:
            setattr(self, key, np.concatenate([b[key] for b in self.blocks]))
        self.street_flat = pa.concat_arrays([self.s0, self.s1, self.s2, self.s3])


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------

# Variations an extra (duplicate) record can carry, with weights.
_VARIATIONS = ["width", "legal", "name_form", "name_script", "typo", "phone", "postal", "addr",
               "email", "title", "moved", "domain", "missing", "job"]
_VAR_W = np.array([10, 10, 10, 9, 6, 10, 6, 8, 10, 6, 5, 3, 6, 1], dtype=float)

# Phone formats as (prefix, area without 0?, separator 1, separator 2):
# 03-1234-5678, 0312345678, +81 3-1234-5678, +81-3-1234-5678, (03)1234-5678, 03(1234)5678,
# 03 1234 5678, +81312345678
_PHONE_FMT = [("", 0, "-", "-"), ("", 0, "", ""), ("+81 ", 1, "-", "-"), ("+81-", 1, "-", "-"),
              ("(", 0, ")", "-"), ("", 0, "(", ")"), ("", 0, " ", " "), ("+81", 1, "", "")]
# Postal formats as (prefix, separator): 163-8001, 〒163-8001, 1638001, 〒1638001, 〒 163-8001
_POSTAL_FMT = [("", "-"), ("〒", "-"), ("", ""), ("〒", ""), ("〒 ", "-")]


def _fmt_phone(P: _Pools, area: np.ndarray, mid: np.ndarray, last: np.ndarray, code: np.ndarray) -> pa.Array:
    """Japanese numbers in one of eight formats ('' where area < 0)."""
    ok = area >= 0
    a = np.maximum(area, 0)
    nz = np.array([f[1] for f in _PHONE_FMT])[code] == 1
    area_s = _where(nz, _take(P.area_nz_pa, a), _take(P.area_pa, a))
    out = _j(_take(_S(f[0] for f in _PHONE_FMT), code), area_s, _take(_S(f[2] for f in _PHONE_FMT), code),
             _istr(mid), _take(_S(f[3] for f in _PHONE_FMT), code), _pad(_istr(last), 4))
    return _where(ok, out, "")


def _pick(strings: list[str], idx: np.ndarray) -> pa.Array:
    return _take(_S(strings), idx)


def _generate(records: int, seed: int, accounts: bool = False) -> tuple[pa.Table, ...]:
    P = _pools()
    rng = np.random.default_rng(seed)
    prand = random.Random(seed * 7919 + 17)

    # ---------------- entities and group sizes ----------------
    p_dup = 0.16
    guess = int(records / (1 + p_dup * 1.32)) + 64
    while True:
        has_dup = rng.random(guess) < p_dup
        sizes = 1 + np.where(has_dup, _choice(rng, [0.75, 0.18, 0.07], guess) + 1, 0)
        cum = np.cumsum(sizes)
        if cum[-1] >= records:
            break
        guess = int(guess * 1.2) + 64
    E = int(np.searchsorted(cum, records) + 1)
    sizes = sizes[:E].copy()
    sizes[-1] -= cum[E - 1] - records
    n = records

    b2c = rng.random(E) < 0.10
    is_en = rng.random(E) < np.where(b2c, 0.03, 0.095)
    u = rng.random(E)
    kind = np.where(b2c, 0, np.where(u < 0.033, 1, np.where(u < 0.055, 2, np.where(u < 0.077, 3, 0))))
    male = rng.random(E) < np.where(b2c, 0.5, 0.58)
    sur = _choice(rng, P.sur_p, E)
    giv = np.where(male, P.giv_male_ids[_choice(rng, P.giv_male_p, E)],
                   P.giv_female_ids[_choice(rng, P.giv_female_p, E)])
    en_sur = P.n_sur_jp + rng.integers(0, P.n_en_last, E)
    en_giv = P.n_giv_jp + np.where(male, rng.integers(0, P.n_en_first_male, E),
                                   P.n_en_first_male + rng.integers(0, P.n_en_first_female, E))
    sur = np.where(is_en, en_sur, sur)
    giv = np.where(is_en, en_giv, giv)

    # ---------------- companies and offices ----------------
    n_comp = max(8, int(round(records / 18)))
    n_en_comp = max(2, int(n_comp * 0.07))
    C = _make_companies(rng, P, n_comp - n_en_comp, n_en_comp)
    is_en_c, overseas_c = C["is_en"], C["overseas"]
    weight = rng.lognormal(0.0, 1.2, n_comp)  # company sizes: 1 to a few hundred people
    weight = np.minimum(weight, np.quantile(weight, 0.9995))
    size_rank = np.empty(n_comp, np.int64)
    size_rank[np.argsort(-weight)] = np.arange(n_comp)
    seg = np.where(size_rank < 0.05 * n_comp, 0, np.where(size_rank < 0.25 * n_comp, 1, 2))
    seg = np.where(rng.random(n_comp) < 0.03, 3, seg)

    S = _Sites()
    n_branch = np.where((size_rank < 0.04 * n_comp) & ~overseas_c, rng.integers(1, 5, n_comp), 0)
    jp_c = np.flatnonzero(~overseas_c)
    os_c = np.flatnonzero(overseas_c)
    main_site = np.empty(n_comp, np.int64)
    former_site = np.empty(n_comp, np.int64)  # the office before a move: used by moves and old records
    jp_city = _choice(rng, P.city_p, len(jp_c))
    jp_city = np.where(is_en_c[jp_c] & (rng.random(len(jp_c)) < 0.8),
                       P.tokyo_cities[rng.integers(0, len(P.tokyo_cities), len(jp_c))], jp_city)
    main_site[jp_c] = S.add_jp(rng, P, len(jp_c), home=False, city=jp_city)
    moved_city = np.where(rng.random(len(jp_c)) < 0.6, jp_city, _choice(rng, P.city_p, len(jp_c)))
    former_site[jp_c] = S.add_jp(rng, P, len(jp_c), home=False, city=moved_city)
    main_site[os_c] = S.add_overseas(rng, len(os_c))
    former_site[os_c] = S.add_overseas(rng, len(os_c))
    br_sites = S.add_jp(rng, P, int(n_branch.sum()), home=False)
    br_start = np.concatenate([[0], np.cumsum(n_branch)])[:-1]

    # people -> companies (skewed); English people favour English companies
    w_jp = np.where(is_en_c, 0.25, 1.0) * weight
    w_en = np.where(is_en_c, 12.0, 1.0) * weight
    comp = np.where(is_en, _choice(rng, w_en, E), _choice(rng, w_jp, E))
    comp = np.where(b2c, -1, comp)
    cidx = np.maximum(comp, 0)
    at_branch = (n_branch[cidx] > 0) & (rng.random(E) < 0.3)
    site = main_site[cidx].copy()
    if len(br_sites):
        pick = br_start[cidx] + rng.integers(0, np.maximum(n_branch[cidx], 1))
        site = np.where(at_branch, br_sites[np.minimum(pick, len(br_sites) - 1)], site)
    ent_former = former_site[cidx].copy()

    # B2C households: 1-3 people sharing surname, home address and home phone
    b2c_idx = np.flatnonzero(b2c)
    hh_sizes = _choice(rng, [0.74, 0.19, 0.07], len(b2c_idx) + 1) + 1
    hh_of = np.repeat(np.arange(len(hh_sizes)), hh_sizes)[: len(b2c_idx)]
    n_hh = int(hh_of.max()) + 1 if len(b2c_idx) else 0
    hh_home = S.add_jp(rng, P, n_hh, home=True)
    hh_former = S.add_jp(rng, P, n_hh, home=True)
    head = np.full(n_hh, -1)
    head[hh_of[::-1]] = b2c_idx[::-1]  # first member of each household
    if len(b2c_idx):
        hh_head = head[hh_of]
        site[b2c_idx] = hh_home[hh_of]
        ent_former[b2c_idx] = hh_former[hh_of]
        sur[b2c_idx] = sur[hh_head]
        is_en[b2c_idx] = is_en[hh_head]
        g = giv[b2c_idx]
        g = np.where(is_en[b2c_idx] & (g < P.n_giv_jp), P.n_giv_jp + rng.integers(0, P.n_en_first_male, len(g)), g)
        g = np.where(~is_en[b2c_idx] & (g >= P.n_giv_jp), P.giv_female_ids[_choice(rng, P.giv_female_p, len(g))], g)
        giv[b2c_idx] = g
    S.finish()

    # 同姓同名: some people share a full name with someone at another company
    src = rng.integers(0, E, E)
    twin = (~b2c) & (rng.random(E) < 0.012) & (is_en == is_en[src]) & (comp != comp[src])
    sur = np.where(twin, sur[src], sur)
    giv = np.where(twin, giv[src], giv)

    # ---------------- per-person contact data ----------------
    has_direct = (~b2c) & (rng.random(E) < 0.3) & ~overseas_c[cidx]
    site_area = S.area[site]
    md = P.area_mid_digits[np.maximum(site_area, 0)]
    d_area = np.where(has_direct, site_area, -1)
    d_mid = np.select([md == 4, md == 3], [rng.integers(2000, 10000, E), rng.integers(200, 1000, E)],
                      rng.integers(20, 100, E))
    d_last = rng.integers(0, 10000, E)
    has_mobile = rng.random(E) < np.where(b2c, 0.75, 0.4)
    mob_codes = np.array([P.area_idx[a] for a in ("070", "080", "090")])
    m_area = np.where(has_mobile, mob_codes[_choice(rng, [1, 3, 6], E)], -1)
    m_mid = rng.integers(1000, 10000, E)
    m_last = rng.integers(0, 10000, E)

    # titles and departments as indices into one pool each ("" is index 0)
    title_pool = [""] + [t for t, _ in _TITLES_JP[1:]] + [t for t, _ in _TITLES_EN[1:]] + _BILLING_TITLES \
        + _RECRUIT_TITLES
    dept_pool = [""] + [t for t, _ in _DEPTS_JP[1:]] + [t for t, _ in _DEPTS_EN[1:]] + _BILLING_DEPTS \
        + _RECRUIT_DEPTS + _PARTNER_DEPTS
    o_ten = len(_TITLES_JP)
    o_tb = o_ten + len(_TITLES_EN) - 1
    o_tr = o_tb + len(_BILLING_TITLES)
    o_den = len(_DEPTS_JP)
    o_db = o_den + len(_DEPTS_EN) - 1
    o_dr = o_db + len(_BILLING_DEPTS)
    o_dp = o_dr + len(_RECRUIT_DEPTS)
    tw_jp = [w for _, w in _TITLES_JP]
    tw_en = [w for _, w in _TITLES_EN]
    en_titles = is_en_c[cidx] & (rng.random(E) < 0.6)

    def title_draw() -> np.ndarray:
        tj = _choice(rng, tw_jp, E)
        te = _choice(rng, tw_en, E)
        return np.where(en_titles, np.where(te > 0, o_ten + te - 1, 0), tj)

    def dept_draw() -> np.ndarray:
        dj = _choice(rng, [w for _, w in _DEPTS_JP], E)
        de = _choice(rng, [w for _, w in _DEPTS_EN], E)
        return np.where(en_titles, np.where(de > 0, o_den + de - 1, 0), dj)

    title, title2, dept, dept2 = title_draw(), title_draw(), dept_draw(), dept_draw()
    bt = o_tb + rng.integers(0, len(_BILLING_TITLES), E)
    rt = o_tr + rng.integers(0, len(_RECRUIT_TITLES), E)
    bd = o_db + rng.integers(0, len(_BILLING_DEPTS), E)
    rd = o_dr + rng.integers(0, len(_RECRUIT_DEPTS), E)
    pd_ = o_dp + rng.integers(0, len(_PARTNER_DEPTS), E)
    title = np.select([kind == 1, kind == 2, b2c], [bt, rt, 0], title)
    title2 = np.select([kind == 1, kind == 2, b2c], [bt, rt, 0], title2)
    dept = np.select([kind == 1, kind == 2, kind == 3, b2c], [bd, rd, pd_, 0], dept)
    dept2 = np.where((kind == 0) & ~b2c & (rng.random(E) < 0.5), dept2, dept)

    # email addresses
    estyle = _choice(rng, [0.2, 0.72, 0.08], E)
    s_low = _take(P.sur_flat, sur * _NC + 10 + estyle)
    g_low = _take(P.giv_flat, giv * _NC + 10 + estyle)
    g0 = pc.utf8_slice_codeunits(g_low, 0, 1)
    pattern = rng.integers(0, 8, n_comp)[cidx]
    pattern = np.where(rng.random(E) < 0.1, rng.integers(0, 8, E), pattern)  # not everyone conforms
    forms = [_j(g_low, ".", s_low), _j(s_low, ".", g_low), _j(g0, ".", s_low), _j(g0, s_low),
             _j(s_low, "-", g_low), _j(g_low, "_", s_low), _j(s_low, g0), _j(s_low, ".", g0)]
    work_local = forms[0]
    for c in range(1, 8):
        work_local = _where(pattern == c, forms[c], work_local)
    domain = _where(b2c, "", _take(C["domain"], cidx))
    rank = _dup_rank(_j(work_local, "@", domain), ~b2c)  # two Sato Taros at one company: sato2
    work_local = _where(rank > 0, _j(work_local, _istr(rank + 1)), work_local)
    work_email = _j(work_local, "@", domain)
    yy = _pad(_istr(rng.integers(60, 100, E) % 100), 2)
    num = _istr(rng.integers(1, 1000, E))
    fpat = rng.integers(0, 5, E)
    fforms = [_j(g_low, ".", s_low, yy), _j(s_low, g0, num), _j(g_low, s_low), _j(g_low, "_", s_low, num),
              _j(s_low, ".", g_low, ".", yy)]
    free_local = fforms[0]
    for c in range(1, 5):
        free_local = _where(fpat == c, fforms[c], free_local)
    fm_dom = _pick(_FREEMAIL, rng.integers(0, len(_FREEMAIL), E))
    for _ in range(8):  # personal addresses are unique too
        keys = pa.concat_arrays([work_email, _j(free_local, "@", fm_dom)])
        rank = _dup_rank(keys, np.concatenate([~b2c, np.ones(E, bool)]))[E:]
        if not (rank > 0).any():
            break
        free_local = _where(rank > 0, _j(free_local, _istr(rng.integers(1, 100, E))), free_local)
    free_email = _j(free_local, "@", fm_dom)
    role_local = _pick(_ROLE_LOCALS, rng.integers(0, len(_ROLE_LOCALS), E))
    role_local = _where(kind == 1, _pick(_BILLING_LOCALS, rng.integers(0, 4, E)), role_local)
    role_local = _where(kind == 2, _pick(_RECRUIT_LOCALS, rng.integers(0, 4, E)), role_local)
    role_email = _j(role_local, "@", domain)
    etype = _choice(rng, [80, 6, 10, 4], E)  # work, role (info@), freemail, none
    etype = np.where((kind == 1) | (kind == 2), np.where(rng.random(E) < 0.3, 1, etype), etype)
    etype = np.where(b2c, np.where(rng.random(E) < 0.85, 2, 3), etype)
    if len(b2c_idx):  # some family members share one address
        share = np.zeros(E, bool)
        share[b2c_idx] = rng.random(len(b2c_idx)) < 0.15
        src_e = np.arange(E)
        src_e[b2c_idx] = np.where(share[b2c_idx], head[hh_of], b2c_idx)
        free_email = _take(free_email, src_e)
    primary = _where(etype == 0, work_email, _where(etype == 1, role_email, _where(etype == 2, free_email, "")))
    alternate = _where((etype == 2) & ~b2c, work_email, free_email)
    old_domain = _where(b2c, "", _take(C["old_domain"], cidx))
    has_old = pc.not_equal(old_domain, "")
    old_email = pc.if_else(has_old, _j(work_local, "@", old_domain), alternate)
    email_cand = pa.concat_arrays([primary, alternate, old_email])

    has_bd = rng.random(E) < 0.12
    bdays = rng.integers(-15 * 365, 32 * 365, E)  # days since 1970: born 1955 - 2002
    sansan_id = _hex_ids(rng, E)

    # ---------------- records, in CreatedDate order ----------------
    ent = np.repeat(np.arange(E), sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    extra = np.ones(n, bool)
    extra[first] = False
    base_of = first[ent]
    age = np.floor(_SPAN_DAYS * rng.beta(1.0, 2.0, n)).astype(np.int64)
    close = extra & (rng.random(n) < 0.35)  # retried forms, re-imports: soon after the first record
    age = np.where(close, np.maximum(age[base_of] - rng.exponential(20, n).astype(np.int64), 0), age)
    secs = np.where(rng.random(n) < 0.7, rng.integers(0, 10 * 3600, n), rng.integers(0, 86400, n))
    created = _END - (age + 1).astype("timedelta64[D]") + secs.astype("timedelta64[s]")
    order = np.lexsort((rng.random(n), created))
    inv = np.empty(n, np.int64)
    inv[order] = np.arange(n)
    ent, extra, created = ent[order], extra[order], created[order]
    base_of = inv[base_of[order]]
    ex = np.flatnonzero(extra)
    e_b2c, e_en, e_kind = b2c[ent], is_en[ent], kind[ent]

    is_lead = rng.random(n) < np.where(
        e_b2c, 0.85, np.select([e_kind == 1, e_kind == 2, e_kind == 3], [0.2, 0.5, 0.3], 0.62))
    mix_row = np.select([e_kind == 2, e_kind == 3, e_kind == 1, e_b2c, e_en, extra], [4, 5, 6, 3, 2, 1], 0)
    route = _row_choice(rng, _ROUTE_MIX, mix_row)
    route = np.where((e_kind == 0) & ~e_b2c & (rng.random(n) < 0.01), _LS_PARTNER, route)
    cat = _LS_CATEGORY[route]

    # variation flags for extras: 1-4 distinct variations (Gumbel top-k)
    k = _choice(rng, [0.3, 0.3, 0.25, 0.15], len(ex)) + 1
    keys = np.log(_VAR_W)[None, :] - np.log(-np.log(rng.random((len(ex), len(_VARIATIONS)))))
    vrank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    V = {}
    for j, name in enumerate(_VARIATIONS):
        V[name] = np.zeros(n, bool)
        V[name][ex] = vrank[:, j] < k
    V["email"] |= (V["legal"] | V["domain"] | V["job"]) & e_b2c  # no company: change the email instead
    for name in ("legal", "domain", "job"):
        V[name] &= ~e_b2c

    def draw(probs) -> np.ndarray:
        return _choice(rng, probs, n)

    def force(code: np.ndarray, flag: np.ndarray, kk: int) -> None:
        idx = np.flatnonzero(flag)
        code[idx] = _differ(rng, code[base_of[idx]], kk)

    # base format codes (natural noise on every record), then forced changes on extras
    name_form = draw([89, 4, 3, 3, 1])  # split, whole+全角space, whole+space, whole, swapped
    force(name_form, V["name_form"], 5)
    name_script = draw([96.3, 2, 0.3, 0.2, 1.2, 0.4])  # kanji, kata, half kata, hira, romaji, ROMAJI
    idx = np.flatnonzero(V["name_script"])
    name_script[idx] = np.where(name_script[base_of[idx]] == 0, _choice(rng, [30, 12, 13, 30, 15], len(idx)) + 1, 0)
    rom_style = draw([25, 60, 15])
    typo = (rng.random(n) < 0.004) | V["typo"]
    comp_form = draw([80, 1, 7, 4, 3, 1, 0.7, 0.6, 2, 0.7])
    force(comp_form, V["legal"], _N_FORMS)
    width = np.where(rng.random(n) < 0.05, rng.integers(1, 16, n), 0)  # bits: company, name, phone, address
    width[V["width"]] |= rng.integers(1, 16, int(V["width"].sum()))
    phone_fmt = draw([78, 10, 3, 1, 3, 1, 2, 2])
    force(phone_fmt, V["phone"], 8)
    postal_fmt = draw([80, 8, 9, 2, 1])
    force(postal_fmt, V["postal"], 5)
    street_style = draw([60, 20, 5, 15])  # hyphen, 丁目番号, 漢数字丁目, mixed
    pref_place = draw([85, 7, 4, 4])  # State field, omitted, in City, all in Street
    no_bldg = rng.random(n) < 0.1
    a_idx = np.flatnonzero(V["addr"])
    abits = rng.integers(1, 8, len(a_idx))
    street_style[a_idx] = np.where(abits & 1, _differ(rng, street_style[base_of[a_idx]], 4), street_style[a_idx])
    pref_place[a_idx] = np.where(abits & 2, _differ(rng, pref_place[base_of[a_idx]], 4), pref_place[a_idx])
    no_bldg[a_idx] = np.where(abits & 4, ~no_bldg[base_of[a_idx]], no_bldg[a_idx])
    bldg_sep = draw([75, 17, 8])
    # email: 0 primary, 1 case change, 2 plus-tag, 3 other address, 4 missing, 5 old domain, 6 new job
    email_var = draw([96, 1.5, 0.5, 1.5, 0.5])
    e_idx = np.flatnonzero(V["email"])
    email_var[e_idx] = np.where(email_var[base_of[e_idx]] == 0, _choice(rng, [30, 20, 30, 20], len(e_idx)) + 1, 0)
    email_var = np.where(V["domain"], 5, email_var)
    email_var = np.where(V["job"], np.where(rng.random(n) < 0.5, 3, 6), email_var)

    # site and company of each record
    e_site = site[ent]
    old_rec = (~extra) & (rng.random(n) < 0.04)  # old records still carry the previous address
    moved = V["moved"] | old_rec
    rec_site = np.where(moved, ent_former[ent], e_site)
    rec_comp = comp[ent]
    new_comp = _choice(rng, weight, n)
    rec_comp = np.where(V["job"], new_comp, rec_comp)
    rec_site = np.where(V["job"], main_site[new_comp], rec_site)
    rcidx = np.maximum(rec_comp, 0)
    overseas = S.overseas[rec_site] >= 0

    # field capture by route, plus the 'missing' variation
    keep = rng.random((n, 7)) < _KEEP[cat]
    m_idx = np.flatnonzero(V["missing"])
    drop = rng.random((len(m_idx), 7)) < 0.35
    drop[np.arange(len(m_idx)), rng.integers(0, 7, len(m_idx))] = True
    keep[m_idx] &= ~drop
    keep_title, keep_dept, keep_phone, keep_mobile, keep_email, keep_addr, keep_country = keep.T

    # ---------------- names ----------------
    ns, rs = name_script, rom_style
    r_sur, r_giv = sur[ent], giv[ent]
    ln = _take(P.sur_flat, r_sur * _NC + np.select([ns <= 3, ns == 4], [ns, 4 + rs], 7 + rs))
    fn = _take(P.giv_flat, r_giv * _NC + np.where(ns <= 3, ns, 4 + rs))
    latin = (ns >= 4) | (e_en & (ns == 0))
    en_kana = e_en & (ns >= 1) & (ns <= 3)
    nf = name_form
    whole = (nf >= 1) & (nf <= 3)
    jp_sep = _pick(["", "\u3000", " ", ""], nf * whole)
    kana_sep = _pick(["", "・", " ", "\u3000", "･"], np.where(whole, np.where(ns == 2, 4, nf), 0))
    last_name = _where(nf == 4, fn, ln)
    last_name = _where(whole & ~latin & ~en_kana, _j(ln, jp_sep, fn), last_name)
    last_name = _where(whole & en_kana, _j(fn, kana_sep, ln), last_name)
    last_name = _where(latin & ((nf == 1) | (nf == 2)), _j(fn, " ", ln), last_name)
    ln_up = _take(P.sur_flat, r_sur * _NC + 7 + rs)
    last_name = _where(latin & (nf == 3), _j(ln_up, " ", fn), last_name)
    first_name = _where(whole, "", _where(nf == 4, ln, fn))

    # ---------------- readings (フリガナ, custom fields) ----------------
    # The person's true reading, whatever the name fields show. Eight sometimes captured only the
    # first kana of it. The draw for `eight` stays on the main stream where it always was; the rest
    # use their own stream, so every other column is unchanged by the reading fields.
    eight = (route == _LS_EIGHT) & ~e_en & (rng.random(n) < 0.25)
    krng = np.random.default_rng([seed, 0x4B414E41])
    card = cat == 1
    has_kana = (~e_en & (krng.random(n) < np.where(card, 0.85, 0.4))) | eight
    half = (card & (krng.random(n) < 0.15)).astype(np.int64)  # card tools: half-width katakana
    last_kana = _where(eight, _take(P.sur_initial, r_sur * 2 + half), _take(P.sur_flat, r_sur * _NC + 1 + half))
    first_kana = _where(eight, _take(P.giv_initial, r_giv * 2 + half), _take(P.giv_flat, r_giv * _NC + 1 + half))
    last_kana = _where(has_kana, last_kana, "")
    first_kana = _where(has_kana, first_kana, "")

    # ---------------- company / account ----------------
    comp_name = _take(C["forms"], rcidx * _N_FORMS + comp_form)
    b2c_co = _where(rng.random(n) < 0.12,
                    _j(_take(P.sur_flat, r_sur * _NC), _take(P.giv_flat, r_giv * _NC)),
                    _pick(_B2C_COMPANY, rng.integers(0, len(_B2C_COMPANY), n)))
    comp_name = _where(e_b2c, b2c_co, comp_name)

    # ---------------- address ----------------
    has_b = pc.and_(pc.not_equal(_take(S.bldg, rec_site), ""), pa.array(~no_bldg))
    has_b_np = has_b.to_numpy(zero_copy_only=False)
    street = _j(_take(S.street_flat, street_style * S.n + rec_site),
                _pick(["", " ", "\u3000", ""], np.where(has_b_np, bldg_sep + 1, 0)),
                _where(has_b_np, _take(S.bldg, rec_site), ""))
    pref = _take(S.pref, rec_site)
    city = _take(S.city, rec_site)
    pp = np.where(overseas, 0, pref_place)
    state = _where(pp == 0, pref, "")
    city_out = _where(pp == 2, _j(pref, city), _where(pp == 3, "", city))
    street = _where(pp == 3, _j(pref, city, street), street)
    zf = postal_fmt
    postal = _j(_pick([f[0] for f in _POSTAL_FMT], zf), _take(S.p3, rec_site),
                _pick([f[1] for f in _POSTAL_FMT], zf), _take(S.p4, rec_site))
    postal = _where(overseas, _take(S.p3, rec_site), postal)
    # country: 日本 / Japan / JP / 日本国, or the overseas office's country in one of three spellings
    cvar = _choice(rng, [45, 30, 20, 5], n)
    country_pool = list(_COUNTRY_JP) + [c for o in _OVERSEAS for c in o[4]]
    c_idx = np.where(overseas, 4 + np.maximum(S.overseas[rec_site], 0) * 3 + np.minimum(cvar, 2), cvar)
    country = _pick(country_pool, c_idx)
    addr_ok = keep_addr | (e_b2c & (rng.random(n) < 0.5))
    street = _where(addr_ok, street, "")
    city_out = _where(addr_ok, city_out, "")
    state = _where(addr_ok, state, "")
    postal = _where(addr_ok & (rng.random(n) < 0.97), postal, "")
    country = _where(keep_country & (addr_ok | (rng.random(n) < 0.3)), country, "")

    # ---------------- phones ----------------
    # the direct line when known (cards often print the switchboard), else the office / home number
    r_direct = has_direct[ent] & ~moved & ~V["job"] & (rng.random(n) < np.where(cat == 1, 0.5, 0.8))
    ph_area = np.where(r_direct, d_area[ent], S.area[rec_site])
    ph_mid = np.where(r_direct, d_mid[ent], S.mid[rec_site])
    ph_last = np.where(r_direct, d_last[ent], S.last[rec_site])
    e_mob = m_area[ent]
    mob_as_phone = (e_mob >= 0) & ((ph_area < 0) | ((cat == 0) & (rng.random(n) < 0.25)))
    ph_area = np.where(mob_as_phone, e_mob, ph_area)
    ph_mid = np.where(mob_as_phone, m_mid[ent], ph_mid)
    ph_last = np.where(mob_as_phone, m_last[ent], ph_last)
    phone = _fmt_phone(P, np.where(keep_phone, ph_area, -1), ph_mid, ph_last, phone_fmt)
    phone = _where(overseas & keep_phone & ~mob_as_phone, _take(S.intl_phone, rec_site), phone)
    mobile = _fmt_phone(P, np.where(keep_mobile & ~mob_as_phone, e_mob, -1), m_mid[ent], m_last[ent], phone_fmt)

    # ---------------- email ----------------
    sel = np.select([email_var == 3, email_var == 5], [1, 2], 0)
    email = _take(email_cand, sel * E + ent)
    email = _where(email_var == 6, _j(_take(work_local, ent), "@", _take(C["domain"], rcidx)), email)
    email = _where((keep_email | V["email"] | V["domain"]) & (email_var != 4), email, "")

    # ---------------- titles ----------------
    title_alt = V["title"] | V["job"]
    r_title = np.where(title_alt, title2[ent], title[ent])
    r_title = np.where(keep_title | V["title"], r_title, 0)
    r_dept = np.where(title_alt & (rng.random(n) < 0.4), dept2[ent], dept[ent])
    r_dept = np.where(keep_dept, r_dept, 0)

    # ---------------- per-row variations (rare) ----------------
    kc = P.kanji_chars
    t_last = typo & (rng.random(n) < 0.6)
    fn_empty = pc.equal(first_name, "").to_numpy(zero_copy_only=False)
    last_name = _patch(last_name, t_last | (typo & fn_empty), lambda v, i: _typo(v, prand, kc))
    first_name = _patch(first_name, typo & ~t_last & ~fn_empty, lambda v, i: _typo(v, prand, kc))

    def fw_text(v: str, i: int) -> str:
        if i % 3 == 0 and any("\u30a1" <= c <= "\u30fc" for c in v) and not any(c.isascii() and c.isalnum()
                                                                                for c in v):
            return v.translate(_HW_KANA)
        return v.translate(_FW_ASCII)

    comp_name = _patch(comp_name, (width & 1) > 0, fw_text)
    last_name = _patch(last_name, (width & 2) > 0, lambda v, i: v.translate(_FW_ASCII))
    first_name = _patch(first_name, (width & 2) > 0, lambda v, i: v.translate(_FW_ASCII))
    ph_tbl = (_FW_PHONE, _FW_PHONE_CHOON)
    phone = _patch(phone, (width & 4) > 0, lambda v, i: v.translate(ph_tbl[i % 5 == 0]))
    mobile = _patch(mobile, (width & 4) > 0, lambda v, i: v.translate(ph_tbl[i % 5 == 0]))
    street = _patch(street, (width & 8) > 0, lambda v, i: v.translate(_FW_ASCII))
    postal = _patch(postal, ((width & 8) > 0) & (rng.random(n) < 0.5), lambda v, i: v.translate(_FW_ASCII))

    def email_case(v: str, i: int) -> str:
        if not v:
            return v
        local, _, dom = v.partition("@")
        j = i % 3
        if j == 0:
            return ".".join(p.capitalize() for p in local.split(".")) + "@" + dom
        return v.upper() if j == 1 else local + "@" + dom.upper()

    def plus_tag(v: str, i: int) -> str:
        local, _, dom = v.partition("@")
        return f"{local}+{_PLUS_TAGS[i % len(_PLUS_TAGS)]}@{dom}" if v else v

    email = _patch(email, email_var == 1, email_case)
    email = _patch(email, email_var == 2, plus_tag)

    # ---------------- provenance, owners, dates, flags ----------------
    owners = _sf_ids("005", np.arange(42) * 7 + 1019, pod="2x0")
    owner = 2 + _choice(rng, np.arange(40, 0, -1), n)
    owner = np.where(((route == _LS_SANSAN) | (route == _LS_EIGHT)) & (rng.random(n) < 0.85), 0, owner)
    owner = np.where((route == _LS_WEB) & (rng.random(n) < 0.5), 1, owner)
    mod_gap = np.where(rng.random(n) < 0.3, 0, rng.exponential(150 * 86400, n).astype(np.int64))
    modified = np.minimum(created + mod_gap.astype("timedelta64[s]"), _END - np.timedelta64(60, "s"))
    modified = np.maximum(modified, created)
    opted = rng.random(n) < 0.06
    opted = np.where(extra & (rng.random(n) < 0.5), opted[base_of], opted)
    sansan = _where((route == _LS_SANSAN) & (rng.random(n) < 0.92), _take(sansan_id, ent), "")
    segment = np.where(rng.random(n) < 0.18, 5, np.where(e_b2c, 4, seg[rcidx]))
    show_bd = has_bd[ent] & (rng.random(n) < 0.85)
    birth = pc.cast(pa.array(bdays[ent], type=pa.int32()).cast(pa.date32()), pa.string())
    birth = _where(show_bd, birth, "")

    # ---------------- ids and accounts ----------------
    counters = np.empty(n, np.int64)
    n_lead = int(is_lead.sum())
    start_l, start_c = (int(x) for x in rng.integers(10 ** 6, 10 ** 7, 2))
    counters[is_lead] = start_l + np.arange(n_lead) * 3 + rng.integers(0, 3, n_lead)
    counters[~is_lead] = start_c + np.arange(n - n_lead) * 2 + rng.integers(0, 2, n - n_lead)
    lead_ids = _sf_ids("00Q", counters[is_lead])
    contact_ids = _sf_ids("003", counters[~is_lead])
    pos = np.where(is_lead, np.cumsum(is_lead) - 1, n_lead + np.cumsum(~is_lead) - 1)
    ids = _take(pa.concat_arrays([lead_ids, contact_ids]), pos)

    # Contacts hang under Accounts; a spelling variant of a company is a duplicate Account of its own
    contact = ~is_lead
    acc_key = rcidx.astype(np.int64) * 64 + comp_form * 2 + ((width & 1) > 0)
    bucket = e_b2c & (rng.random(n) < 0.4)  # B2C contacts: a bucket account or none
    acc_key = np.where(e_b2c, np.where(bucket, -2, -1), acc_key)
    uk, inv_k = np.unique(np.where(contact, acc_key, -1), return_inverse=True)
    acc_ids = _sf_ids("001", 2 * 10 ** 6 + rng.permutation(len(uk)) * 3 + 1)
    has_acc = contact & (acc_key != -1)
    account_id = _where(has_acc, _take(acc_ids, inv_k.ravel()), "")
    account_name = _where(contact & (acc_key == -2), "個人のお客様", _where(has_acc, comp_name, ""))

    def lead_only(a):
        return _where(is_lead, a, "")

    def contact_only(a):
        return _where(contact, a, "")

    def ts(a: np.ndarray) -> pa.Array:
        s = pc.cast(pa.array(a.astype("datetime64[s]")), pa.string())
        return _j(pc.replace_substring(s, " ", "T"), ".000Z")

    cols = {
        "Id": ids,
        "Object": _where(is_lead, "Lead", "Contact"),
        "FirstName": first_name,
        "LastName": last_name,
        "Company": lead_only(comp_name),
        "Account.Name": account_name,
        "AccountId": account_id,
        "Title": _pick(title_pool, r_title),
        "Department": _pick(dept_pool, r_dept),
        "Email": email,
        "Phone": phone,
        "MobilePhone": mobile,
        "Street": lead_only(street),
        "City": lead_only(city_out),
        "State": lead_only(state),
        "PostalCode": lead_only(postal),
        "Country": lead_only(country),
        "MailingStreet": contact_only(street),
        "MailingCity": contact_only(city_out),
        "MailingState": contact_only(state),
        "MailingPostalCode": contact_only(postal),
        "MailingCountry": contact_only(country),
        "Birthdate": birth,
        "LeadSource": _pick(_LEAD_SOURCES, route),
        "OwnerId": _take(owners, owner),
        "CreatedDate": ts(created),
        "LastModifiedDate": ts(modified),
        "Sansan_Person_Id__c": sansan,
        "HasOptedOutOfEmail": _where(opted, "true", "false"),
        "Segment__c": _pick(_SEGMENTS + [""], segment),
        "LastNameKana__c": last_kana,
        "FirstNameKana__c": first_kana,
    }
    null = pa.scalar(None, pa.string())
    table = pa.Table.from_arrays([pc.if_else(pc.equal(cols[c], ""), null, cols[c]) for c in COLUMNS],
                                 names=COLUMNS)
    truth = pa.Table.from_arrays(
        [ids, _j("P", _pad(_istr(ent), 7)), _pick(list(KINDS), kind[ent])], names=TRUTH_COLUMNS)
    if not accounts:
        return table, truth
    # The Accounts the Contacts hang under: the first Contact of each AccountId names it.
    acc_of = np.where(has_acc & (acc_key >= 0), inv_k.ravel(), -1)
    first = np.unique(acc_of[acc_of >= 0], return_index=True)[1]
    first_row = np.flatnonzero(acc_of >= 0)[first]
    bucket_rows = np.flatnonzero(contact & (acc_key == -2))[:1]
    accounts, account_truth = _account_export(
        seed, P, C, S, main_site, br_sites, br_start, n_branch,
        ids_of=account_id.take(pa.array(np.concatenate([first_row, bucket_rows]))),
        names=account_name.take(pa.array(np.concatenate([first_row, bucket_rows]))),
        comp_of=np.concatenate([rcidx[first_row], np.full(len(bucket_rows), -1)]), owners=owners,
    )
    # each Lead's company, as the Accounts' truth names companies (none for a consumer's Lead)
    lead_rows = np.flatnonzero(is_lead & ~e_b2c)
    lead_truth = pa.table({"Id": ids.take(pa.array(lead_rows)),
                           "company_entity": _j("C", _pad(_istr(rcidx[lead_rows]), 7))})
    return table, truth, accounts, account_truth, lead_truth


ACCOUNT_COLUMNS = ["Id", "Object", "Name", "Phone", "Website", "BillingPostalCode", "BillingState", "BillingCity",
                   "BillingStreet", "ParentId", "CorporateNumber__c", "OwnerId", "CreatedDate", "LastModifiedDate"]
_BRANCH_LABELS = ["大阪支店", "名古屋支店", "福岡営業所", "札幌支店", "横浜支社", "仙台営業所", "広島支店", "京都営業所"]
_GROUP_SUFFIXES = [("ホールディングス", "Holdings"), ("テクノ", "Techno"), ("ソリューションズ", "Solutions"),
                   ("サービス", "Services"), ("ロジスティクス", "Logistics")]
_WEBSITE_FORMS = ["https://www.{}/", "http://www.{}", "www.{}", "{}", "https://{}/company/"]



def _account_export(seed: int, P: _Pools, C: dict, S: "_Sites", main_site: np.ndarray, br_sites: np.ndarray,
                    br_start: np.ndarray, n_branch: np.ndarray, ids_of: pa.Array, names: pa.Array,
                    comp_of: np.ndarray, owners: pa.Array) -> tuple[pa.Table, pa.Table]:
    """The sample's Accounts as an Account export, with its truth (Id, entity_id, kind).

    Every AccountId the Contacts carry is an Account named as its first Contact shows it; a company
    written two ways on its Contacts (株式会社ABC / ABC(株), a width change) is two Accounts of one
    company (kind `company`, entity the company). Each Account keeps or drops its switchboard,
    website, billing address and corporate number (法人番号) on its own. Added, each an entity of its
    own: branch Accounts of large companies (ABC株式会社 大阪支店, at the branch's office, the same
    corporate number, half of them with the head office as ParentId: kind `branch`), namesakes (the
    same registered name at another place, kind `namesake`) and group companies (ABCホールディングス
    株式会社 at the same website and often the same switchboard: kind `group`). Own random stream:
    the records are what they are without it."""
    rng = np.random.default_rng([seed, 0x41434354])
    n_comp = len(main_site)
    from nayose.accounts import corporate_check_digit

    # 法人番号: twelve drawn digits behind their check digit (a number that fails it is no 法人番号)
    bases = [f"{int(x) % 10 ** 12:012d}" for x in rng.integers(10 ** 12, 10 ** 13, n_comp)]
    corp_no = [f"{corporate_check_digit(b)}{b}" for b in bases]
    forms = C["forms"]
    rows: list[dict] = []
    truth: list[tuple[str, str, str]] = []
    counter = [int(rng.integers(10 ** 6, 10 ** 7))]

    def new_id() -> str:
        counter[0] += 3
        return _sf_ids("001", np.array([counter[0]]), pod="9A0")[0].as_py()

    def phone_at(site: int) -> str:
        if S.overseas[site] >= 0:
            return S.intl_phone[site].as_py()
        code = int(rng.choice(3, p=[0.8, 0.12, 0.08]))
        return _fmt_phone(P, np.array([S.area[site]]), np.array([S.mid[site]]), np.array([S.last[site]]),
                          np.array([code]))[0].as_py()

    def account(rid: str, name: str, site: int | None, comp: int, domain: str | None, parent: str | None = None,
                corp: bool | None = None, phone: str | None = None) -> None:
        r = rng.random(5)
        row = {"Id": rid, "Object": "Account", "Name": name, "ParentId": parent, "OwnerId": owners[int(rng.integers(0, len(owners)))].as_py()}
        if site is not None:
            row["Phone"] = phone if phone is not None else (phone_at(site) if r[0] < 0.85 else None)
            if r[1] < 0.8:
                fmt = _POSTAL_FMT[int(rng.integers(0, len(_POSTAL_FMT)))]
                row["BillingPostalCode"] = (S.p3[site].as_py() if S.overseas[site] >= 0
                                            else f"{fmt[0]}{S.p3[site].as_py()}{fmt[1]}{S.p4[site].as_py()}")
                row["BillingState"] = S.pref[site].as_py() or None
                row["BillingCity"] = S.city[site].as_py() or None
                row["BillingStreet"] = S.street_flat[site].as_py() or None
        if domain and r[2] < 0.65:
            row["Website"] = _WEBSITE_FORMS[int(rng.integers(0, len(_WEBSITE_FORMS)))].format(domain)
        if comp >= 0 and (corp if corp is not None else r[3] < 0.3):
            row["CorporateNumber__c"] = corp_no[comp]
        created = _END - np.timedelta64(int(rng.integers(60, 8 * 365)), "D") - np.timedelta64(int(rng.integers(0, 86400)), "s")
        row["CreatedDate"] = str(created.astype("datetime64[s]")).replace(" ", "T") + ".000Z"
        row["LastModifiedDate"] = str(min(created + np.timedelta64(int(rng.integers(0, 400)), "D"),
                                          _END - np.timedelta64(60, "s")).astype("datetime64[s]")) + ".000Z"
        rows.append(row)

    ids_l, names_l = ids_of.to_pylist(), names.to_pylist()
    first_of: dict[int, str] = {}
    for rid, name, comp in zip(ids_l, names_l, comp_of.tolist()):
        if comp < 0:  # the B2C bucket Account (個人のお客様)
            account(rid, name, None, -1, None)
            truth.append((rid, "B2C", "bucket"))
            continue
        first_of.setdefault(comp, rid)
        account(rid, name, int(main_site[comp]), comp, C["domain"][comp].as_py())
        truth.append((rid, f"C{comp:07d}", "company"))
    for comp, head in first_of.items():
        registered, core = forms[comp * _N_FORMS].as_py(), forms[comp * _N_FORMS + 8].as_py()
        latin = core.isascii()
        r = rng.random(4)
        if n_branch[comp] > 0 and r[0] < 0.4:  # a branch Account
            site = int(br_sites[br_start[comp] + int(rng.integers(0, n_branch[comp]))])
            label = _BRANCH_LABELS[int(rng.integers(0, len(_BRANCH_LABELS)))]
            rid = new_id()
            account(rid, f"{registered} {label}", site, comp, C["domain"][comp].as_py(),
                    parent=head if rng.random() < 0.5 else None, corp=rng.random() < 0.3)
            truth.append((rid, f"B{comp:07d}", "branch"))
        if r[1] < 0.015:  # a namesake: the same registered name somewhere else
            other = int(rng.integers(0, n_comp))
            rid = new_id()
            account(rid, registered, int(main_site[other]), -1, None,
                    phone=_fmt_phone(P, np.array([S.area[int(main_site[other])]]), rng.integers(100, 9999, 1),
                                     rng.integers(0, 9999, 1), np.array([0]))[0].as_py() or None)
            truth.append((rid, f"N{comp:07d}", "namesake"))
        if r[2] < 0.01:  # a group company at the same website (and often switchboard)
            ja, en = _GROUP_SUFFIXES[int(rng.integers(0, len(_GROUP_SUFFIXES)))]
            if latin:
                name = f"{core} {en} Inc."
            else:
                name = (f"{core}{ja}株式会社" if registered.startswith(core) else f"株式会社{core}{ja}")
            site = int(main_site[comp])
            rid = new_id()
            account(rid, name, site, -1, C["domain"][comp].as_py(), phone=phone_at(site) if rng.random() < 0.4 else None)
            truth.append((rid, f"G{comp:07d}", "group"))
    columns = {c: pa.array([row.get(c) for row in rows], pa.string()) for c in ACCOUNT_COLUMNS}
    table = pa.table(columns)
    truth_t = pa.table({"Id": [t[0] for t in truth], "entity_id": [t[1] for t in truth], "kind": [t[2] for t in truth]})
    return table, truth_t


def generate_sample_with_accounts(records: int, seed: int = 42) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table, pa.Table]:
    """generate_sample's (records, truth), the org's Account export with its truth (_account_export),
    and each Lead's company (Id, company_entity: the entity the Accounts' truth gives that company;
    no row for a consumer's Lead)."""
    if int(records) < 1:
        raise ValueError("records must be >= 1")
    return _generate(int(records), int(seed), accounts=True)


def generate_sample(records: int, seed: int = 42) -> tuple[pa.Table, pa.Table]:
    """Return (records_table, truth_table). records_table columns are all strings (null = empty)."""
    if int(records) < 1:
        raise ValueError("records must be >= 1")
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of short-lived strings; the cyclic GC only slows this down
    try:
        return _generate(int(records), int(seed))
    finally:
        if gc_was_enabled:
            gc.enable()


def sample_stats(truth: pa.Table) -> dict:
    """Group statistics of a truth table: records, entities, duplicate groups / records / pairs."""
    counts = pc.value_counts(truth.column("entity_id").combine_chunks()).field("counts").to_numpy()
    dup = counts[counts >= 2].astype(np.int64)
    return {
        "records": int(truth.num_rows),
        "entities": int(len(counts)),
        "duplicate_groups": int(len(dup)),
        "duplicate_records": int(dup.sum()),
        "duplicate_pairs": int((dup * (dup - 1) // 2).sum()),
    }


def write_sample(records: int, seed: int, out_csv: str | Path, truth_csv: str | Path | None = None,
                 accounts_csv: str | Path | None = None) -> dict:
    """Write the records CSV (UTF-8, header row, empty string for null) and the truth CSV; default truth path is
    <out_csv stem>.truth.csv beside it. With `accounts_csv`, also the org's Account export and its truth
    (<accounts stem>.truth.csv). Returns a small dict of stats (records, entities, duplicate records, seconds)."""
    start = time.perf_counter()
    out_csv = Path(out_csv)
    truth_path = Path(truth_csv) if truth_csv is not None else out_csv.with_name(out_csv.stem + ".truth.csv")
    if accounts_csv is None:
        table, truth = generate_sample(records, seed)
    else:
        table, truth, acc, acc_truth, lead_truth = generate_sample_with_accounts(records, seed)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    opts = pacsv.WriteOptions(include_header=True, batch_size=65536)
    pacsv.write_csv(table, str(out_csv), opts)
    pacsv.write_csv(truth, str(truth_path), opts)
    stats = sample_stats(truth)
    if accounts_csv is not None:
        acc_path = Path(accounts_csv)
        acc_path.parent.mkdir(parents=True, exist_ok=True)
        pacsv.write_csv(acc, str(acc_path), opts)
        pacsv.write_csv(acc_truth, str(acc_path.with_name(acc_path.stem + ".truth.csv")), opts)
        pacsv.write_csv(lead_truth, str(acc_path.with_name(acc_path.stem + ".leads.truth.csv")), opts)
        stats["accounts"] = sample_stats(acc_truth)
    stats.update({"seed": int(seed), "out_csv": str(out_csv), "truth_csv": str(truth_path),
                  "seconds": round(time.perf_counter() - start, 3)})
    return stats


# --------------------------------------------------------------------------------------------
# A business-card export to import into the sample org (nayose import-plan)
# --------------------------------------------------------------------------------------------

#: Headers of the generated card export (Sansan-like, CP932); import_plan.incoming_columns maps them.
CARD_COLUMNS = ["会社名", "部署名", "役職", "氏名", "セイ", "メイ", "メールアドレス", "郵便番号", "住所",
                "電話番号", "携帯電話", "名刺交換日"]
CARD_TRUTH_COLUMNS = ["incoming_id", "entity_id", "in_org"]
_CARD_TITLES = ["部長", "課長", "マネージャー", "主任", "担当", "取締役", "執行役員", "次長", "係長"]
_CARD_VARIATIONS = ["company", "name_space", "title", "email_case", "email_missing", "phone", "postal", "address",
                    "typo", "width"]
_CARD_VAR_W = np.array([10, 8, 10, 4, 4, 10, 6, 8, 3, 4], dtype=float)


def _card_company(v: str, r: random.Random) -> str:
    """Another spelling of the company: the legal form moved or abbreviated."""
    for full, abbr in (("株式会社", "(株)"), ("有限会社", "(有)"), ("合同会社", "(同)")):
        if v.startswith(full):
            core = v[len(full):].strip()
            return r.choice([core + full, abbr + core, "㈱" + core if full == "株式会社" else core + abbr])
        if v.endswith(full):
            core = v[: -len(full)].strip()
            return r.choice([full + core, core + abbr, core + " " + full])
        if abbr in v or "㈱" in v:
            core = v.replace(abbr, "").replace("㈱", "").strip()
            return r.choice([full + core, core + full])
    if "Co., Ltd." in v:
        return v.replace("Co., Ltd.", "K.K.")
    return v.translate(_FW_ASCII) if v.isascii() else v


def _card_phone(v: str, r: random.Random) -> str:
    digits = "".join(ch for ch in v if ch.isdigit())
    if v.startswith("+81") or len(digits) < 9:
        return digits if len(digits) >= 9 else v
    if r.random() < 0.5:
        return digits
    return "+81 " + v.lstrip("0") if "-" in v else "+81-" + digits[1:]


def _card_row(rec: dict, r: random.Random, variations: set[str], kanji_chars: list[str]) -> list[str]:
    """One card-export row from a sample record, with the given variations applied."""
    def g(*names: str) -> str:
        for n in names:
            v = rec.get(n)
            if v:
                return v
        return ""

    company = g("Company", "Account.Name")
    last, first = g("LastName"), g("FirstName")
    if "typo" in variations and last:
        last = _typo(last, r, kanji_chars)
    sep = "" if "name_space" in variations and not last.isascii() else ("\u3000" if not last.isascii() else " ")
    name = f"{last}{sep}{first}" if first else last
    if "width" in variations:
        name = name.translate(_FW_ASCII)
        company = company.translate(_FW_ASCII)
    elif "company" in variations and company:
        company = _card_company(company, r)
    title = g("Title")
    if "title" in variations:
        title = r.choice(_CARD_TITLES + [""])
    email = g("Email")
    if "email_case" in variations and email:
        email = email.upper()
    if "email_missing" in variations:
        email = ""
    phone, mobile = g("Phone"), g("MobilePhone")
    if "phone" in variations:
        phone = _card_phone(phone, r) if phone else phone
        mobile = _card_phone(mobile, r) if mobile else mobile
    postal = g("PostalCode", "MailingPostalCode")
    if "postal" in variations and postal:
        postal = postal.lstrip("〒 ") if postal.startswith("〒") else "〒" + postal
    state, city, street = g("State", "MailingState"), g("City", "MailingCity"), g("Street", "MailingStreet")
    address = (city + street) if "address" in variations else (state + city + street)
    exchanged = f"2026-11-{r.randint(1, 28):02d}"
    row = [company, g("Department"), title, name, g("LastNameKana__c"), g("FirstNameKana__c"), email, postal,
           address, phone, mobile, exchanged]
    return [v.replace("ß", "ss") for v in row]  # the one character of the pools CP932 lacks


def generate_card_export(
    org: pa.Table, org_truth: pa.Table, rows: int = 2000, seed: int = 1, existing_share: float = 0.4,
    in_file_duplicates: float = 0.03,
) -> tuple[list[list[str]], pa.Table]:
    """A business-card export (rows in CARD_COLUMNS order, no Id column) to import into `org`, and
    its truth (incoming_id = 1-based data row, entity_id, in_org).

    `existing_share` of the rows are people already in the org: one of their org records re-written
    as a card with 1-3 variations (legal form moved, name without a space, a typo, new title, email
    upper-cased or missing, phone and postal formats, address without the prefecture, full-width
    text). The rest are new people: one record each of a second sample (another seed; same pools,
    so namesakes and same-named companies occur), never sharing an email or mobile with the org.
    `in_file_duplicates` of the rows are a second card of a person already in the file. Only
    people with a company are drawn (cards are business cards). Deterministic by seed."""
    rng = np.random.default_rng([seed, 0x43415244])
    r = random.Random(seed * 104729 + 3)
    P = _pools()
    n_dup = int(round(rows * in_file_duplicates))
    n_exist = int(round((rows - n_dup) * existing_share))
    n_new = rows - n_dup - n_exist

    def has_company(t: pa.Table) -> np.ndarray:
        c = pc.fill_null(pc.coalesce(t.column("Company"), t.column("Account.Name")), "")
        ok = pc.invert(pc.is_in(c, pa.array(["", "個人", "個人のお客様", "[[Unknown]]", "-", "なし"])))
        return ok.to_numpy(zero_copy_only=False)

    org_ent = org_truth.column("entity_id").to_numpy(zero_copy_only=False)
    ok = has_company(org) & (org_truth.column("kind").to_numpy(zero_copy_only=False) == "customer")
    cand = np.flatnonzero(ok)
    cand = cand[rng.permutation(len(cand))]
    _, first_pos = np.unique(org_ent[cand], return_index=True)  # one random record per person
    picks = cand[np.sort(first_pos)]
    if len(picks) < n_exist:
        raise ValueError(f"the org has {len(picks)} people with a company; {n_exist} asked for")
    exist_idx = rng.choice(picks, n_exist, replace=False)

    new_t, new_truth = generate_sample(max(int(n_new * 1.6) + 64, 256), seed + 1_000_003)
    taken_email = set(pc.utf8_lower(pc.drop_null(org.column("Email"))).to_pylist())
    taken_mobile = set(pc.drop_null(org.column("MobilePhone")).to_pylist())
    new_ent = new_truth.column("entity_id").to_numpy(zero_copy_only=False)
    emails = pc.utf8_lower(pc.fill_null(new_t.column("Email"), "")).to_pylist()
    mobiles = pc.fill_null(new_t.column("MobilePhone"), "").to_pylist()
    free = np.array([e not in taken_email and m not in taken_mobile for e, m in zip(emails, mobiles)])
    ncand = np.flatnonzero(has_company(new_t) & free)
    _, first_new = np.unique(new_ent[ncand], return_index=True)
    npicks = ncand[np.sort(first_new)]
    if len(npicks) < n_new:
        raise ValueError(f"only {len(npicks)} new people available; {n_new} asked for")
    new_idx = rng.choice(npicks, n_new, replace=False)

    org_rows = org.take(pa.array(exist_idx)).to_pylist()
    new_rows = new_t.take(pa.array(new_idx)).to_pylist()
    people = [(rec, str(org_ent[i]), True) for rec, i in zip(org_rows, exist_idx)] + \
             [(rec, "N" + str(new_ent[i]), False) for rec, i in zip(new_rows, new_idx)]
    dup_src = rng.choice(len(people), n_dup, replace=False) if n_dup else np.zeros(0, np.int64)
    entries = [(p, True) for p in people] + [(people[i], True) for i in dup_src]
    order = rng.permutation(len(entries))
    kc = P.kanji_chars
    logw = np.log(_CARD_VAR_W / _CARD_VAR_W.sum())
    out_rows, ids, ents, in_org = [], [], [], []
    for k, j in enumerate(order, 1):
        (rec, ent, existing), _ = entries[j]
        n_var = int(rng.integers(1, 4)) if existing else int(rng.random() < 0.3)
        keys = logw - np.log(-np.log(rng.random(len(_CARD_VARIATIONS))))
        chosen = {_CARD_VARIATIONS[i] for i in np.argsort(-keys)[:n_var]}
        out_rows.append(_card_row(rec, r, chosen, kc))
        ids.append(str(k))
        ents.append(ent)
        in_org.append("true" if existing else "false")
    truth = pa.table({"incoming_id": pa.array(ids), "entity_id": pa.array(ents), "in_org": pa.array(in_org)})
    return out_rows, truth


def write_card_export(
    org_csv: str | Path, org_truth_csv: str | Path, rows: int, seed: int, out_csv: str | Path,
    truth_csv: str | Path | None = None, existing_share: float = 0.4,
) -> dict:
    """Write a card export against the sample org in `org_csv` / `org_truth_csv` as CP932 CSV with
    Japanese headers (CARD_COLUMNS), and its truth (UTF-8; default <out stem>.truth.csv)."""
    import csv as _csv

    start = time.perf_counter()
    read = pacsv.ReadOptions()
    conv = pacsv.ConvertOptions(strings_can_be_null=True)
    org = pacsv.read_csv(str(org_csv), read_options=read, convert_options=conv)
    org = org.cast(pa.schema([(c, pa.string()) for c in org.column_names]))
    org_truth = pacsv.read_csv(str(org_truth_csv), convert_options=conv)
    org_truth = org_truth.cast(pa.schema([(c, pa.string()) for c in org_truth.column_names]))
    data, truth = generate_card_export(org, org_truth, rows, seed, existing_share)
    out_csv = Path(out_csv)
    truth_path = Path(truth_csv) if truth_csv is not None else out_csv.with_name(out_csv.stem + ".truth.csv")
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", encoding="cp932", newline="") as f:
        w = _csv.writer(f, lineterminator="\r\n")
        w.writerow(CARD_COLUMNS)
        w.writerows(data)
    pacsv.write_csv(truth, str(truth_path))
    return {"rows": rows, "seed": seed, "in_org": int(sum(v == "true" for v in truth.column("in_org").to_pylist())),
            "out_csv": str(out_csv), "truth_csv": str(truth_path), "encoding": "cp932",
            "seconds": round(time.perf_counter() - start, 3)}
