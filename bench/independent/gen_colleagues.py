#!/usr/bin/env python3
"""Independent, seeded generator of Japanese B2B Salesforce Leads (65%) / Contacts as a Data Loader CSV plus a truth CSV (Id,entity_id).
About records/15 companies (株式会社 85% / 有限会社 9% / 合同会社 6%, 前株 or 後株) with 1-60 colleagues each who share switchboard, postal code and street.
~30% of people get 1-3 duplicate rows (60/28/12%); each duplicate carries 1-4 variations: name script/order/whole-name, widths, company form,
phone/email/postal/address formats, blanks, title change, other lead source; ~3% of duplicates have a look-alike kanji typo, ~5% are job changes.
~2% forced (≈8% in all at 20k) namesakes at other companies, ~5% forced same-surname colleagues, ~3% English-named; prints a summary dict.
"""
import argparse
import csv
import datetime as dt
import os
import random
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict

import jaconv
import numpy as np

# ----------------------------------------------------------------------------------------------
# Name data (kanji:reading). Surnames roughly in national frequency order.
# ----------------------------------------------------------------------------------------------
# top 10 with their approximate share of the population in per mille
SURNAMES_TOP = ("佐藤:さとう:15 鈴木:すずき:14 高橋:たかはし:11 田中:たなか:10.5 伊藤:いとう:8.5 "
                "渡辺:わたなべ:8.5 山本:やまもと:8.5 中村:なかむら:8.3 小林:こばやし:8.1 加藤:かとう:7.0")
SURNAMES_TAIL = """
吉田:よしだ 山田:やまだ 佐々木:ささき 山口:やまぐち 松本:まつもと 井上:いのうえ 木村:きむら 林:はやし 斎藤:さいとう 清水:しみず
山崎:やまざき 森:もり 池田:いけだ 橋本:はしもと 阿部:あべ 石川:いしかわ 山下:やました 中島:なかじま 石井:いしい 小川:おがわ
前田:まえだ 岡田:おかだ 長谷川:はせがわ 藤田:ふじた 後藤:ごとう 近藤:こんどう 村上:むらかみ 遠藤:えんどう 青木:あおき 坂本:さかもと
斉藤:さいとう 福田:ふくだ 太田:おおた 西村:にしむら 藤井:ふじい 金子:かねこ 岡本:おかもと 藤原:ふじわら 中野:なかの 三浦:みうら
原田:はらだ 中川:なかがわ 松田:まつだ 竹内:たけうち 小野:おの 田村:たむら 中山:なかやま 和田:わだ 石田:いしだ 森田:もりた
上田:うえだ 原:はら 内田:うちだ 柴田:しばた 酒井:さかい 宮崎:みやざき 横山:よこやま 高木:たかぎ 安藤:あんどう 宮本:みやもと
大野:おおの 小島:こじま 谷口:たにぐち 今井:いまい 工藤:くどう 高田:たかだ 増田:ますだ 丸山:まるやま 杉山:すぎやま 村田:むらた
大塚:おおつか 新井:あらい 小山:こやま 平野:ひらの 藤本:ふじもと 河野:こうの 上野:うえの 野口:のぐち 武田:たけだ 松井:まつい
千葉:ちば 岩崎:いわさき 菅原:すがわら 木下:きのした 久保:くぼ 佐野:さの 野村:のむら 松尾:まつお 市川:いちかわ 菊地:きくち
杉本:すぎもと 古川:ふるかわ 大西:おおにし 島田:しまだ 水野:みずの 桜井:さくらい 高野:たかの 渡部:わたなべ 吉川:よしかわ 山内:やまうち
西田:にしだ 飯田:いいだ 菊池:きくち 西川:にしかわ 小松:こまつ 北村:きたむら 安田:やすだ 五十嵐:いがらし 川口:かわぐち 平田:ひらた
関:せき 中田:なかた 久保田:くぼた 服部:はっとり 東:ひがし 岩田:いわた 土屋:つちや 川崎:かわさき 福島:ふくしま 本田:ほんだ
辻:つじ 樋口:ひぐち 秋山:あきやま 田口:たぐち 永井:ながい 山中:やまなか 中西:なかにし 吉村:よしむら 川上:かわかみ 大橋:おおはし
石原:いしはら 松岡:まつおか 浅野:あさの 荒木:あらき 馬場:ばば 大久保:おおくぼ 小池:こいけ 野田:のだ 松下:まつした 熊谷:くまがい
菅野:すがの 内藤:ないとう 黒田:くろだ 尾崎:おざき 永田:ながた 川村:かわむら 望月:もちづき 田辺:たなべ 松村:まつむら 荒井:あらい
堀:ほり 大島:おおしま 平井:ひらい 早川:はやかわ 小西:こにし 岡崎:おかざき 矢野:やの 桑原:くわばら 宮田:みやた 星野:ほしの
片山:かたやま 吉岡:よしおか 岩本:いわもと 篠原:しのはら 榎本:えのもと 白石:しらいし 堤:つつみ 三宅:みやけ 小田:おだ 徳永:とくなが
須藤:すどう 大川:おおかわ 奥村:おくむら 北川:きたがわ 成田:なりた 関口:せきぐち 沢田:さわだ 浜田:はまだ 杉浦:すぎうら 宇野:うの
本間:ほんま
"""
# less common surnames (long tail), still real surnames with their usual reading
SURNAMES_MORE = """
高山:たかやま 宮下:みやした 中尾:なかお 石橋:いしばし 松浦:まつうら 小沢:おざわ 佐久間:さくま 大谷:おおたに 上原:うえはら 野崎:のざき
小倉:おぐら 岡部:おかべ 平山:ひらやま 内山:うちやま 小野寺:おのでら 村井:むらい 大森:おおもり 川島:かわしま 井口:いぐち 南:みなみ
吉野:よしの 松永:まつなが 稲垣:いながき 西山:にしやま 高井:たかい 山根:やまね 大竹:おおたけ 中井:なかい 若林:わかばやし 関根:せきね
大石:おおいし 藤川:ふじかわ 広瀬:ひろせ 西尾:にしお 小泉:こいずみ 岡:おか 松原:まつばら 森本:もりもと 田代:たしろ 宮内:みやうち
金井:かない 谷:たに 中谷:なかたに 藤崎:ふじさき 平松:ひらまつ 西岡:にしおか 北野:きたの 坂口:さかぐち 吉原:よしはら 青山:あおやま
牧野:まきの 富田:とみた 深沢:ふかざわ 野中:のなか 戸田:とだ 田島:たじま 今村:いまむら 梅田:うめだ 安部:あべ 矢島:やじま
岡野:おかの 小笠原:おがさわら 松川:まつかわ 宮原:みやはら 本多:ほんだ 津田:つだ 梶原:かじわら 新田:にった 植田:うえだ 森下:もりした
富永:とみなが 柳田:やなぎだ 林田:はやしだ 藤野:ふじの 大沢:おおさわ 大木:おおき 福井:ふくい 河合:かわい 西野:にしの 長尾:ながお
堀内:ほりうち 小出:こいで 岩井:いわい 宮川:みやがわ 吉井:よしい 岸:きし 松山:まつやま 高島:たかしま 細川:ほそかわ 山岸:やまぎし
米田:よねだ 大村:おおむら 白井:しらい 高瀬:たかせ 竹田:たけだ 植木:うえき 戸塚:とつか 浅井:あさい 宮沢:みやざわ 森山:もりやま
石黒:いしぐろ 土井:どい 平川:ひらかわ 下田:しもだ 堀田:ほった 小原:おはら 大山:おおやま 川端:かわばた 荒川:あらかわ 石塚:いしづか
小森:こもり 相馬:そうま 野本:のもと 竹中:たけなか 中原:なかはら 谷川:たにがわ 岸本:きしもと 坂井:さかい 松島:まつしま 入江:いりえ
川原:かわはら 三上:みかみ 梅原:うめはら 島村:しまむら 高松:たかまつ 三好:みよし 内海:うつみ 杉田:すぎた 黒川:くろかわ 田原:たはら
須田:すだ 大田:おおた 香川:かがわ 大井:おおい 栗原:くりはら 小谷:こたに 細谷:ほそや 加納:かのう 大槻:おおつき 土田:つちだ
岡島:おかじま 浅田:あさだ 中本:なかもと 森川:もりかわ 西原:にしはら 竹下:たけした 青柳:あおやぎ 奥田:おくだ 岩瀬:いわせ 中嶋:なかじま
西:にし 北原:きたはら 井手:いで 飯島:いいじま 三木:みき 吉沢:よしざわ 柏木:かしわぎ 沖田:おきた 福本:ふくもと 加賀:かが
遠山:とおやま 坂田:さかた 宮城:みやぎ 宮野:みやの 寺田:てらだ 寺島:てらしま 寺本:てらもと 岩下:いわした 奥山:おくやま 水谷:みずたに
田上:たがみ 藤沢:ふじさわ 神田:かんだ 市村:いちむら 長島:ながしま 長沢:ながさわ 朝倉:あさくら 星:ほし 船橋:ふなばし 金田:かねだ
松崎:まつざき 川西:かわにし 前川:まえかわ 安井:やすい 石山:いしやま 宮島:みやじま 森岡:もりおか 中沢:なかざわ 河村:かわむら 日高:ひだか
田所:たどころ 八木:やぎ 赤松:あかまつ 黒木:くろき 杉村:すぎむら 片岡:かたおか 中根:なかね 根本:ねもと 奥野:おくの 野上:のがみ
古田:ふるた 福原:ふくはら 秋元:あきもと 宇田川:うだがわ 小野田:おのだ 二宮:にのみや 村山:むらやま 山村:やまむら 中嶋:なかじま 亀井:かめい
"""
# more tail surnames composed from a prefix and a suffix whose combined reading is a plain concatenation
SURNAME_COMPOSE = {
    "村:むら": "中:なか 木:き 田:た 西:にし 北:きた 野:の 松:まつ 吉:よし 川:かわ 岡:おか 今:いま 上:うえ 下:しも 大:おお "
              "梅:うめ 沖:おき 奥:おく 米:よね 増:ます 福:ふく 畑:はた 若:わか 飯:いい 島:しま 杉:すぎ 石:いし 竹:たけ "
              "森:もり 宮:みや 市:いち 植:うえ 志:し 高:たか 藤:ふじ 花:はな 谷:たに 岩:いわ 東:ひがし 前:まえ 三:み",
    "本:もと": "山:やま 松:まつ 橋:はし 坂:さか 岡:おか 藤:ふじ 宮:みや 杉:すぎ 森:もり 岩:いわ 榎:えの 根:ね 秋:あき "
              "中:なか 西:にし 平:ひら 吉:よし 寺:てら 竹:たけ 梅:うめ 柳:やなぎ 福:ふく 沖:おき 奥:おく 熊:くま 堀:ほり "
              "滝:たき 谷:たに 島:しま 増:ます 川:かわ 花:はな 大:おお 若:わか 野:の 石:いし 木:き 塚:つか 岸:きし",
    "野:の": "大:おお 中:なか 平:ひら 水:みず 高:たか 星:ほし 浅:あさ 牧:まき 上:うえ 北:きた 西:にし 吉:よし 佐:さ "
            "矢:や 宇:う 藤:ふじ 岡:おか 長:なが 永:なが 宮:みや 森:もり 石:いし 岩:いわ 竹:たけ 梅:うめ 桑:くわ "
            "沖:おき 奥:おく 熊:くま 堀:ほり 滝:たき 谷:たに 島:しま 川:かわ 畑:はた 天:あま",
    "井:い": "石:いし 藤:ふじ 今:いま 松:まつ 新:あら 酒:さか 永:なが 平:ひら 桜:さくら 荒:あら 村:むら 中:なか 高:たか "
            "白:しら 浅:あさ 安:やす 坂:さか 岩:いわ 森:もり 福:ふく 吉:よし 筒:つつ 臼:うす 亀:かめ 武:たけ 玉:たま "
            "横:よこ 堀:ほり 向:むか 沢:さわ 大:おお 宮:みや",
    "岡:おか": "松:まつ 吉:よし 西:にし 森:もり 石:いし 片:かた 平:ひら 高:たか 長:なが 福:ふく 藤:ふじ 村:むら "
              "中:なか 宮:みや 鶴:つる 亀:かめ 広:ひろ 富:とみ",
    "尾:お": "松:まつ 中:なか 長:なが 西:にし 高:たか 平:ひら 森:もり 寺:てら",
    "山:やま": "中:なか 高:たか 松:まつ 杉:すぎ 森:もり 岡:おか 平:ひら 西:にし 北:きた 石:いし 秋:あき 藤:ふじ "
              "寺:てら 竹:たけ 梅:うめ 桑:くわ 福:ふく 植:うえ 沖:おき 奥:おく 米:よね 永:なが 滝:たき 谷:たに "
              "増:ます 飯:いい 横:よこ 畑:はた 花:はな 大:おお 下:しも 東:ひがし 前:まえ 青:あお 若:わか 古:ふる 丸:まる 内:うち",
}
MALE = """
健:けん 一郎:いちろう 太郎:たろう 誠:まこと 大輔:だいすけ 翔太:しょうた 拓也:たくや 健太:けんた 浩:ひろし 隆:たかし
直樹:なおき 和也:かずや 達也:たつや 哲也:てつや 剛:つよし 学:まなぶ 修:おさむ 亮:りょう 翔:しょう 大樹:だいき
悠斗:ゆうと 蓮:れん 陽翔:はると 健一:けんいち 浩二:こうじ 雄一:ゆういち 俊介:しゅんすけ 慎也:しんや 雅人:まさと 智也:ともや
裕太:ゆうた 康弘:やすひろ 秀樹:ひでき 英樹:ひでき 正樹:まさき 和彦:かずひこ 博之:ひろゆき 健二:けんじ 洋平:ようへい 祐介:ゆうすけ
一樹:かずき 拓海:たくみ 大介:だいすけ 誠一:せいいち 真一:しんいち 淳:じゅん 徹:とおる 聡:さとし 豊:ゆたか 稔:みのる
勇気:ゆうき 亮太:りょうた 圭:けい 悠:ゆう 陸:りく 隼人:はやと 航:わたる 清:きよし 茂:しげる 進:すすむ
明:あきら 孝:たかし 正人:まさと 健太郎:けんたろう 将太:しょうた 竜也:たつや 大地:だいち 直人:なおと 克也:かつや 信也:しんや
恭平:きょうへい 良太:りょうた 匠:たくみ 龍之介:りゅうのすけ 雄太:ゆうた 浩一:こういち 修平:しゅうへい 光:ひかる 昭:あきら 実:みのる
賢治:けんじ 隆之:たかゆき 義男:よしお 敏行:としゆき 昌平:しょうへい
"""
FEMALE = """
陽子:ようこ 恵子:けいこ 京子:きょうこ 洋子:ようこ 幸子:さちこ 久美子:くみこ 由美子:ゆみこ 真由美:まゆみ 智子:ともこ 裕子:ゆうこ
明美:あけみ 直美:なおみ 恵:めぐみ 愛:あい 美咲:みさき 彩:あや 麻衣:まい 千尋:ちひろ 沙織:さおり 香織:かおり
舞:まい 瞳:ひとみ 優子:ゆうこ 由紀:ゆき 美穂:みほ 奈々:なな 結衣:ゆい 陽菜:ひな さくら:さくら 葵:あおい
美紀:みき 理恵:りえ 真理子:まりこ 加奈子:かなこ 友美:ともみ 亜希子:あきこ 綾香:あやか 遥:はるか 彩香:あやか 菜々子:ななこ
紀子:のりこ 典子:のりこ 和子:かずこ 純子:じゅんこ 美香:みか 美奈子:みなこ 瑞穂:みずほ 春香:はるか 明日香:あすか 里奈:りな
詩織:しおり 楓:かえで 凛:りん 芽衣:めい 茜:あかね 梓:あずさ 朋子:ともこ 恵美:えみ 由香:ゆか 美和:みわ
真紀:まき 悦子:えつこ 雅子:まさこ 紗希:さき 千秋:ちあき 琴音:ことね 美由紀:みゆき 佳奈:かな 千夏:ちなつ 麻美:あさみ
絵美:えみ 聡子:さとこ 順子:じゅんこ 美樹:みき
"""
# composed given names: suffix -> prefixes; every combination listed is an existing name read as the plain concatenation
MALE_COMPOSE = {
    "介:すけ": "大:だい 俊:しゅん 圭:けい 祐:ゆう 健:けん 洋:よう 康:こう 浩:こう 亮:りょう 雄:ゆう 恭:きょう 啓:けい 英:えい "
              "悠:ゆう 真:しん 慎:しん 陽:よう 龍:りゅう 駿:しゅん 晃:こう 裕:ゆう 優:ゆう 純:じゅん 敬:けい 秀:しゅう 栄:えい",
    "輔:すけ": "大:だい 圭:けい 祐:ゆう 康:こう 亮:りょう 啓:けい 洋:よう 俊:しゅん 耕:こう 優:ゆう 悠:ゆう 涼:りょう",
    "也:や": "拓:たく 和:かず 達:たつ 哲:てつ 智:とも 直:なお 克:かつ 信:しん 慎:しん 雅:まさ 卓:たく 竜:たつ 友:とも "
            "純:じゅん 紘:ひろ 裕:ひろ 博:ひろ 秀:ひで 琢:たく 健:けん 翔:しょう 勝:かつ 一:かず",
    "太:た": "健:けん 翔:しょう 雄:ゆう 裕:ゆう 亮:りょう 良:りょう 将:しょう 康:こう 優:ゆう 颯:そう 陽:よう 啓:けい "
            "慶:けい 悠:ゆう 祐:ゆう 航:こう 涼:りょう 蒼:そう 奏:そう 耕:こう 幸:こう 晃:こう 勇:ゆう 壮:そう",
    "平:へい": "洋:よう 翔:しょう 修:しゅう 恭:きょう 航:こう 康:こう 昌:しょう 耕:こう 祥:しょう 周:しゅう 遼:りょう "
              "亮:りょう 良:りょう 祐:ゆう 雄:ゆう 公:こう 浩:こう 晃:こう 凌:りょう",
    "樹:き": "大:だい 直:なお 正:まさ 一:かず 和:かず 秀:ひで 英:ひで 光:みつ 友:とも 裕:ゆう 勇:ゆう 智:とも 春:はる "
            "元:もと 弘:ひろ 瑞:みず 悠:ゆう 優:ゆう 広:ひろ 幸:こう 晃:こう 航:こう 茂:しげ 俊:とし 真:まさ 雅:まさ 佑:ゆう",
    "人:と": "雅:まさ 直:なお 正:まさ 隼:はや 優:ゆう 悠:ゆう 陽:はる 海:かい 和:かず 秀:ひで 義:よし 拓:たく 健:けん "
            "久:ひさ 政:まさ 真:まさ 春:はる 岳:がく",
    "斗:と": "悠:ゆう 陽:はる 海:かい 優:ゆう 拓:たく 健:けん 勇:ゆう 隼:はや 春:はる 晴:はる 遥:はる 湊:みな 岳:がく 快:かい",
    "彦:ひこ": "和:かず 昭:あき 克:かつ 信:のぶ 雅:まさ 晴:はる 俊:とし 敏:とし 忠:ただ 正:まさ 明:あき 政:まさ 秀:ひで "
              "文:ふみ 邦:くに 英:ひで 輝:てる 光:みつ 智:とも 友:とも 義:よし 芳:よし 治:はる 達:たつ",
    "之:ゆき": "博:ひろ 隆:たか 康:やす 浩:ひろ 裕:ひろ 正:まさ 雅:まさ 和:かず 英:ひで 秀:ひで 俊:とし 敏:とし 智:とも "
              "義:よし 孝:たか 貴:たか 知:とも 範:のり 紀:のり 直:なお 茂:しげ 弘:ひろ 宏:ひろ 尚:なお 信:のぶ 昌:まさ "
              "泰:やす 靖:やす 篤:あつ 忠:ただ 重:しげ 典:のり",
    "一:いち": "健:けん 雄:ゆう 浩:こう 誠:せい 真:しん 純:じゅん 洋:よう 修:しゅう 俊:しゅん 昌:しょう 正:しょう 康:こう "
              "英:えい 啓:けい 賢:けん 祐:ゆう 亮:りょう 晃:こう 栄:えい 伸:しん 慎:しん 裕:ゆう 宗:そう 孝:こう 幸:こう "
              "公:こう 恵:けい 圭:けい 耕:こう 良:りょう 隆:りゅう",
    "二:じ": "健:けん 浩:こう 賢:けん 誠:せい 英:えい 修:しゅう 康:こう 祐:ゆう 雄:ゆう 啓:けい 正:しょう 栄:えい 孝:こう "
            "幸:こう 耕:こう 恵:けい 圭:けい 晃:こう 龍:りゅう 隆:りゅう 洋:よう 慎:しん 真:しん 伸:しん 秀:しゅう 宗:そう "
            "良:りょう 亮:りょう",
    "郎:ろう": "次:じ 三:さぶ 四:し 五:ご 慎太:しんた 孝太:こうた 幸太:こうた 雄一:ゆういち 健一:けんいち 誠一:せいいち "
              "浩一:こういち 康一:こういち 祐一:ゆういち 真一:しんいち 宗一:そういち 龍太:りゅうた 慎一:しんいち "
              "俊一:しゅんいち 栄一:えいいち 英一:えいいち 賢一:けんいち 晃一:こういち 林太:りんた 光太:こうた "
              "恭一:きょういち 圭一:けいいち 啓一:けいいち 源太:げんた 周一:しゅういち 洋一:よういち 潤一:じゅんいち "
              "純一:じゅんいち 哲:てつ 史:し 士:し 吾:ご 治:じ 二:じ 康太:こうた",
    "男:お": "義:よし 和:かず 秀:ひで 幸:ゆき 信:のぶ 正:まさ 一:かず 敏:とし 輝:てる 勝:かつ 光:みつ 政:まさ 昭:あき "
            "達:たつ 邦:くに 則:のり 久:ひさ 康:やす 英:ひで 武:たけ 哲:てつ 博:ひろ 俊:とし 忠:ただ 孝:たか 徳:のり "
            "静:しず 茂:しげ 清:きよ 利:とし 末:すえ 春:はる 国:くに 時:とき 道:みち 富:とみ 松:まつ",
    "弘:ひろ": "康:やす 正:まさ 和:かず 英:ひで 俊:とし 義:よし 忠:ただ 知:とも 智:とも 克:かつ 雅:まさ 昌:まさ 光:みつ "
              "秀:ひで 信:のぶ 孝:たか 隆:たか 貴:たか 敏:とし 勝:かつ 直:なお 尚:なお 泰:やす 靖:やす 幸:ゆき 政:まさ",
    "行:ゆき": "敏:とし 博:ひろ 正:まさ 和:かず 英:ひで 秀:ひで 義:よし 康:やす 雅:まさ 知:とも 直:なお 貴:たか 孝:たか "
              "隆:たか 俊:とし 重:しげ 宏:ひろ 浩:ひろ 裕:ひろ 昌:まさ 範:のり 信:のぶ 智:とも 芳:よし 政:まさ 尚:なお",
    "明:あき": "和:かず 正:まさ 秀:ひで 英:ひで 俊:とし 義:よし 孝:たか 隆:たか 忠:ただ 光:みつ 利:とし 弘:ひろ 浩:ひろ "
              "智:とも 知:とも 貴:たか 雅:まさ 昌:まさ 直:なお 尚:なお 克:かつ 勝:かつ 武:たけ 輝:てる 信:のぶ 典:のり "
              "則:のり 重:しげ 久:ひさ 康:やす 泰:やす 幸:ゆき 敏:とし 良:よし 芳:よし 清:きよ",
    "史:し": "隆:たか 篤:あつ 淳:あつ 剛:つよ 健:たけ 敦:あつ 仁:ひと 浩:ひろ 博:ひろ 貴:たか 聡:さと 正:まさ 雅:まさ "
            "泰:やす 智:さと 孝:たか 崇:たか 尚:ひさ 寛:ひろ 弘:ひろ 厚:あつ 康:やす 靖:やす",
}
FEMALE_COMPOSE = {
    "子:こ": "陽:よう 恵:けい 京:きょう 洋:よう 幸:さち 智:とも 裕:ゆう 優:ゆう 紀:のり 典:のり 和:かず 純:じゅん 順:じゅん "
            "朋:とも 悦:えつ 雅:まさ 聡:さと 良:よし 明:あき 晶:あき 直:なお 尚:なお 春:はる 晴:はる 夏:なつ 秋:あき "
            "桂:けい 敬:けい 弘:ひろ 寛:ひろ 節:せつ 玲:れい 礼:れい 理:り 英:えい 文:ふみ 章:あき 久美:くみ 由美:ゆみ "
            "亜希:あき 由紀:ゆき 真理:まり 加奈:かな 奈々:なな 美奈:みな 由香:ゆか 美智:みち 佐和:さわ 多恵:たえ 千恵:ちえ "
            "貴美:きみ 喜美:きみ 真由:まゆ 美和:みわ 佐知:さち 由里:ゆり 千代:ちよ 美代:みよ 真紀:まき 静:しず 淑:よし "
            "昌:まさ 信:のぶ 清:きよ 律:りつ 靖:やす 泰:やす 康:やす 雪:ゆき 澄:すみ 綾:あや 彩:あや 美佐:みさ 亜紀:あき "
            "菜々:なな 真知:まち 友:とも 知:とも 美恵:みえ 絵里:えり 恵美:えみ 奈緒:なお 沙也:さや 公:きみ 君:きみ 梨:り",
    "美:み": "明:あけ 直:なお 友:とも 恵:え 真由:まゆ 奈:な 朋:とも 智:とも 成:なる 麻:あさ 絵:え 久:く 由:ゆ 亜:あ "
            "真:ま 裕:ひろ 宏:ひろ 博:ひろ 愛:まな 里:さと 聡:さと 和:かず 尚:なお 夏:なつ 歩:あゆ 留:る 有:ゆ 佳:よし "
            "清:きよ 仁:ひと 七:なな 雅:まさ 晴:はる 春:はる 育:いく 郁:いく 勝:かつ",
    "香:か": "美:み 由:ゆ 彩:あや 綾:あや 春:はる 明日:あす 千:ち 里:り 静:しず 桃:もも 梨:り 優:ゆう 萌:もえ 文:ふみ "
            "晴:はる 鈴:すず 風:ふう 結:ゆい 遥:はる",
    "奈:な": "里:り 佳:か 加:か 真:ま 玲:れい 優:ゆう 陽:ひ 比:ひ 美:み 春:はる 莉:り 瀬:せ 伶:れい 怜:れい 彩:あや "
            "絢:あや 杏:あん 由:ゆ 晴:はる 世:せ",
    "恵:え": "千:ち 理:り 多:た 幸:さち 知:ち 和:かず 春:はる 友:とも 芳:よし 美:み 澄:すみ 清:きよ 文:ふみ 利:り "
            "梨:り 里:り 弘:ひろ 敏:とし 静:しず",
    "穂:ほ": "美:み 瑞:みず 志:し 果:か 菜:な 奈:な 香:か 真:ま 里:り 千:ち 佳:か 実:み",
    "花:か": "彩:あや 桃:もも 春:はる 千:ち 結:ゆい 一:いち 優:ゆう 愛:あい 萌:もえ 風:ふう 明日:あす 梨:り 柚:ゆず "
            "晴:はる 遥:はる 由:ゆ 美:み",
    "菜:な": "陽:ひ 若:わか 春:はる 優:ゆう 里:り 玲:れい 佳:か 彩:あや 杏:あん 真:ま 由:ゆ 結:ゆい 莉:り 晴:はる",
    "衣:い": "結:ゆ 麻:ま 芽:め 真:ま 由:ゆ 亜:あ 優:ゆ 舞:ま",
    "紀:き": "由:ゆ 真:ま 亜:あ 早:さ 美:み 有:ゆ 沙:さ 佐:さ 麻:ま",
    "希:き": "亜:あ 真:ま 早:さ 美:み 沙:さ 紗:さ 由:ゆ 瑞:みず 光:みつ 麻:ま 有:ゆ 咲:さ 夏:なつ 優:ゆう",
    "里:り": "絵:え 恵:え 由:ゆ 真:ま 樹:じゅ 茉:ま 万:ま 麻:ま 愛:あい 優:ゆう 杏:あん",
    "佳:か": "由:ゆ 美:み 千:ち 彩:あや 里:り 明日:あす 綾:あや 優:ゆう",
}
EN_LAST = ("Smith:スミス Johnson:ジョンソン Brown:ブラウン Miller:ミラー Davis:デイビス Wilson:ウィルソン Taylor:テイラー "
           "Anderson:アンダーソン Thomas:トーマス Moore:ムーア Martin:マーティン Lee:リー Clark:クラーク Lewis:ルイス "
           "Walker:ウォーカー Young:ヤング White:ホワイト Harris:ハリス Kim:キム Chen:チェン Wang:ワン Garcia:ガルシア "
           "Nguyen:グエン Jones:ジョーンズ Evans:エヴァンス Roberts:ロバーツ Turner:ターナー Parker:パーカー Collins:コリンズ "
           "Stewart:スチュワート Morris:モリス Murphy:マーフィー Cook:クック Rogers:ロジャース Cooper:クーパー Bailey:ベイリー "
           "Bell:ベル Ward:ウォード Hughes:ヒューズ Price:プライス Bennett:ベネット Wood:ウッド Gray:グレイ Fischer:フィッシャー "
           "Schmidt:シュミット Muller:ミュラー Dubois:デュボア Rossi:ロッシ Park:パク Liu:リウ Zhang:チャン")
EN_FIRST = ("John:ジョン Michael:マイケル David:デイビッド James:ジェームズ Robert:ロバート Daniel:ダニエル Mark:マーク "
            "Paul:ポール Chris:クリス Kevin:ケビン Brian:ブライアン Emily:エミリー Sarah:サラ Jennifer:ジェニファー "
            "Jessica:ジェシカ Lisa:リサ Anna:アナ Laura:ローラ Emma:エマ Olivia:オリビア Rachel:レイチェル "
            "Andrew:アンドリュー Steven:スティーブン Matthew:マシュー Thomas:トーマス Richard:リチャード Peter:ピーター "
            "Ryan:ライアン Eric:エリック Jason:ジェイソン Simon:サイモン Alex:アレックス Tom:トム Ben:ベン Sophie:ソフィー "
            "Kate:ケイト Julia:ジュリア Maria:マリア Hannah:ハンナ Grace:グレース Claire:クレア Nicole:ニコール Amy:エイミー")


def _parse(block):
    return [tuple(tok.split(":")) for tok in block.split()]


def _compose(spec):
    out = []
    for suf, prefs in spec.items():
        sk, sr = suf.split(":")
        for pk, pr in _parse(prefs):
            out.append((pk + sk, pr + sr))
    return out


def _dedupe(names):
    seen, out = set(), []
    for n in names:
        if n[0] not in seen:
            seen.add(n[0])
            out.append(n)
    return out


# Look-alike kanji (OCR / IME slips), used for the ~3% typo duplicates.
TYPO = {
    "藤": "籐滕", "斎": "斉齋", "斉": "斎", "辺": "邊邉", "沢": "澤択", "島": "嶋鳥", "崎": "﨑埼碕", "高": "髙",
    "浜": "濱兵", "広": "廣庄", "富": "冨", "桜": "櫻", "関": "關閑", "恵": "惠", "真": "眞直", "太": "大犬",
    "大": "太犬", "田": "由甲", "木": "本未", "本": "木末", "村": "材付", "中": "仲", "口": "ロ", "二": "ニ",
    "工": "エ", "力": "カ", "八": "ハ", "子": "孑了", "井": "丼", "野": "埜", "原": "源厚", "川": "州",
    "山": "出", "谷": "合", "健": "建鍵", "裕": "祐格", "祐": "裕佑", "輔": "補甫", "隆": "陸降", "博": "搏",
    "千": "干", "土": "士", "美": "義実", "幸": "辛", "明": "朋", "朋": "明", "郎": "朗部", "一": "ー",
    "之": "乃", "也": "他地", "介": "分", "秀": "季委", "和": "知", "智": "知", "達": "遠逢", "徹": "撤轍",
    "修": "脩條", "浩": "活皓", "直": "真値", "洋": "羊祥", "紀": "記絵", "純": "鈍", "奈": "茶奏", "菜": "莱采",
    "香": "杏音", "綾": "陵凌", "亜": "唖", "穂": "徳", "瑞": "端", "遥": "遙", "陽": "揚", "翔": "祥",
    "拓": "柘托", "聡": "総", "誠": "城", "清": "晴靖", "茂": "戊成", "進": "准推", "昭": "照招", "孝": "考教",
    "剛": "岡鋼", "学": "字覚", "亮": "克", "樹": "構橋", "斗": "升", "蓮": "連漣", "悠": "修", "陸": "睦隆",
    "航": "抗杭", "光": "先晃", "匠": "近", "龍": "竜瀧", "竜": "龍", "佐": "左佑", "鈴": "鉛玲", "橋": "矯僑",
    "伊": "尹", "渡": "度", "小": "少", "林": "材休", "加": "賀如", "吉": "告古", "松": "杉", "杉": "松彬",
    "池": "地他", "石": "右岩", "岡": "罔", "森": "杰", "阿": "何河", "部": "郎", "後": "役", "近": "斤",
    "遠": "違達", "坂": "阪板", "福": "副富", "西": "酉", "金": "全釜", "竹": "笹", "内": "肉", "上": "土",
    "宮": "営", "横": "黄", "安": "案", "丸": "九凡", "新": "親", "河": "何阿", "武": "式", "菅": "管官",
    "久": "入", "保": "呆", "古": "吉", "水": "氷永", "永": "氷水", "桑": "柔", "堀": "掘", "辻": "込",
    "東": "束", "服": "報", "平": "干", "荒": "芳", "熊": "態", "望": "忘", "星": "皇", "尾": "屋",
    "黒": "墨", "徳": "穂", "須": "順", "奥": "澳", "北": "比", "成": "茂", "浅": "残", "菊": "鞠",
    "市": "巾", "樋": "桶", "秋": "秒", "篠": "條", "白": "自", "堤": "提", "三": "王", "宅": "宇",
    "宇": "宅", "馬": "駒", "場": "湯", "矢": "失", "早": "草", "岩": "石", "前": "剪", "長": "張",
    "柴": "紫", "酒": "洒", "今": "令", "増": "憎", "葉": "菓", "雄": "雌", "康": "庸", "雅": "稚",
    "勇": "湧", "義": "儀", "敏": "繁", "昌": "冒", "賢": "堅", "良": "艮", "信": "言", "恭": "泰",
    "克": "亮", "将": "持", "匡": "匠", "淳": "惇", "圭": "佳", "豊": "農", "稔": "捻", "清": "晴",
    "京": "亰", "洋": "祥", "幸": "辛", "久": "入", "由": "田", "舞": "無", "瞳": "憧", "結": "給",
    "衣": "依", "葵": "癸", "理": "里", "友": "反", "綾": "緩", "遥": "遙", "典": "曲", "里": "理",
    "詩": "時", "楓": "風", "凛": "凜", "茜": "西", "梓": "椊", "悦": "税", "紗": "沙", "琴": "瑟",
    "佳": "住", "夏": "憂", "麻": "摩", "絵": "給", "順": "須",
}

# ----------------------------------------------------------------------------------------------
# Kana -> Hepburn romaji (own implementation)
# ----------------------------------------------------------------------------------------------
_ROWS = {
    "": "あいうえお", "k": "かきくけこ", "g": "がぎぐげご", "s": "さしすせそ", "z": "ざじずぜぞ", "t": "たちつてと",
    "d": "だぢづでど", "n": "なにぬねの", "h": "はひふへほ", "b": "ばびぶべぼ", "p": "ぱぴぷぺぽ", "m": "まみむめも",
    "r": "らりるれろ",
}
BASE = {}
for _c, _kana in _ROWS.items():
    for _v, _k in zip("aiueo", _kana):
        BASE[_k] = _c + _v
BASE.update({"し": "shi", "ち": "chi", "つ": "tsu", "ふ": "fu", "じ": "ji", "ぢ": "ji", "づ": "zu",
             "や": "ya", "ゆ": "yu", "よ": "yo", "わ": "wa", "を": "o", "ん": "n", "っ": "", "ゐ": "i", "ゑ": "e"})
YOON_STEM = {"き": "ky", "ぎ": "gy", "に": "ny", "ひ": "hy", "び": "by", "ぴ": "py", "み": "my", "り": "ry",
             "し": "sh", "じ": "j", "ち": "ch", "ぢ": "j"}
SMALL = {"ゃ": "a", "ゅ": "u", "ょ": "o"}


# readings whose う starts a new word (井上 = い+のうえ, 松浦 = まつ+うら): never shortened
NO_LONG = {"いのうえ": "inoue", "まつうら": "matsuura"}


def hepburn(h, style="passport"):
    """style: passport (さとう->sato), wapuro (satou), oh (satoh / ohno)."""
    if h in NO_LONG:
        return NO_LONG[h]
    syl = []
    i = 0
    while i < len(h):
        c = h[i]
        if i + 1 < len(h) and h[i + 1] in SMALL and c in YOON_STEM:
            syl.append((YOON_STEM[c] + SMALL[h[i + 1]], h[i:i + 2]))
            i += 2
        else:
            syl.append((BASE[c], c))
            i += 1
    out = []
    i = 0
    double = False
    while i < len(syl):
        r, k = syl[i]
        if k == "っ":
            double = True
            i += 1
            continue
        if double:
            r = ("t" + r) if r.startswith("ch") else r[0] + r
            double = False
        if style != "wapuro" and i + 1 < len(syl) and r[-1] in "ou":
            nk = syl[i + 1][1]
            if (r[-1] == "o" and nk in ("う", "お")) or (r[-1] == "u" and nk == "う"):
                if style == "oh" and r[-1] == "o":
                    nxt = syl[i + 2][0] if i + 2 < len(syl) else ""
                    if not nxt.startswith("h"):
                        r += "h"
                out.append(r)
                i += 2
                continue
        out.append(r)
        i += 1
    return "".join(out)


def kata(h):
    return jaconv.hira2kata(h)


def hankata(s):
    return jaconv.z2h(s, kana=True, ascii=False, digit=False)


def zen(s):
    """ASCII letters/digits/symbols to full width (spaces become U+3000)."""
    return jaconv.h2z(s, kana=False, ascii=True, digit=True)


# ----------------------------------------------------------------------------------------------
# Companies
# ----------------------------------------------------------------------------------------------
KANJI_PREFIX = _parse("""
東都:とうと 日本:にほん 大和:やまと 富士:ふじ 三光:さんこう 北斗:ほくと 中央:ちゅうおう 関東:かんとう 東洋:とうよう
太平:たいへい 日進:にっしん 明和:めいわ 昭栄:しょうえい 東邦:とうほう 大成:たいせい 協和:きょうわ 千代田:ちよだ
丸和:まるわ 旭:あさひ 光洋:こうよう 平和:へいわ 新光:しんこう 朝日:あさひ 共栄:きょうえい 誠和:せいわ 山陽:さんよう
北陸:ほくりく 九州:きゅうしゅう 瑞穂:みずほ 青葉:あおば 若葉:わかば 白鳥:しらとり 菱和:りょうわ 双葉:ふたば
高砂:たかさご 松栄:しょうえい 東海:とうかい 近畿:きんき 湘南:しょうなん 武蔵:むさし 常盤:ときわ 日東:にっとう
中日:ちゅうにち 西日本:にしにほん 東日本:ひがしにほん 北辰:ほくしん 大同:だいどう 三和:さんわ 弘和:こうわ 栄光:えいこう
""")
KATA_PREFIX = [tuple(x.split(":")) for x in (
    "サクラ:sakura アオバ:aoba ミライ:mirai ヒカリ:hikari ソレイユ:soleil アルファ:alpha ネクスト:next "
    "グローバル:global ユニオン:union スマート:smart ブルー:blue グリーン:green フューチャー:future オーシャン:ocean "
    "スカイ:sky クレスト:crest ノヴァ:nova アクシス:axis ベスト:best プライム:prime リンク:link ゼニス:zenith "
    "コスモ:cosmo ユニティ:unity").split()]
KANJI_SUFFIX = _parse("""
精機:せいき 工業:こうぎょう 商事:しょうじ 電機:でんき 物産:ぶっさん 建設:けんせつ 化学:かがく 製作所:せいさくしょ
産業:さんぎょう 運輸:うんゆ 印刷:いんさつ 食品:しょくひん 薬品:やくひん 技研:ぎけん 電子:でんし 興業:こうぎょう
通商:つうしょう 商会:しょうかい 製薬:せいやく 鉄工:てっこう 不動産:ふどうさん 開発:かいはつ 情報:じょうほう
通信:つうしん 計器:けいき
""")
KATA_SUFFIX = [tuple(x.split(":")) for x in (
    "システム:system ソリューションズ:solutions テクノロジー:technology ネットワークス:networks デザイン:design "
    "コンサルティング:consulting ロジスティクス:logistics エンジニアリング:engineering メディア:media ラボ:lab "
    "ホールディングス:holdings サービス:service マーケティング:marketing テック:tech パートナーズ:partners "
    "ファーマ:pharma インダストリー:industry データ:data").split()]

LEGAL = {  # name, abbrev char, enclosed char, bank-kana, english options
    "株式会社": ("株", "㈱", "カ", ["Co., Ltd.", "Co.,Ltd.", "Inc.", "Corporation", "K.K."]),
    "有限会社": ("有", "㈲", "ユ", ["Ltd.", "Co., Ltd.", "Y.K."]),
    "合同会社": ("同", None, "ド", ["LLC", "G.K."]),
}

# prefecture, weight, [(city, area code, postal prefix, [towns])]
GEO = [
    ("東京都", 0.45, [
        ("千代田区", "03", "10", ["丸の内", "大手町", "神田小川町", "有楽町", "麹町"]),
        ("中央区", "03", "10", ["日本橋", "銀座", "八丁堀", "京橋", "新川"]),
        ("港区", "03", "10", ["芝", "虎ノ門", "赤坂", "浜松町", "港南"]),
        ("新宿区", "03", "16", ["西新宿", "新宿", "四谷"]),
        ("渋谷区", "03", "15", ["渋谷", "恵比寿", "道玄坂", "代々木"]),
        ("品川区", "03", "14", ["大崎", "東五反田", "西五反田"]),
        ("豊島区", "03", "17", ["東池袋", "南池袋"]),
        ("台東区", "03", "11", ["上野", "浅草橋", "台東"]),
        ("江東区", "03", "13", ["豊洲", "東陽", "有明"])]),
    ("大阪府", 0.12, [
        ("大阪市北区", "06", "53", ["梅田", "曽根崎", "中之島"]),
        ("大阪市中央区", "06", "54", ["本町", "北浜", "今橋"]),
        ("大阪市淀川区", "06", "53", ["西中島", "宮原"])]),
    ("愛知県", 0.08, [
        ("名古屋市中区", "052", "46", ["栄", "錦", "丸の内"]),
        ("名古屋市中村区", "052", "45", ["名駅", "椿町"])]),
    ("神奈川県", 0.08, [
        ("横浜市西区", "045", "22", ["みなとみらい", "高島"]),
        ("横浜市中区", "045", "23", ["山下町", "本町"]),
        ("川崎市川崎区", "044", "21", ["駅前本町", "砂子"])]),
    ("福岡県", 0.05, [
        ("福岡市博多区", "092", "81", ["博多駅前", "博多駅東"]),
        ("福岡市中央区", "092", "81", ["天神", "大名"])]),
    ("北海道", 0.04, [("札幌市中央区", "011", "06", ["北一条西", "大通西", "南一条西"])]),
    ("宮城県", 0.03, [("仙台市青葉区", "022", "98", ["中央", "一番町", "本町"])]),
    ("広島県", 0.03, [("広島市中区", "082", "73", ["紙屋町", "八丁堀", "基町"])]),
    ("京都府", 0.03, [("京都市下京区", "075", "60", ["東塩小路町", "中堂寺南町"])]),
    ("兵庫県", 0.03, [("神戸市中央区", "078", "65", ["三宮町", "元町通", "港島"])]),
    ("埼玉県", 0.03, [("さいたま市大宮区", "048", "33", ["桜木町", "宮町"])]),
    ("千葉県", 0.02, [("千葉市中央区", "043", "26", ["富士見", "中央"])]),
    ("静岡県", 0.01, [("静岡市葵区", "054", "42", ["紺屋町", "追手町"])]),
]
BUILDING_WORDS = ["中央", "セントラル", "グランド", "第一", "第二", "サン", "ニュー", "パーク", "リバー", "スカイ", "フロント"]

DEPTS = ["営業部", "マーケティング部", "情報システム部", "総務部", "人事部", "経理部", "経営企画部", "開発部",
         "製造部", "購買部", "広報部", "カスタマーサクセス部", "DX推進室", "営業企画部", "第一営業部"]
POSITIONS = ["部長", "課長", "係長", "主任", "マネージャー", "リーダー", "担当", "", "代表取締役", "取締役", "室長"]
POS_W = [10, 16, 8, 12, 10, 6, 14, 12, 3, 3, 2]
PROMOTE = {"担当": "主任", "主任": "係長", "係長": "課長", "課長": "部長", "部長": "本部長", "マネージャー": "シニアマネージャー",
           "リーダー": "マネージャー", "": "主任", "室長": "部長", "取締役": "常務取締役", "代表取締役": "代表取締役社長"}
LEAD_SOURCES = ["Web", "展示会", "名刺", "購入リスト", "手入力"]
LS_W = [35, 20, 22, 10, 13]
FREEMAIL = ["gmail.com", "yahoo.co.jp", "icloud.com", "outlook.jp", "hotmail.co.jp", "docomo.ne.jp"]
FREEMAIL_W = [45, 30, 8, 7, 5, 5]
EMAIL_PATTERNS = ["first.last", "f.last", "last", "last_first", "flast", "last.first"]
EMAIL_PAT_W = [35, 15, 12, 12, 14, 12]

FIELDS = ["Id", "FirstName", "LastName", "Company", "Title", "Email", "Phone", "MobilePhone", "Street", "City",
          "State", "PostalCode", "LeadSource", "CreatedDate"]


class Gen:
    def __init__(self, seed):
        self.R = random.Random(seed)
        self.np = np.random.default_rng(seed)
        # surnames: top 10 with real per-mille shares, then a power-law tail so the list stands for the population
        top = [(k, r, float(w)) for k, r, w in _parse(SURNAMES_TOP)]
        tail = _dedupe([x for x in _parse(SURNAMES_TAIL) + _parse(SURNAMES_MORE) + _compose(SURNAME_COMPOSE)
                        if x[0] not in {t[0] for t in top}])
        sur = top + [(k, r, 7.0 * (rank / 10.0) ** -0.45) for rank, (k, r) in enumerate(tail, start=11)]
        self.surnames = sur
        self.sur_cum = self._cum([w for _, _, w in sur])
        # given names: hand list (common first) then composed names; fairly flat like real given names
        self.male = _dedupe(_parse(MALE) + _compose(MALE_COMPOSE))
        self.female = _dedupe(_parse(FEMALE) + _compose(FEMALE_COMPOSE))
        self.male_cum = self._cum([1.0 / (i + 1) ** 0.3 for i in range(len(self.male))])
        self.female_cum = self._cum([1.0 / (i + 1) ** 0.3 for i in range(len(self.female))])
        self.en_last = _parse(EN_LAST)
        self.en_first = _parse(EN_FIRST)
        assert len(self.surnames) >= 150 and len(self.male) + len(self.female) >= 150
        self.used_phones = set()
        self.used_mobiles = set()
        self.email_owner = {}  # normalized email -> person id
        self.domains = set()
        self.town_postal = {}

    @staticmethod
    def _cum(ws):
        out, s = [], 0.0
        for w in ws:
            s += w
            out.append(s)
        return out

    def pick(self, seq, cum):
        return self.R.choices(seq, cum_weights=cum, k=1)[0]

    def wpick(self, seq, w):
        return self.R.choices(seq, weights=w, k=1)[0]

    # ---------------------------------------------------------------- phones
    def new_number(self, area, exch=None):
        R = self.R
        while True:
            if len(area) == 2:
                b = exch or str(R.choice([3, 5, 6])) + "%03d" % R.randrange(1000)
            else:
                b = exch or str(R.randint(2, 9)) + "%02d" % R.randrange(100)
            c = "%04d" % R.randrange(10000)
            t = (area, b, c)
            if t not in self.used_phones:
                self.used_phones.add(t)
                return t

    def new_mobile(self):
        R = self.R
        while True:
            t = (R.choice(["090", "090", "080", "080", "070"]), "%04d" % R.randrange(10000), "%04d" % R.randrange(10000))
            if t not in self.used_mobiles:
                self.used_mobiles.add(t)
                return t

    # ---------------------------------------------------------------- companies
    def make_companies(self, n):
        R = self.R
        comps, cores = [], set()
        pref_w = [g[1] for g in GEO]
        tries = 0
        while len(comps) < n:
            tries += 1
            r = R.random()
            p = R.choice(KANJI_PREFIX) if R.random() < 0.68 else R.choice(KATA_PREFIX)
            s = R.choice(KANJI_SUFFIX) if R.random() < 0.55 else R.choice(KATA_SUFFIX)
            parts = [p, s]
            if tries > n * 3:  # exhausted two-part names: add a middle word
                parts = [p, R.choice(KANJI_SUFFIX), s]
            words, kana_parts, tokens = [], [], []
            for w, rd in parts:
                words.append(w)
                if re.match(r"^[ァ-ヴー]+$", w):  # katakana word with explicit english token
                    kana_parts.append(jaconv.kata2hira(w))
                    tokens.append(rd)
                else:
                    kana_parts.append(rd)
                    tokens.append(hepburn(rd))
            core = "".join(words)
            acronym = False
            if r < 0.07:  # ASCII acronym core, e.g. TSKシステム
                acr = "".join(t[0] for t in tokens).upper() + R.choice(["", "K", "S", "C"])
                core = acr + (parts[-1][0] if parts[-1] in KATA_SUFFIX else R.choice(KATA_SUFFIX)[0])
                suffix_w = core[len(acr):]
                suffix_tok = dict(KATA_SUFFIX)[suffix_w]
                tokens = [acr.lower(), suffix_tok]
                kana_parts = [jaconv.kata2hira("".join(ACR_KANA.get(ch, ch) for ch in acr)), jaconv.kata2hira(suffix_w)]
                acronym = True
            if core in cores:
                continue
            cores.add(core)
            legal = self.wpick(list(LEGAL), [85, 9, 6])
            front = R.random() < 0.55
            # domain
            joiner = R.choice(["", "", "-"])
            dom_base = joiner.join(tokens)
            tld = self.wpick([".co.jp", ".jp", ".com"], [85, 8, 7])
            dom = dom_base + tld
            k = 2
            while dom in self.domains:
                dom = "%s%s%s" % (dom_base, R.choice(["-grp", "-net", "-corp", str(k)]), tld)
                k += 1
            self.domains.add(dom)
            pref, _, cities = self.wpick(GEO, pref_w)
            city, area, pp, towns = R.choice(cities)
            town = R.choice(towns)
            key = (pref, city, town)
            if key not in self.town_postal:
                self.town_postal[key] = "%s%d-%04d" % (pp, R.randrange(10), R.randrange(10000))
            sw = self.new_number(area)
            eng_words = " ".join(t.capitalize() if not acronym or i else t.upper() for i, t in enumerate(tokens))
            comp = dict(
                cid=len(comps), core=core, kana="".join(kana_parts), eng=eng_words, legal=legal, front=front,
                domain=dom, pattern=self.wpick(EMAIL_PATTERNS, EMAIL_PAT_W), pref=pref, city=city, town=town,
                postal=self.town_postal[key], blk=(R.randint(1, 6), R.randint(1, 25), R.randint(1, 30)),
                street_form=self.wpick(["chome", "hyphen", "mixed"], [45, 40, 15]),
                building=(R.choice(BUILDING_WORDS) + R.choice(["ビル", "ビルディング", "タワー"]), R.randint(2, 25))
                if R.random() < 0.8 else None,
                area=area, switch=sw, eng_suffix=R.choice(LEGAL[legal][3]), emails=set(), names=set(), people=[],
            )
            comps.append(comp)
        return comps

    def company_name(self, c, variant="canon"):
        R = self.R
        legal, front, core = c["legal"], c["front"], c["core"]
        abbr, encl, bank, _ = LEGAL[legal]

        def place(lf, name, fr=front, sp=""):
            return lf + sp + name if fr else name + sp + lf

        if variant == "canon":
            return place(legal, core)
        if variant == "space":
            return place(legal, core, sp=R.choice(["　", " "]))
        if variant == "paren_h":
            return place("(%s)" % abbr, core)
        if variant == "paren_z":
            return place("（%s）" % abbr, core)
        if variant == "enclosed":
            return place(encl or "(%s)" % abbr, core)
        if variant == "flip":
            return place(legal, core, fr=not front)
        if variant == "none":
            return core
        if variant == "kata":
            k = kata(c["kana"])
            return place(legal, k) if R.random() < 0.7 else (bank + "）" + k if front else k + "（" + bank)
        if variant == "kata_half":
            k = hankata(kata(c["kana"]))
            return (hankata(bank) + ")" + k) if front else (k + "(" + hankata(bank))
        if variant == "english":
            suf = c["eng_suffix"] if R.random() < 0.8 else R.choice(LEGAL[legal][3])
            s = "%s %s" % (c["eng"], suf)
            return s.upper() if R.random() < 0.25 else s
        if variant == "fullwidth":
            return zen(self.company_name(c, R.choice(["paren_h", "canon", "english"])))
        if variant == "halfwidth":
            return jaconv.z2h(self.company_name(c, R.choice(["paren_z", "canon"])), kana=True, ascii=True, digit=True)
        raise ValueError(variant)

    def street(self, c, form=None, zenkaku=False, building=True):
        a, b, d = c["blk"]
        form = form or c["street_form"]
        if form == "chome":
            s = "%s%d丁目%d番%d号" % (c["town"], a, b, d)
        elif form == "hyphen":
            s = "%s%d-%d-%d" % (c["town"], a, b, d)
        else:
            s = "%s%d丁目%d-%d" % (c["town"], a, b, d)
        if building and c["building"]:
            name, fl = c["building"]
            s += self.R.choice([" ", "　", ""]) + name + ("%dF" % fl if self.R.random() < 0.6 else "%d階" % fl)
        return zen(s) if zenkaku else s

    # ---------------------------------------------------------------- people
    def random_name(self):
        R = self.R
        if R.random() < 0.03:
            l, lk = R.choice(self.en_last)
            f, fk = R.choice(self.en_first)
            return dict(last=l, first=f, last_kana=lk, first_kana=fk, en=True)
        l, lr, _ = self.pick(self.surnames, self.sur_cum)
        if R.random() < 0.58:
            f, fr = self.pick(self.male, self.male_cum)
        else:
            f, fr = self.pick(self.female, self.female_cum)
        return dict(last=l, first=f, last_kana=lr, first_kana=fr, en=False)

    def romaji(self, p, style):
        if p["en"]:
            return p["last"], p["first"]
        return hepburn(p["last_kana"], style).capitalize(), hepburn(p["first_kana"], style).capitalize()

    def email_local(self, p, pattern):
        l, f = [x.lower() for x in self.romaji(p, p["email_style"])]
        return {"first.last": f"{f}.{l}", "f.last": f"{f[0]}.{l}", "last": l, "last_first": f"{l}_{f}",
                "flast": f"{f[0]}{l}", "last.first": f"{l}.{f}"}[pattern]

    def assign_work_email(self, p, c, prefer=None):
        order = [prefer or c["pattern"]] + [x for x in EMAIL_PATTERNS if x != (prefer or c["pattern"])]
        for pat in order:
            e = self.email_local(p, pat) + "@" + c["domain"]
            if e not in self.email_owner:
                self.email_owner[e] = p["pid"]
                return e
        base = self.email_local(p, c["pattern"])
        k = 2
        while True:
            e = "%s%d@%s" % (base, k, c["domain"])
            if e not in self.email_owner:
                self.email_owner[e] = p["pid"]
                return e
            k += 1

    def personal_email(self, p):
        if p.get("personal"):
            return p["personal"]
        R = self.R
        l, f = [x.lower() for x in self.romaji(p, R.choice(["passport", "wapuro"]))]
        while True:
            dom = self.wpick(FREEMAIL, FREEMAIL_W)
            local = R.choice([f"{f}.{l}", f"{l}{f}", f"{f}{l}{R.randint(1, 99)}", f"{l}.{f}{R.randint(60, 99)}",
                              f"{f[0]}{l}{R.randint(1000, 9999)}", f"{f}_{l}{R.randint(1, 999)}"])
            e = local + "@" + dom
            if e not in self.email_owner:
                self.email_owner[e] = p["pid"]
                p["personal"] = e
                return e

    def new_title(self):
        pos = self.wpick(POSITIONS, POS_W)
        R = self.R
        if pos in ("代表取締役", "取締役"):
            return pos
        dept = R.choice(DEPTS)
        if pos == "":
            return dept if R.random() < 0.6 else ""
        return R.choice([dept + " " + pos, dept + pos, dept + "　" + pos, pos])


ACR_KANA = {"A": "エー", "B": "ビー", "C": "シー", "D": "ディー", "E": "イー", "F": "エフ", "G": "ジー", "H": "エイチ",
            "I": "アイ", "J": "ジェー", "K": "ケー", "L": "エル", "M": "エム", "N": "エヌ", "O": "オー", "P": "ピー",
            "Q": "キュー", "R": "アール", "S": "エス", "T": "ティー", "U": "ユー", "V": "ブイ", "W": "ダブリュー",
            "X": "エックス", "Y": "ワイ", "Z": "ゼット"}


def fmt_phone(t, style, R):
    a, b, c = t
    if style == "hyphen":
        return f"{a}-{b}-{c}"
    if style == "digits":
        return a + b + c
    if style == "intl":
        return R.choice([f"+81 {a[1:]}-{b}-{c}", f"+81-{a[1:]}-{b}-{c}", f"+81{a[1:]}{b}{c}", f"+81 {a[1:]} {b} {c}"])
    if style == "paren":
        return R.choice([f"{a}({b}){c}", f"({a}){b}-{c}"])
    if style == "zen":
        dash = R.choice(["−", "－", "ー", "‐"])
        return zen(a) + dash + zen(b) + dash + zen(c)
    if style == "space":
        return f"{a} {b} {c}"
    raise ValueError(style)


def fmt_postal(p, style):
    if style == "canon":
        return p
    if style == "mark":
        return "〒" + p
    if style == "mark_sp":
        return "〒 " + p
    if style == "nohyphen":
        return p.replace("-", "")
    if style == "zen":
        return zen(p).replace("－", "−")
    raise ValueError(style)


def iso(ts):
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def random_ts(R, start, end):
    span = int((end - start).total_seconds())
    ts = start + dt.timedelta(seconds=R.randrange(span))
    # office hours (JST 9-19 = UTC 0-10), most records
    if R.random() < 0.85:
        ts = ts.replace(hour=R.randint(0, 9), minute=R.randrange(60), second=R.randrange(60))
    return ts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--truth", required=True)
    args = ap.parse_args(argv)
    t0 = time.time()
    G = Gen(args.seed)
    R = G.R
    N = args.records

    # ---------------- plan: people, companies, duplicate counts
    P_DUP = 0.30
    DUP_N, DUP_W = [1, 2, 3], [60, 28, 12]
    exp_per_person = 1 + P_DUP * sum(n * w for n, w in zip(DUP_N, DUP_W)) / sum(DUP_W)
    n_people = max(1, round(N / exp_per_person))
    n_comp = max(1, min(N // 15, n_people))
    sizes = np.clip(np.rint(G.np.lognormal(mean=np.log(6.0), sigma=1.0, size=n_comp)), 1, 60).astype(int).tolist()
    diff = n_people - sum(sizes)
    while diff != 0:  # rescale to the target number of people, keeping 1..60
        i = R.randrange(n_comp)
        if diff > 0 and sizes[i] < 60:
            sizes[i] += 1
            diff -= 1
        elif diff < 0 and sizes[i] > 1:
            sizes[i] -= 1
            diff += 1
        if diff > 0 and all(s >= 60 for s in sizes):
            break
    comps = G.make_companies(n_comp)

    # ---------------- people
    people = []
    for c, sz in zip(comps, sizes):
        for _ in range(sz):
            for _try in range(50):
                nm = G.random_name()
                if (nm["last"], nm["first"]) not in c["names"]:
                    break
            c["names"].add((nm["last"], nm["first"]))
            p = dict(pid=len(people), comp=c["cid"], **nm)
            people.append(p)
            c["people"].append(p["pid"])
    # forced namesakes (same full name at a different company)
    n_namesake = round(0.02 * len(people))
    forced_ns = 0
    for _ in range(n_namesake * 3):
        if forced_ns >= n_namesake or len(comps) < 2:
            break
        a, b = R.choice(people), R.choice(people)
        if a["comp"] == b["comp"] or a["en"] or b["en"]:
            continue
        ca = comps[a["comp"]]
        if (b["last"], b["first"]) in ca["names"] or (a["last"], a["first"]) == (b["last"], b["first"]):
            continue
        ca["names"].discard((a["last"], a["first"]))
        for k in ("last", "first", "last_kana", "first_kana"):
            a[k] = b[k]
        ca["names"].add((a["last"], a["first"]))
        forced_ns += 1
    # forced same-surname colleagues (different given name)
    big = [c for c in comps if len(c["people"]) >= 3]
    n_ss = round(0.05 * len(people))
    forced_ss = 0
    for _ in range(n_ss * 3):
        if forced_ss >= n_ss or not big:
            break
        c = R.choice(big)
        a, b = people[R.choice(c["people"])], people[R.choice(c["people"])]
        if a is b or a["en"] or b["en"] or a["last"] == b["last"] or (b["last"], a["first"]) in c["names"]:
            continue
        c["names"].discard((a["last"], a["first"]))
        a["last"], a["last_kana"] = b["last"], b["last_kana"]
        c["names"].add((a["last"], a["first"]))
        forced_ss += 1
    # per-person attributes
    for p in people:
        c = comps[p["comp"]]
        p["email_style"] = G.wpick(["passport", "wapuro", "oh"], [62, 28, 10])
        p["name_style"] = G.wpick(["passport", "wapuro", "oh"], [80, 10, 10])
        p["email"] = G.assign_work_email(p, c)
        p["mobile"] = G.new_mobile() if R.random() < 0.40 else None
        p["direct"] = G.new_number(c["area"], exch=c["switch"][1]) if (len(c["people"]) >= 4 and R.random() < 0.30) else None
        p["title"] = G.new_title()
        p["created"] = random_ts(R, dt.datetime(2019, 1, 1), dt.datetime(2025, 3, 31))

    # duplicate counts, then exact adjustment to N records
    dups = [G.wpick(DUP_N, DUP_W) if R.random() < P_DUP else 0 for _ in people]
    total = len(people) + sum(dups)
    while total > N:
        i = R.randrange(len(people))
        if dups[i] > 0:
            dups[i] -= 1
            total -= 1
        elif len(people) > N and sum(dups) == 0:
            break
    while total < N:
        i = R.randrange(len(people))
        if dups[i] < 3:
            dups[i] += 1
            total += 1

    # ---------------- records
    stats = Counter()
    records = []  # (created, seq, rec dict, entity)

    def base_record(p, c, is_dup):
        """Clean rendering of a person at a company, with per-record presence choices."""
        rec = {"LastName": p["last"], "FirstName": p["first"]}
        if is_dup:
            rec["Company"] = G.company_name(c, "canon")
        else:
            rec["Company"] = G.company_name(c, "canon" if R.random() < 0.85 else G.wpick(
                ["paren_h", "paren_z", "enclosed", "space"], [4, 3, 3, 1]))
        rec["Title"] = p["title"] if R.random() < 0.85 else ""
        rec["Email"] = p["email"] if R.random() < 0.96 else ""
        if p["direct"] and R.random() < 0.3:
            ph = p["direct"]
        else:
            ph = c["switch"]
        rec["Phone"] = fmt_phone(ph, "hyphen", R) if R.random() < 0.9 else ""
        rec["MobilePhone"] = fmt_phone(p["mobile"], "hyphen", R) if p["mobile"] and R.random() < 0.65 else ""
        if R.random() < 0.8:
            rec["Street"] = G.street(c)
            rec["City"] = c["city"]
            rec["State"] = c["pref"]
            rec["PostalCode"] = c["postal"] if R.random() < 0.92 else ""
        else:
            rec["Street"] = rec["City"] = rec["State"] = rec["PostalCode"] = ""
        rec["LeadSource"] = G.wpick(LEAD_SOURCES, LS_W)
        return rec

    def apply_name(rec, p, ops, typo):
        last, first = p["last"], p["first"]
        layout, sep = "normal", ""
        if typo:
            cand = [(i, ch) for i, ch in enumerate(last) if ch in TYPO]
            candf = [(i, ch) for i, ch in enumerate(first) if ch in TYPO]
            part = R.choice([x for x in (("l", cand), ("f", candf)) if x[1]] or [None])
            if part:
                which, lst = part
                i, ch = R.choice(lst)
                rep = R.choice(TYPO[ch])
                if which == "l":
                    last = last[:i] + rep + last[i + 1:]
                else:
                    first = first[:i] + rep + first[i + 1:]
                stats["dup_typo"] += 1
        if "name_script" in ops:
            if p["en"]:
                s = G.wpick(["kata", "kata_half", "upper"], [55, 10, 35])
            else:
                s = G.wpick(["kata", "kata_half", "hira", "romaji"], [33, 14, 15, 38])
            stats["dup_name_" + s] += 1
            if s == "kata":
                last, first = kata(p["last_kana"]), kata(p["first_kana"])
            elif s == "kata_half":
                last, first = hankata(kata(p["last_kana"])), hankata(kata(p["first_kana"]))
            elif s == "hira":
                last, first = p["last_kana"], p["first_kana"]
            elif s == "upper":
                last, first = last.upper(), first.upper()
            else:
                style = p["name_style"] if R.random() < 0.75 else R.choice(["passport", "wapuro", "oh"])
                last, first = G.romaji(p, style)
                form = G.wpick(["normal", "LAST", "western_whole", "japanese_whole", "swap", "upper_whole"],
                               [34, 16, 18, 14, 10, 8])
                if form == "LAST":
                    last = last.upper()
                elif form == "western_whole":
                    layout, sep = "whole_rev", " "
                elif form == "japanese_whole":
                    layout, sep = "whole", " "
                    if R.random() < 0.5:
                        last = last.upper()
                elif form == "swap":
                    layout = "swap"
                elif form == "upper_whole":
                    layout, sep = "whole_rev", " "
                    last, first = last.upper(), first.upper()
        if layout == "normal" and "name_swap" in ops:
            layout = "swap"
        if layout == "normal" and "name_whole" in ops:
            layout = "whole"
            sep = R.choice(["　", " ", ""]) if not re.match(r"^[A-Za-z]", last) else " "
        if layout == "normal":
            rec["LastName"], rec["FirstName"] = last, first
        elif layout == "swap":
            rec["LastName"], rec["FirstName"] = first, last
        elif layout == "whole":
            rec["LastName"], rec["FirstName"] = last + sep + first, ""
        else:
            rec["LastName"], rec["FirstName"] = first + sep + last, ""

    OPS = ["name_script", "name_swap", "name_whole", "fullwidth", "company", "phone_fmt", "phone_alt", "email",
           "postal", "address", "title", "missing"]
    OPS_W = [36, 9, 14, 9, 28, 26, 14, 26, 16, 18, 14, 14]

    def make_dup(p, c0):
        job = R.random() < 0.05
        typo = (not p["en"]) and R.random() < 0.03
        c = c0
        if job and len(comps) > 1:
            if "newjob" not in p:
                while True:
                    nc = R.choice(comps)
                    if nc["cid"] != c0["cid"] and (p["last"], p["first"]) not in nc["names"]:
                        break
                nc["names"].add((p["last"], p["first"]))
                p["newjob"] = dict(cid=nc["cid"], email=G.assign_work_email(p, nc),
                                   direct=G.new_number(nc["area"], exch=nc["switch"][1]) if R.random() < 0.3 else None,
                                   title=G.new_title())
            c = comps[p["newjob"]["cid"]]
            stats["dup_job_change"] += 1
        else:
            job = False
        rec = base_record(p, c, True)
        if job:
            nj = p["newjob"]
            rec["Email"] = nj["email"] if R.random() < 0.95 else ""
            rec["Title"] = nj["title"]
            rec["Phone"] = fmt_phone(nj["direct"] or c["switch"], "hyphen", R) if R.random() < 0.9 else ""
            if p["mobile"]:
                rec["MobilePhone"] = fmt_phone(p["mobile"], "hyphen", R) if R.random() < 0.9 else ""
        k = G.wpick([1, 2, 3, 4], [20, 35, 30, 15])
        if job:
            k = G.wpick([0, 1, 2], [40, 40, 20])
        pool = list(zip(OPS, OPS_W))
        if typo:
            pool = [x for x in pool if x[0] != "name_script"]
        if job:
            pool = [x for x in pool if x[0] not in ("company", "email", "phone_alt", "title")]
        ops = set()
        while len(ops) < k and pool:
            o = G.wpick([x[0] for x in pool], [x[1] for x in pool])
            ops.add(o)
            pool = [x for x in pool if x[0] != o]
        for o in sorted(ops):
            stats["dup_op_" + o] += 1
        apply_name(rec, p, ops, typo)
        if "company" in ops:
            v = G.wpick(["paren_h", "paren_z", "enclosed", "space", "flip", "none", "kata", "kata_half", "english",
                         "fullwidth", "halfwidth"], [12, 10, 10, 5, 5, 8, 10, 6, 14, 6, 4])
            rec["Company"] = G.company_name(c, v)
        if "phone_fmt" in ops:
            st = G.wpick(["digits", "intl", "paren", "zen", "space"], [40, 22, 10, 18, 10])
            ph = c["switch"] if not job else (p["newjob"]["direct"] or c["switch"])
            if rec["Phone"] or R.random() < 0.5:
                rec["Phone"] = fmt_phone(ph if R.random() < 0.7 or not p["direct"] or job else p["direct"], st, R)
            if rec["MobilePhone"] and R.random() < 0.5:
                rec["MobilePhone"] = fmt_phone(p["mobile"], st, R)
        if "phone_alt" in ops:
            choices = []
            if p["direct"]:
                choices.append("direct")
            if p["mobile"]:
                choices += ["mobile", "mobile_only"]
            if choices:
                ch = R.choice(choices)
                if ch == "direct":
                    rec["Phone"] = fmt_phone(p["direct"], "hyphen", R)
                elif ch == "mobile":
                    rec["Phone"] = fmt_phone(p["mobile"], "hyphen", R)
                else:
                    rec["Phone"], rec["MobilePhone"] = fmt_phone(p["mobile"], R.choice(["hyphen", "digits"]), R), ""
            else:
                rec["Phone"] = fmt_phone(c["switch"], R.choice(["digits", "intl"]), R)
        if "email" in ops:
            v = G.wpick(["upper", "capital", "tag", "freemail", "missing", "alias"], [18, 8, 14, 35, 18, 7])
            stats["dup_email_" + v] += 1
            e = p["email"]
            local, dom = e.split("@")
            if v == "upper":
                rec["Email"] = e.upper()
            elif v == "capital":
                rec["Email"] = ".".join(x.capitalize() for x in local.split(".")) + "@" + dom
            elif v == "tag":
                rec["Email"] = "%s+%s@%s" % (local, R.choice(["event", "expo2024", "web", "dm", "sf"]), dom)
            elif v == "freemail":
                rec["Email"] = G.personal_email(p)
            elif v == "missing":
                rec["Email"] = ""
            else:
                if "alias" not in p:
                    alts = [x for x in EMAIL_PATTERNS if x != c["pattern"]]
                    cand = G.email_local(p, R.choice(alts)) + "@" + dom
                    if cand not in G.email_owner:
                        G.email_owner[cand] = p["pid"]
                        p["alias"] = cand
                    else:
                        p["alias"] = G.personal_email(p)
                rec["Email"] = p["alias"]
        if "postal" in ops:
            if not rec["PostalCode"]:
                rec["PostalCode"] = c["postal"]
            rec["PostalCode"] = fmt_postal(c["postal"], G.wpick(["mark", "mark_sp", "nohyphen", "zen"], [35, 10, 40, 15]))
        if "address" in ops:
            v = G.wpick(["no_pref", "pref_in_city", "all_in_street", "form", "no_building", "zen"], [25, 15, 15, 20, 15, 10])
            stats["dup_addr_" + v] += 1
            rec["City"], rec["State"] = c["city"], c["pref"]
            if not rec["PostalCode"] and R.random() < 0.5:
                rec["PostalCode"] = c["postal"]
            if v == "no_pref":
                rec["Street"], rec["State"] = G.street(c), ""
            elif v == "pref_in_city":
                rec["Street"], rec["State"], rec["City"] = G.street(c), "", c["pref"] + c["city"]
            elif v == "all_in_street":
                rec["Street"] = (c["pref"] if R.random() < 0.6 else "") + c["city"] + G.street(c)
                rec["State"] = rec["City"] = ""
            elif v == "form":
                f = R.choice([x for x in ("chome", "hyphen", "mixed") if x != c["street_form"]])
                rec["Street"] = G.street(c, form=f)
            elif v == "no_building":
                rec["Street"] = G.street(c, building=False)
            else:
                rec["Street"] = G.street(c, zenkaku=True)
        if "title" in ops:
            t = p["title"]
            pos = next((x for x in sorted(PROMOTE, key=len, reverse=True) if x and t.endswith(x)), "")
            if pos and R.random() < 0.7:
                rec["Title"] = t[: len(t) - len(pos)] + PROMOTE[pos]
            elif R.random() < 0.5:
                rec["Title"] = G.new_title()
            else:
                rec["Title"] = ""
        if "missing" in ops:
            f = G.wpick(["Company", "Phone", "Email", "Title", "Street"], [30, 30, 25, 8, 7])
            rec[f] = ""
            if f == "Street":
                rec["City"] = rec["State"] = rec["PostalCode"] = ""
            stats["dup_missing_" + f] += 1
        if "fullwidth" in ops:
            for f in ("Phone", "MobilePhone", "PostalCode", "Street", "Company", "LastName", "FirstName", "Title"):
                if rec[f] and re.search(r"[A-Za-z0-9]", rec[f]):
                    rec[f] = zen(rec[f]) if f not in ("LastName", "FirstName") else zen(rec[f]).replace("\u3000", "　")
        if R.random() < 0.7:
            rec["LeadSource"] = R.choice([x for x in LEAD_SOURCES if x != rec["LeadSource"]])
        stats["dup_ops_total"] += len(ops)
        return rec

    END = dt.datetime(2025, 12, 31, 9, 0, 0)
    seq = 0
    for p, nd in zip(people, dups):
        c = comps[p["comp"]]
        rec = base_record(p, c, False)
        records.append((p["created"], seq, rec, p["pid"]))
        seq += 1
        orig_ts = p["created"]
        for _ in range(nd):
            rec = make_dup(p, c)
            ts = orig_ts + dt.timedelta(days=R.randint(1, 900), seconds=R.randrange(86400))
            if ts > END:  # keep within the export window without piling up on the last day
                ts = orig_ts + (END - orig_ts) * R.random()
            records.append((ts, seq, rec, p["pid"]))
            seq += 1
            stats["duplicates"] += 1

    # ---------------- ids in creation order, write
    records.sort(key=lambda x: (x[0], x[1]))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.truth)) or ".", exist_ok=True)
    rows, truth = [], []
    for n, (ts, _, rec, pid) in enumerate(records, start=1):
        obj = "00Q" if R.random() < 0.65 else "003"
        rid = "%s%012dAAA" % (obj, n)
        rec["Id"], rec["CreatedDate"] = rid, iso(ts)
        rows.append(rec)
        truth.append((rid, "E%06d" % pid))
    with open(args.out, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS, quoting=csv.QUOTE_ALL)
        w.writeheader()
        w.writerows(rows)
    with open(args.truth, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Id", "entity_id"])
        w.writerows(truth)

    # ---------------- checks and summary (re-read from disk)
    with open(args.out, encoding="utf-8", newline="") as fh:
        back = list(csv.DictReader(fh))
    with open(args.truth, encoding="utf-8", newline="") as fh:
        ent = {r["Id"]: r["entity_id"] for r in csv.DictReader(fh)}
    assert len(back) == N == len(ent), (len(back), N, len(ent))
    ids = [r["Id"] for r in back]
    assert len(set(ids)) == len(ids) and all(len(i) == 18 for i in ids)

    def norm_phone(s):
        s = unicodedata.normalize("NFKC", s).strip()
        d = re.sub(r"\D", "", s)
        if s.startswith("+81"):
            d = "0" + d[2:]
        return d

    def norm_email(s):
        s = unicodedata.normalize("NFKC", s).strip().lower()
        if "@" not in s:
            return ""
        local, dom = s.split("@", 1)
        return local.split("+", 1)[0] + "@" + dom

    def cross_pairs(key):
        groups = defaultdict(Counter)
        for r in back:
            k = key(r)
            if k:
                groups[k][ent[r["Id"]]] += 1
        tot = 0
        for cnt in groups.values():
            n = sum(cnt.values())
            tot += n * (n - 1) // 2 - sum(m * (m - 1) // 2 for m in cnt.values())
        return tot

    email_ents = defaultdict(set)
    role = re.compile(r"^(info|sales|support|contact|admin|office|webmaster|marketing)@")
    for r in back:
        e = norm_email(r["Email"])
        if e:
            assert not role.match(e), e
            email_ents[e].add(ent[r["Id"]])
    shared_emails = sum(1 for s in email_ents.values() if len(s) > 1)
    assert shared_emails == 0, "email shared across entities"

    ent_sizes = Counter(ent.values())
    true_pairs = sum(n * (n - 1) // 2 for n in ent_sizes.values())
    names_by_full = defaultdict(set)
    for p in people:
        if not p["en"]:
            names_by_full[(p["last"], p["first"])].add(p["comp"])
    namesake_people = sum(1 for p in people if not p["en"] and len(names_by_full[(p["last"], p["first"])]) > 1)
    same_surname_pairs = 0
    for c in comps:
        cnt = Counter(people[i]["last"] for i in c["people"])
        same_surname_pairs += sum(n * (n - 1) // 2 for n in cnt.values())
    used_comps = sum(1 for c in comps if c["people"])
    sz = sorted(len(c["people"]) for c in comps)
    summary = {
        "records": len(back),
        "leads": sum(1 for i in ids if i.startswith("00Q")),
        "contacts": sum(1 for i in ids if i.startswith("003")),
        "entities": len(ent_sizes),
        "entities_with_duplicates": sum(1 for n in ent_sizes.values() if n > 1),
        "duplicate_records": stats["duplicates"],
        "true_pairs": true_pairs,
        "companies": used_comps,
        "company_size_min_median_max": (sz[0], sz[len(sz) // 2], sz[-1]),
        "colleague_pairs_sharing_phone": cross_pairs(lambda r: norm_phone(r["Phone"])),
        "colleague_pairs_sharing_postal_and_company_canon": cross_pairs(
            lambda r: (unicodedata.normalize("NFKC", r["PostalCode"]).replace("〒", "").replace("-", "").replace("−", "").strip(),
                       r["Company"]) if r["PostalCode"] and r["Company"] else None),
        "cross_entity_pairs_same_kanji_fullname": cross_pairs(
            lambda r: (r["LastName"], r["FirstName"]) if r["FirstName"] else None),
        "namesake_people": namesake_people,
        "forced_namesakes": forced_ns,
        "same_surname_colleague_pairs": same_surname_pairs,
        "english_people": sum(1 for p in people if p["en"]),
        "dup_typo": stats["dup_typo"],
        "dup_job_change": stats["dup_job_change"],
        "dup_mean_ops": round(stats["dup_ops_total"] / max(1, stats["duplicates"]), 2),
        "emails_shared_across_entities": shared_emails,
        "seconds": round(time.time() - t0, 2),
    }
    print(summary)
    return summary


if __name__ == "__main__":
    main()
