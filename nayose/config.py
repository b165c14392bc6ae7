"""The rules file: one YAML document validated with pydantic.

Every setting has a documented default, so nayose works with no file at all (the zero-config
path). `nayose config --show-default` prints the whole default document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from nayose.errors import ConfigError

SALESFORCE_OBJECTS = ("Lead", "Contact", "Account")

#: Standard Lead / Contact / Account fields, for canonical spelling of Data Loader's upper-case headers.
STANDARD_FIELDS = (
    "Id", "Object", "FirstName", "LastName", "MiddleName", "Suffix", "Salutation", "Name",
    "Company", "Title", "Department", "Email", "Phone", "MobilePhone", "Fax", "HomePhone",
    "OtherPhone", "AssistantName", "AssistantPhone", "Street", "City", "State", "PostalCode",
    "Country", "StateCode", "CountryCode", "LeadSource", "Status", "Rating", "Industry",
    "AnnualRevenue", "NumberOfEmployees", "Website", "Description", "OwnerId", "CreatedDate",
    "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "LastActivityDate",
    "LastViewedDate", "LastReferencedDate", "IsDeleted", "MasterRecordId", "IsConverted",
    "ConvertedDate", "ConvertedAccountId", "ConvertedContactId", "ConvertedOpportunityId",
    "IsUnreadByOwner", "HasOptedOutOfEmail", "HasOptedOutOfFax", "DoNotCall", "EmailBouncedReason",
    "EmailBouncedDate", "IndividualId", "AccountId", "Account.Name", "ReportsToId",
    "MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry",
    "OtherStreet", "OtherCity", "OtherState", "OtherPostalCode", "OtherCountry", "Birthdate",
    "BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry",
    "ShippingStreet", "ShippingCity", "ShippingState", "ShippingPostalCode", "ShippingCountry",
    "ParentId", "Type", "AccountNumber", "Site", "RecordTypeId",
    # a Person Account's person fields (a B2C org's customers; see normalize.PERSON_ACCOUNT_FIELDS)
    "IsPersonAccount", "PersonContactId", "PersonEmail", "PersonHasOptedOutOfEmail", "PersonMobilePhone",
    "PersonHomePhone", "PersonMailingStreet", "PersonMailingCity", "PersonMailingState", "PersonMailingPostalCode",
    "PersonMailingCountry", "PersonBirthdate", "PersonTitle", "PersonDepartment", "PersonLeadSource",
)

#: Standard Lead / Contact / Account (and Person Account) fields nayose knows by name: a config naming
#: an API-style field that is none of these, not custom (`__c`, or any namespaced `__` name) and not
#: a relationship path (`Account.Name`) names a field no org has (a typo such as `Emial`).
KNOWN_FIELDS = tuple(dict.fromkeys(STANDARD_FIELDS + (
    "Latitude", "Longitude", "GeocodeAccuracy", "ReportsToId", "Jigsaw", "JigsawContactId", "CleanStatus",
    "CompanyDunsNumber", "DandbCompanyId", "Pronouns", "GenderIdentity", "PhotoUrl", "LastCURequestDate",
    "LastCUUpdateDate", "MailingStateCode", "MailingCountryCode", "MailingLatitude", "MailingLongitude",
    "MailingGeocodeAccuracy", "OtherStateCode", "OtherCountryCode", "BillingStateCode", "BillingCountryCode",
    "ShippingStateCode", "ShippingCountryCode", "AccountSource", "Sic", "SicDesc", "Ownership", "TickerSymbol",
    "NaicsCode", "NaicsDesc", "YearStarted", "TradeStyle", "Tradestyle", "CurrencyIsoCode",
    "PersonHasOptedOutOfFax", "PersonDoNotCall", "PersonEmailBouncedReason", "PersonEmailBouncedDate",
    "PersonOtherPhone", "PersonAssistantName", "PersonAssistantPhone", "PersonOtherStreet", "PersonOtherCity",
    "PersonOtherState", "PersonOtherPostalCode", "PersonOtherCountry", "PersonIndividualId", "PersonPronouns",
    "PersonGenderIdentity",
)))
_KNOWN_FOLDED = {f.casefold(): f for f in KNOWN_FIELDS}
_API_STYLE = r"^[A-Za-z][A-Za-z0-9_]*$"


def is_known_field(name: str) -> bool:
    """A standard field nayose knows, a custom / namespaced one (`__` in the name), a relationship
    path (`Account.Name`), or a name that is no API-style name at all (a CSV's own header such as
    法人番号, carried as it is)."""
    import re

    n = name.strip()
    return (n.casefold() in _KNOWN_FOLDED or "__" in n or "." in n or not re.match(_API_STYLE, n))


def field_suggestion(name: str) -> str:
    """' (did you mean Email?)' for a misspelt standard field, else ''."""
    import difflib

    close = difflib.get_close_matches(name.strip().casefold(), list(_KNOWN_FOLDED), n=1, cutoff=0.75)
    return f" (did you mean {_KNOWN_FOLDED[close[0]]}?)" if close else ""


def misspelt_field(name: str) -> str | None:
    """The standard field an unknown API-style `name` is a misspelling of (Compnay -> Company), else None."""
    if is_known_field(name):
        return None
    hint = field_suggestion(name)
    return hint[len(" (did you mean "):-2] if hint else None


def _check_mapping_targets(mapping: dict[str, str]) -> dict[str, str]:
    """A header mapping whose target is a misspelt standard field (会社名: Compnay) is a config
    error. Other unknown names are checked when the run knows the org export's columns."""
    for header, target in mapping.items():
        wrong = misspelt_field(target) if target and target.strip() else None
        if wrong:
            raise ValueError(f"{header}: {target.strip()!r} is not a Salesforce field (did you mean {wrong}?)")
    return mapping


def _default_incoming_columns() -> dict[str, str]:
    """Headers of Japanese business-card and list exports -> Lead fields (Sansan-style 氏名 / セイ / メイ /
    メールアドレス, and Eight's 姓 / 名 / e-mail / TEL会社 / URL). Where a file has two headers for one
    field (氏名 and 姓), the first here wins: 姓 / 名 (already split) over 氏名."""
    return {
        "会社名": "Company", "部署名": "Department", "役職": "Title", "姓": "LastName", "名": "FirstName",
        "氏名": "LastName", "セイ": "LastNameKana__c", "メイ": "FirstNameKana__c", "メールアドレス": "Email",
        "e-mail": "Email", "郵便番号": "PostalCode", "都道府県": "State", "住所": "Street", "電話番号": "Phone",
        "TEL会社": "Phone", "携帯電話": "MobilePhone", "URL": "Website",
    }


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
    """How CSV exports are read."""

    encoding: Literal["auto", "utf-8", "utf-8-sig", "cp932", "shift_jis"] = Field(
        "auto", description="File encoding; 'auto' detects UTF-8, UTF-8 with BOM and CP932/Shift_JIS."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Header mapping for non-Salesforce exports: source header -> Salesforce API field, "
            "e.g. {会社名: Company, 氏名: LastName, メールアドレス: Email} for a Sansan export."
        ),
    )
    id_column: str = Field("Id", description="Column holding the record id (after mapping).")

    @field_validator("columns")
    @classmethod
    def _targets(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_mapping_targets(v)
    default_object: Literal["Lead", "Contact", "Account"] | None = Field(
        None, description="Object for rows whose Id prefix is unknown and that have no Object column."
    )
    last_name_reading_column: str | None = Field(
        None,
        description=(
            "Column holding the surname's reading (フリガナ, セイ), e.g. LastNameKana__c. Default: detected "
            "by name (…Kana…, …Furigana…, …Yomi…, セイ, 姓(カナ))."
        ),
    )
    first_name_reading_column: str | None = Field(
        None, description="Column holding the given name's reading (メイ, 名(カナ)); detected like the surname's."
    )
    name_placeholders: list[str] = Field(
        default_factory=lambda: [
            "不明", "未入力", "未設定", "未記入", "未定", "不詳", "なし", "無し", "名無し", "名前なし", "氏名不明",
            "名前不明", "担当者", "ご担当者", "御担当者", "担当", "ご担当", "各位", "様", "殿", "御中", "ー",
            "unknown", "n/a", "none", "null", "nil", "tbd", "xxx", "test", "テスト", "dummy", "ダミー", "名刺交換",
            # what Salesforce's Web-to-Lead writes into a required field the form left blank
            "[not provided]",
            # what a web shop or a form writes for a visitor without a name
            "お客様", "お客", "ゲスト", "匿名", "会員", "ユーザー", "guest", "anonymous", "customer", "user", "noname",
            "no name",
            # the field's own label left in it (a form's placeholder text submitted as typed)
            "氏名", "お名前", "名前", "姓", "名", "フリガナ", "name", "your name", "last name", "first name",
            "lastname", "firstname", "full name",
            # a department written where the name goes (総務部 御中 on a purchased list, 営業部 on a card)
            "営業", "営業部", "営業課", "営業本部", "営業所", "総務", "総務部", "総務課", "人事", "人事部", "人事課",
            "経理", "経理部", "経理課", "財務部", "法務部", "広報", "広報部", "企画部", "経営企画部", "購買部", "資材部",
            "情報システム部", "システム部", "マーケティング部", "技術部", "開発部", "製造部", "品質保証部", "管理部",
            "業務部", "事務局", "受付", "窓口", "お客様窓口", "採用担当", "カスタマーサポート",
            # a job title typed alone where the name goes (山田 部長 keeps 山田; 部長 alone names nobody)
            "代表", "代表者", "代表取締役", "代表取締役社長", "取締役", "社長", "副社長", "会長", "専務", "常務", "部長",
            "副部長", "次長", "課長", "係長", "室長", "所長", "支店長", "店長", "主任",
        ],
        description=(
            "Name values that mean 'no name' (a Lead's required Last Name filled with 不明, ご担当者様, "
            "[[Unknown]], -, a department such as 総務部): compared without case, width, brackets, punctuation or a trailing 様 / さま / "
            "各位, every word a placeholder (不明 不明). Treated as empty, like a value with no letter at all "
            "(-, ?, *, 〇〇): two records at one company called 不明 are not one person."
        ),
    )
    birthdate_placeholders: list[str] = Field(
        default_factory=lambda: ["1900-01-01", "1901-01-01", "1970-01-01"],
        description=(
            "Birth dates that a system writes when it has none (a spreadsheet's or a database's zero date): "
            "treated as empty. Forty people at forty companies sharing 1900-01-01 were auto-merged by name "
            "and 'birth date'."
        ),
    )
    company_placeholders: list[str] = Field(
        default_factory=lambda: [
            "個人", "個人のお客様", "個人様", "個人事業主", "なし", "無し", "不明", "未設定", "未入力", "同上",
            "ー", "unknown", "[[Unknown]]", "n/a", "na", "none", "null", "test", "テスト", "ダミー", "dummy", "未記入",
            # what Salesforce's Web-to-Lead writes into Company when the form has none
            "[not provided]",
            # what a person without a company types into a form's required company field: an
            # occupation, no employer -- two namesakes who are both 学生 or 主婦 share nothing
            "学生", "大学生", "大学院生", "高校生", "専門学校生", "主婦", "専業主婦", "主夫", "無職", "自営業", "自営",
            "個人事業", "フリーランス", "特になし", "無所属", "退職", "定年退職", "年金生活", "パート", "アルバイト",
            "student", "self-employed", "self employed", "freelance", "freelancer", "retired", "homemaker",
            "unemployed", "private", "personal", "individual",
            # an occupation without an employer, typed the same way (会社員: "an office worker")
            "会社員", "公務員", "フリー", "self", "home",
            # the field's own label or a form's sample text left in it, an undecided answer, a test
            "会社名", "御社名", "貴社名", "company name", "your company", "ご所属", "所属なし", "未定", "検討中",
            "tbd", "not applicable", "xxx", "sample", "サンプル", "テスト会社",
        ],
        description=(
            "Company values that mean 'no company' (a Lead's required Company filled with 個人, [[Unknown]], -, "
            "or Web-to-Lead's [not provided]), or an occupation typed where the form asks for a company (学生, 主婦, 自営業). "
            "They, and a company equal to the person's own name, are treated as empty."
        ),
    )


_ONE_KEY = r"[a-z][a-z0-9_]*(:[1-9][0-9]?)?"
KEY_PATTERN = rf"^{_ONE_KEY}(\|{_ONE_KEY})*$"
# The columns of the normalize stage's table a blocking key may name (nayose.normalize writes them,
# after rec_idx and id, in this order: its OUTPUT_COLUMNS). A key naming anything else is a typo:
# without this check the rule was silently inactive, as a rule on a field the export lacks is.
KEY_COLUMNS = (
    "object", "last_name", "first_name", "full_name", "last_reading", "first_reading", "name_key", "name_sound",
    "company_core", "company_legal_form", "company_reading", "company_sound", "email", "email_local", "email_domain",
    "email_is_freemail", "email_is_role", "phone", "mobile", "phone_is_mobile", "personal_phone", "postal_code",
    "prefecture", "city", "street", "state", "birthdate", "title", "department", "lead_source", "created_date",
    "last_modified_date", "card_person_id",
)


class BlockingRule(_Strict):
    """Records become a candidate pair when every key is equal and not empty.

    A key is a normalized column name (`last_reading`), or `column:N` for its first N characters
    (`street:6`), which lets a rule survive a typo late in the value, or alternatives `a|b`: the
    record is in the block of each value it has (`last_reading|first_reading`: either name part,
    whichever field it was typed in). At most one key of a rule has alternatives.
    """

    name: str
    keys: list[str] = Field(min_length=1)

    @field_validator("keys")
    @classmethod
    def _key_syntax(cls, keys: list[str]) -> list[str]:
        import re

        for k in keys:
            if not re.match(KEY_PATTERN, k):
                raise ValueError(f"blocking key {k!r} must be a column name, 'column:N' or alternatives 'a|b'")
            unknown = [c for c in (a.partition(":")[0] for a in k.split("|")) if c not in KEY_COLUMNS]
            if unknown:
                raise ValueError(f"blocking key {k!r}: no normalized column {unknown[0]!r} "
                                 f"(one of: {', '.join(KEY_COLUMNS)})")
        if sum("|" in k for k in keys) > 1:
            raise ValueError(f"blocking keys {keys!r}: at most one key may have alternatives ('a|b')")
        return keys
    max_block_size: int | None = Field(
        None, ge=2, description="Skip (and report) blocks larger than this; default: matching.max_block_size."
    )


def _default_blocking_rules() -> list[BlockingRule]:
    return [
        BlockingRule(name="email", keys=["email"]),
        # The person's own number: the mobile, or a mobile number in the Phone field (either
        # record's: the phone comparison matches a mobile against the other's Phone too).
        BlockingRule(name="mobile", keys=["personal_phone"]),
        BlockingRule(name="phone_last_name", keys=["phone", "last_reading"]),
        BlockingRule(name="company_last_name", keys=["company_core", "last_reading"]),
        BlockingRule(name="company_first_name", keys=["company_core", "first_reading"]),
        # The same keys on the written names: a reading guessed wrong (増畑 zohatake / masubata)
        # must not hide a pair written identically.
        BlockingRule(name="company_last_name_written", keys=["company_core", "last_name"]),
        # Either name part at the company or the phone, in either field: a card with surname and
        # given name swapped where the other part was misread as well (白江 晋太 / シンタ シラエ).
        BlockingRule(name="company_name_part", keys=["company_core", "last_reading|first_reading"], max_block_size=10),
        BlockingRule(name="phone_name_part", keys=["phone", "last_reading|first_reading"], max_block_size=10),
        BlockingRule(name="full_name_written", keys=["full_name"], max_block_size=10),
        BlockingRule(name="name", keys=["name_key"], max_block_size=10),
        # A kanji name against its kana / romaji where the reading guessed for the kanji is wrong
        # (熊谷 kumagaya / クマガイ), or one kanji misread on a card (坂内 / 坂謙): the surname's reading's
        # first letters and the written given name, at one company.
        BlockingRule(name="company_last_name_prefix", keys=["company_core", "last_reading:4"], max_block_size=10),
        BlockingRule(name="company_first_name_written", keys=["company_core", "first_name"], max_block_size=10),
        # A foreign name in katakana and in Latin letters (ロジャース / Rogers): its consonants.
        BlockingRule(name="foreign_name_sound", keys=["name_sound"], max_block_size=10),
        BlockingRule(name="name_prefix", keys=["last_reading:3", "first_reading:3"], max_block_size=8),
        BlockingRule(name="last_name_postal", keys=["last_reading", "postal_code"]),
        BlockingRule(name="first_name_postal", keys=["first_reading", "postal_code"]),
        BlockingRule(name="birthdate", keys=["birthdate"]),
        BlockingRule(name="street_postal", keys=["street:6", "postal_code"], max_block_size=8),
        BlockingRule(name="street_city", keys=["street:8", "city"], max_block_size=8),
        BlockingRule(name="last_name_city", keys=["last_reading", "city"], max_block_size=8),
        BlockingRule(name="first_name_city", keys=["first_reading", "city"], max_block_size=8),
        # The person a business-card service already consolidated its cards into (Sansan's person ID).
        BlockingRule(name="card_person_id", keys=["card_person_id"]),
    ]


class Thresholds(_Strict):
    review: float = Field(0.5, gt=0, lt=1, description="Pairs at or above this probability are kept (review).")
    auto: float = Field(0.99, gt=0, lt=1, description="Pairs at or above this probability may be auto-merged.")

    @model_validator(mode="after")
    def _auto_above_review(self) -> "Thresholds":
        # (after the model, not on `auto`: a field validator does not run when auto is left at its
        # default, so review: 0.995 above the default auto 0.99 passed)
        if self.auto < self.review:
            raise ValueError(f"auto threshold ({self.auto}) must be >= review threshold ({self.review})")
        return self


class MatchingConfig(_Strict):
    blocking_rules: list[BlockingRule] = Field(default_factory=_default_blocking_rules)
    max_block_size: int = Field(
        100, ge=2, description="Blocks larger than this are skipped for that rule and reported."
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    person_id_fields: list[str] = Field(
        default_factory=lambda: ["Sansan_Person_Id__c"],
        description=(
            "Fields holding the person identifier a business-card service gives the cards it has consolidated "
            "(Sansan writes its person ID with every card it sends to Salesforce). Two records with the same "
            "value are one person by that service's own matching: a personal identifier, like a personal "
            "email. The first field with a value is used; a different value is weak evidence against (the "
            "service may not have consolidated two cards yet)."
        ),
    )
    em_iterations: int = Field(50, ge=1, le=1000)
    term_frequency: bool = Field(True, description="Adjust exact-match weights by value frequency.")
    same_home_other_given_name: Literal["auto", "different_people", "review"] = Field(
        "auto",
        description=(
            "Records with one name part in common at the same home address but the other different: family "
            "members (different_people), or possibly one person's corrupted record (review: at most for "
            "review, never auto). auto (default): different_people when the data has any contact channel "
            "(email, phone or company), as CRM exports do. When it has none (a person register of names, "
            "addresses and birth dates) the data decides (the model's shared_home): where pairs at one home "
            "with other names and other birth dates are no more common than duplicates corrupted in both "
            "would make them, a shared home is one person's (review, whatever the names); where families "
            "live together, another given name at a home is a family member's."
        ),
    )


class ClusterConfig(_Strict):
    max_auto_size: int = Field(
        8, ge=2, description="A group larger than this is never auto-merged (status review)."
    )
    max_size: int = Field(
        50, ge=2, description="A group larger than this is split into its strongly linked parts."
    )



class AccountMatchingConfig(_Strict):
    """Duplicate business Accounts (companies, not Person Accounts): nayose.accounts. Rules, not a
    learned model: a company's name, switchboard, website and address are what identify it."""

    enabled: bool = Field(True, description="Match business Accounts with each other (they are never matched with people).")
    corporate_number_fields: list[str] = Field(
        default_factory=lambda: ["CorporateNumber__c", "Corporate_Number__c", "HojinBango__c", "HoujinBangou__c", "法人番号"],
        description=(
            "Fields holding the company's 13-digit corporate number (法人番号, issued by the National Tax Agency; "
            "orgs keep it in a custom field). The first field present is used. The same number is the same "
            "legal entity (auto); two different numbers are two entities, whatever their names."
        ),
    )
    company_id_fields: list[str] = Field(
        default_factory=lambda: ["Sansan_Company_Id__c", "SansanCompanyId__c"],
        description="Fields holding a business-card service's company ID (Sansan's): the same ID is one company (auto).",
    )
    website_fields: list[str] = Field(default_factory=lambda: ["Website"], description="The company's web site (its domain is compared).")
    account_number_fields: list[str] = Field(
        default_factory=lambda: ["AccountNumber"],
        description=(
            "The Account's own customer code (an ERP's, kept in AccountNumber): two Accounts with different codes "
            "are kept apart on purpose more often than not, so a pair an auto rule would merge goes to review."
        ),
    )
    phone_fields: list[str] = Field(default_factory=lambda: ["Phone"], description="The company's switchboard.")
    address_prefixes: list[str] = Field(
        default_factory=lambda: ["Billing", "Shipping"],
        description="Address field prefixes, in order: the first with a postal code or a state is used (BillingPostalCode, BillingState …).",
    )
    similar_name_ratio: float = Field(
        80.0, ge=50, le=100,
        description=(
            "Two names that differ (a typo, 製作所 / 制作所) sharing the switchboard or the website are a pair for "
            "review when their cores (without the legal form, four characters or more) are at least this "
            "similar (rapidfuzz's Indel ratio, 0–100; one character in five is 80)."
        ),
    )
    branch_accounts: Literal["separate", "review"] = Field(
        "separate",
        description=(
            "An Account naming an office (ABC株式会社 大阪支店) beside the company's own: separate (default: "
            "branch Accounts are kept on purpose, never paired) or review (an org with one Account per company)."
        ),
    )
    max_block_size: int = Field(
        50, ge=2,
        description=(
            "Accounts sharing one key (a name, a switchboard, a domain) beyond this many are not paired on it "
            "(a group's shared switchboard, a generic name); reported in the stage's figures."
        ),
    )
    max_auto_size: int = Field(
        20, ge=2,
        description=(
            "A group of business Accounts larger than this is never auto-merged (review); people's groups have "
            "cluster.max_auto_size. A company entered many times over (an Account per rep, per card import) makes "
            "larger groups than a person does, each link an auto rule's and no two of its Accounts kept apart by a rule."
        ),
    )


class FieldGroup(_Strict):
    """Fields that survive together: all of them come from the one record the group's rule picks
    (a member blank in that record is filled from the next-ranked record, since a blank never
    wins over a value). The first field is the group's primary field: records holding it rank
    first."""

    name: str
    fields: list[str] = Field(min_length=1)
    rule: Literal[
        "source_priority", "most_recent", "oldest", "most_complete", "master", "max", "min",
        "keep_master_if_set",
    ] = Field("most_recent", description="How the group's source record is chosen (after the card rule).")


#: Opt-out checkboxes (a Lead's / Contact's and a Person Account's): any record's true stays true.
# Suffixes of a surviving value's rule that the applier and the plan's checks read: a bounce field
# cleared with its address (the value NULL is written), and the master's own value written another
# way (kept as the master writes it: nothing to write).
CLEARED = "cleared with its address"
AS_MASTER_WRITES = "as the master writes it"

CONSENT_FIELDS = ("HasOptedOutOfEmail", "HasOptedOutOfFax", "DoNotCall",
                  "PersonHasOptedOutOfEmail", "PersonHasOptedOutOfFax", "PersonDoNotCall")


def _default_field_groups() -> list[FieldGroup]:
    return [
        FieldGroup(name="address", fields=["Street", "City", "State", "PostalCode", "Country"]),
        FieldGroup(
            name="mailing_address",
            fields=["MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry"],
        ),
        # (the bounce belongs to the address; the opt-out to the person: see the consent fields' any_true)
        FieldGroup(name="email", fields=["Email", "EmailBouncedReason", "EmailBouncedDate"]),
        # a Person Account's own address and mailbox (and a Lead's, converted into it)
        FieldGroup(
            name="person_mailing_address",
            fields=["PersonMailingStreet", "PersonMailingCity", "PersonMailingState", "PersonMailingPostalCode",
                    "PersonMailingCountry"],
        ),
        FieldGroup(name="person_email", fields=["PersonEmail", "PersonEmailBouncedReason", "PersonEmailBouncedDate"]),
        # a business Account's addresses (nayose.accounts)
        FieldGroup(
            name="billing_address",
            fields=["BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry"],
        ),
        FieldGroup(
            name="shipping_address",
            fields=["ShippingStreet", "ShippingCity", "ShippingState", "ShippingPostalCode", "ShippingCountry"],
        ),
    ]


def _over_default(v, default):  # noqa: ANN001, ANN202
    """A mapping a rules file gives, over the default mapping (`default()`): the file names what it
    changes, the rest of the default stays. Anything not a mapping is left for validation to refuse."""
    return {**default(), **v} if isinstance(v, dict) else v


def _default_field_rules() -> dict[str, str]:
    return {
        "AccountId": "keep_master_if_set",
        # The master keeps its owner, its lead status and its record type (the business-card rule
        # does not apply to them: card_exempt_fields): a new web inquiry merged into a worked Lead used to
        # hand it to the inquiry's owner (often a queue or the integration user) and reset its
        # Status from Working to Open, and could change its record type.
        "OwnerId": "keep_master_if_set",
        "Status": "keep_master_if_set",
        "RecordTypeId": "keep_master_if_set",
        "LeadSource": "source_priority",
        # A business Account's type (Customer / Prospect) and its ERP customer code stay the master's
        # (the oldest Account): a newer duplicate entered as a Prospect must not demote a Customer.
        "Type": "keep_master_if_set",
        "AccountNumber": "keep_master_if_set",
        # 佐藤 over サトウ over Sato: a newer romaji or kana spelling does not replace the kanji
        "LastName": "native_script",
        "FirstName": "native_script",
        "Company": "native_script",
        "Account.Name": "native_script",
        # Consent: a person who opted out (of email, fax or calls) on any record stays opted out;
        # a merge must never subscribe them again (特定電子メール法 is opt-in; the newer record's
        # false used to win and travel to the master)
        **{f: "any_true" for f in CONSENT_FIELDS},
    }


class SurvivorshipConfig(_Strict):
    """Which record survives a merge (master) and which value survives in every field, and why.

    Order of decisions for a field (or field group): (1) the business-card rule — when a
    business-card record holds a value, the most recent card (CreatedDate) wins and no non-card
    value can overwrite it (unless the field is in `card_exempt_fields`); (2) the field's rule from
    `field_rules` / `field_groups` (default `default_rule`); ties go to the smallest Id. A blank
    never wins over a value.
    """

    card_lead_sources: list[str] = Field(
        default_factory=lambda: ["Business Card", "名刺", "Sansan", "Eight"],
        description=(
            "LeadSource values (compared after NFKC, trimmed, case-insensitive) that mark a business-card record, "
            "as the whole value or inside it: a Japanese word anywhere (名刺交換), a Latin one as a word of its own "
            "(Sansan連携, not Freight Expo for Eight)."
        ),
    )
    card_provenance_fields: list[str] = Field(
        default_factory=lambda: ["Sansan_Person_Id__c", "Sansan_Company_Id__c", "Eight_Card_Id__c"],
        description="Fields that mark a business-card record when filled (e.g. the Sansan person / company IDs).",
    )
    card_exempt_fields: list[str] = Field(
        default_factory=lambda: ["OwnerId", "Status", "RecordTypeId"],
        description=(
            "Fields where a business-card value does NOT take precedence. By default the owner, the lead status "
            "and the record type: they are the org's process, not what the card says (a card import's owner is "
            "often the integration user), so the master keeps them (keep_master_if_set)."
        ),
    )
    master_order: list[Literal["contact_over_lead", "business_card", "oldest", "most_recent", "most_complete"]] = Field(
        default_factory=lambda: ["contact_over_lead", "business_card", "oldest", "most_complete"],
        description=(
            "How the master is chosen, first key first; the smallest Id breaks remaining ties. In a group holding "
            "Leads and Contacts the master is always a Contact (a Lead is converted into it)."
        ),
    )
    prefer_company_email: bool = Field(
        True,
        description=(
            "In a group of Leads / Contacts, a person's address at a company's domain wins over a free-mail one "
            "(gmail.com, docomo.ne.jp …) whatever the email rule says (after the business-card rule and a bounce); "
            "a group converted into a Person Account is exempt."
        ),
    )
    default_rule: Literal[
        "source_priority", "most_recent", "oldest", "most_complete", "master", "max", "min", "keep_master_if_set",
    ] = Field("most_recent", description="Rule for fields not named in field_rules / field_groups (most recent = LastModifiedDate).")
    field_rules: dict[str, Literal[
        "source_priority", "most_recent", "oldest", "most_complete", "master", "max", "min", "union",
        "keep_master_if_set", "any_true", "native_script",
    ]] = Field(
        default_factory=_default_field_rules,
        description=(
            "Rule per field: source_priority (rank of inflow routes), most_recent, oldest, most_complete (the value "
            "of the most complete record), master, keep_master_if_set, max, min, union (multi-select picklists, "
            "';'-joined), native_script (kanji, then kana, then other scripts, a name with an honorific, a title or a note in brackets after the same script written plainly, Latin letters in one case only (JOHN, smith) after mixed case; then the most recent), any_true (a checkbox true on any record stays true, e.g. `DoNotCall: any_true`; it takes "
            "precedence over the business-card rule). By default the consent fields (HasOptedOutOfEmail, DoNotCall, "
            "HasOptedOutOfFax and a Person Account's Person* ones) are any_true: an opt-out on any record of the group is kept."
        ),
    )
    field_groups: list[FieldGroup] = Field(default_factory=_default_field_groups)
    routes: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "card": ["名刺", "Business Card", "Sansan", "Eight"],
            "manual": ["手入力", "Manual"],
            "partner": ["Partner Referral", "紹介"],
            "web": ["Web", "Webフォーム", "Web Form", "問い合わせ"],
            "event": ["展示会", "Event", "セミナー", "Seminar"],
            "list": ["購入リスト", "Purchased List", "List"],
        },
        description="Inflow route of each LeadSource value (NFKC, case-insensitive).",
    )
    source_priority: list[str] = Field(
        default_factory=lambda: ["card", "manual", "partner", "web", "event", "list"],
        description="Route ranking for the source_priority rule, best first; unknown routes rank last.",
    )
    system_fields: list[str] = Field(
        default_factory=lambda: [
            "CreatedDate", "LastModifiedDate", "SystemModstamp", "CreatedById", "LastModifiedById",
            "IsDeleted", "MasterRecordId", "LastActivityDate", "LastViewedDate", "LastReferencedDate",
            "IsConverted", "ConvertedContactId", "ConvertedAccountId", "ConvertedOpportunityId", "ConvertedDate",
            # a Lead's, a Contact's and a Person Account's Name is compound (built from FirstName and
            # LastName, which compete as names do) and read-only; so is a Person Account's kind
            "Name", "IsPersonAccount", "PersonContactId",
            # kept up by Salesforce itself
            "IsUnreadByOwner",
        ],
        description=(
            "Read-only system fields: not merged value by value, they stay with the master. OwnerId is not one: "
            "it follows its rule (keep_master_if_set by default; exempt from the business-card rule through "
            "card_exempt_fields)."
        ),
    )
    lead_to_contact_fields: dict[str, str] = Field(
        default_factory=lambda: {
            "Street": "MailingStreet", "City": "MailingCity", "State": "MailingState",
            "PostalCode": "MailingPostalCode", "Country": "MailingCountry", "Company": "Account.Name",
        },
        description="When Leads are converted into a Contact master, their values compete under these Contact fields.",
    )
    lead_to_person_account_fields: dict[str, str] = Field(
        default_factory=lambda: {
            "Email": "PersonEmail", "MobilePhone": "PersonMobilePhone", "Title": "PersonTitle",
            "Street": "PersonMailingStreet", "City": "PersonMailingCity", "State": "PersonMailingState",
            "PostalCode": "PersonMailingPostalCode", "Country": "PersonMailingCountry",
            "EmailBouncedReason": "PersonEmailBouncedReason", "EmailBouncedDate": "PersonEmailBouncedDate",
            "HasOptedOutOfEmail": "PersonHasOptedOutOfEmail", "HasOptedOutOfFax": "PersonHasOptedOutOfFax",
            "DoNotCall": "PersonDoNotCall", "LeadSource": "PersonLeadSource",
            # a Person Account has no company: a Lead's (個人, or the employer) is not carried
            "Company": "",
        },
        description=(
            "When Leads are converted into a Person Account master (a group of Leads and Person Accounts only), "
            "their values compete under these Person Account fields (an empty name: the value is not carried); the "
            "others keep their names (Phone, FirstName, LastName are the Person Account's own)."
        ),
    )

    @field_validator("field_rules", mode="before")
    @classmethod
    def _rules_over_the_defaults(cls, v):  # noqa: ANN001
        # A rules file names the fields whose rule it changes; the other defaults stay (a file setting
        # `Email: oldest` used to drop them all: the consent fields' any_true -- an opt-out kept --, the
        # master's owner and status). A field given null goes back to default_rule.
        merged = _over_default(v, _default_field_rules)
        return {k: r for k, r in merged.items() if r is not None} if isinstance(merged, dict) else merged

    @field_validator("field_rules", "card_exempt_fields")
    @classmethod
    def _known_fields(cls, v):  # noqa: ANN001
        # (a rule on a misspelt field -- Emial -- was silently never applied)
        for f in v:
            if not is_known_field(f):
                raise ValueError(f"unknown field {f!r}: not a standard Salesforce field nor a custom (__c) field"
                                 f"{field_suggestion(f)}")
        return v

    @field_validator("field_groups")
    @classmethod
    def _groups_disjoint(cls, groups: list[FieldGroup]) -> list[FieldGroup]:
        seen: set[str] = set()
        for g in groups:
            for f in g.fields:
                if f in seen:
                    raise ValueError(f"field {f!r} is in more than one field group")
                seen.add(f)
        return groups


class DeleteRule(_Strict):
    """A record is a delete candidate when every condition the rule sets holds. Patterns are regular
    expressions matched in full, case-insensitive, against the value after NFKC and trimming, with
    spaces removed. Business-card records are never deleted unless include_business_cards is true."""

    name: str
    reason: str
    fields: list[str] = Field(default_factory=list, description="Fields tested against patterns (any field matching).")
    patterns: list[str] = Field(default_factory=list)
    no_valid_email: bool = Field(False, description="Also require: no syntactically valid email in email_fields "
                                 "(a dummy such as noemail@ does not count).")
    no_phone: bool = Field(False, description="Also require: no phone number (6+ digits) in phone_fields "
                           "(a dummy such as 090-1234-5678 or 03-0000-0000 does not count).")
    no_address: bool = Field(False, description="Also require: no postal address (a street or a postal code in "
                             "address_fields; 不明 or 000-0000 does not count).")
    objects: list[str] = Field(default_factory=list, description="Only records of these objects (Lead, Contact, "
                               "Account); empty: any.")
    include_business_cards: bool = Field(False, description="Explicitly allow deleting business-card records.")

    @field_validator("patterns")
    @classmethod
    def _compile(cls, patterns: list[str]) -> list[str]:
        import re

        for pat in patterns:
            try:
                re.compile(pat)
            except re.error as exc:
                raise ValueError(f"bad pattern {pat!r}: {exc}") from None
        return patterns

    @model_validator(mode="after")
    def _has_condition(self) -> "DeleteRule":
        if not (self.patterns or self.no_valid_email or self.no_phone):
            raise ValueError("a delete rule needs patterns, no_valid_email or no_phone")
        if self.patterns and not self.fields:
            raise ValueError("a delete rule with patterns needs fields")
        return self


def _default_delete_rules() -> list[DeleteRule]:
    return [
        DeleteRule(
            name="test_or_dummy",
            reason="test / dummy name or company",
            fields=["LastName", "FirstName", "Company", "Account.Name"],
            patterns=[r"(test|テスト|てすと)[0-9]*", r"(dummy|ダミー|だみー)[0-9]*", r"a{3,}", r"x{3,}", r"あ{3,}"],
        ),
        # A Lead nobody can reach: no mailbox, no number, no postal address. Not a Contact: it belongs
        # to an account and may carry opportunities, cases and history the export does not show.
        DeleteRule(name="no_contact_info", reason="a lead with no valid email, phone or address", no_valid_email=True,
                   no_phone=True, no_address=True, objects=["Lead"]),
    ]


class DeleteRulesConfig(_Strict):
    """Junk and test records proposed for deletion (delete_plan.csv). Records in a duplicate group
    (auto / review) are never proposed: they go through the merge plan."""

    rules: list[DeleteRule] = Field(default_factory=_default_delete_rules)
    email_fields: list[str] = Field(default_factory=lambda: ["Email"])
    phone_fields: list[str] = Field(default_factory=lambda: ["Phone", "MobilePhone"])
    address_fields: list[str] = Field(default_factory=lambda: [
        "Street", "PostalCode", "MailingStreet", "MailingPostalCode", "PersonMailingStreet", "PersonMailingPostalCode"])


class ExclusionRule(_Strict):
    """Records that are not marketing targets (billing, recruiting, partner contacts …) and must never
    sync to Account Engagement. A record is excluded when any condition the rule sets holds. Keywords
    are matched as substrings of the value after NFKC and case folding (an ASCII keyword only as a whole
    word, so HR does not match Three); lead sources, record types and flag values compare equal after
    NFKC and case folding; email locals and domains compare with the address's local part / domain."""

    name: str
    reason: str
    title_keywords: list[str] = Field(default_factory=list, description="Substrings of Title.")
    department_keywords: list[str] = Field(default_factory=list, description="Substrings of Department.")
    lead_sources: list[str] = Field(default_factory=list, description="LeadSource values (e.g. 採用).")
    record_types: list[str] = Field(
        default_factory=list, description="RecordTypeId or RecordType.DeveloperName / RecordType.Name values."
    )
    email_domains: list[str] = Field(default_factory=list, description="Email domains (a partner's domain).")
    email_locals: list[str] = Field(
        default_factory=list, description="Email local parts (keiri@, saiyo@ …), compared without digits at the end."
    )
    flag_fields: list[str] = Field(
        default_factory=list, description="Checkbox fields (e.g. IsPartner__c): true excludes the record."
    )


def _default_exclusions() -> list[ExclusionRule]:
    return [
        ExclusionRule(
            name="billing", reason="billing contact (経理 / 請求)",
            title_keywords=["経理", "請求", "財務", "会計", "Accounts Payable", "Accounts Receivable", "Billing", "Invoice"],
            department_keywords=["経理", "請求", "財務", "会計", "Finance", "Accounting", "Billing"],
            email_locals=["keiri", "seikyu", "seikyuu", "invoice", "invoices", "billing", "ap", "ar", "accounting"],
        ),
        ExclusionRule(
            name="recruiting", reason="recruiting contact (採用 / 人事)",
            title_keywords=["採用", "人事", "リクルート", "Recruiter", "Recruiting", "Talent Acquisition", "HR"],
            department_keywords=["採用", "人事", "Recruiting", "Human Resources", "HR"],
            lead_sources=["採用", "Recruiting", "Recruitment"],
            email_locals=["saiyo", "saiyou", "jinji", "recruit", "recruiting", "hr", "career", "careers"],
        ),
        ExclusionRule(
            name="partner", reason="outside partner (パートナー / 代理店)",
            title_keywords=["パートナー", "代理店", "アライアンス", "Partner Manager", "Alliance"],
            department_keywords=["パートナー", "代理店", "アライアンス", "Partner", "Alliance", "Channel Sales"],
        ),
    ]


class RouteRule(_Strict):
    """Per inflow route and owner: records of these routes (and, when owner_ids is set, owned by one of
    these users) never sync, e.g. business-card records of the card-scanning integration user."""

    name: str
    reason: str
    routes: list[str] = Field(
        default_factory=list,
        description="Inflow routes (survivorship.routes keys: card, web, event, list, manual, partner; 'other' "
        "for an unmapped LeadSource, 'none' for an empty one); empty: every route.",
    )
    owner_ids: list[str] = Field(default_factory=list, description="OwnerId values (15 or 18 characters); empty: any owner.")

    @model_validator(mode="after")
    def _has_condition(self) -> "RouteRule":
        if not (self.routes or self.owner_ids):
            raise ValueError("a route rule needs routes or owner_ids")
        return self


class CapConfig(_Strict):
    """The mailable-prospect cap of the Account Engagement contract, and who stays when over it."""

    mailable: int = Field(10_000, ge=0, description="Mailable prospects the contract includes (editions start at 10,000).")
    freshness_bucket_days: int = Field(
        365, ge=1, description="Records are ranked by freshness in buckets of this many days since their last sign of "
        "life (the newest of CreatedDate, LastModifiedDate, LastActivityDate), then by quality within a bucket."
    )
    quality_signals: list[Literal["business_email", "phone", "title", "business_card", "address"]] = Field(
        default_factory=lambda: ["business_email", "phone", "title", "business_card", "address"],
        description="One point each: a company (not free-mail, not role) email, a phone or mobile, a title, a "
        "business-card record, a postal address. Ties after freshness, quality and the newest date go to the smallest Id.",
    )


class EligibilityConfig(_Strict):
    """Which Salesforce records may sync to Account Engagement (the same rules every night, for new
    records too). A record is eligible when no exclusion or route rule matches, it is fresh and it passes
    the quality conditions; it is mailable when eligible, with an email, not opted out, not hard-bounced
    and not Do Not Email."""

    exclusions: list[ExclusionRule] = Field(default_factory=_default_exclusions)
    route_rules: list[RouteRule] = Field(default_factory=list, description="Per route / owner exclusions (none by default).")
    freshness_years: float | None = Field(
        3, gt=0, description="Only records acquired (CreatedDate) within this many years sync; null: no freshness rule."
    )
    freshness_objects: list[Literal["Lead", "Contact"]] = Field(
        default_factory=lambda: ["Lead"],
        description="Objects the freshness rule applies to (a Contact is a customer however old).",
    )
    require_company: bool = Field(
        True, description="Company (Lead) / Account.Name (Contact) must be filled and not a placeholder (input.company_placeholders) or the person's own name."
    )
    require_valid_email: bool = Field(
        True, description="Email must be a valid address as written (what Account Engagement accepts)."
    )
    as_of: str | None = Field(
        None, description="Reference time for freshness (ISO 8601); default: the newest CreatedDate / LastModifiedDate of the data."
    )
    cap: CapConfig = Field(default_factory=CapConfig)


class SyncConfig(_Strict):
    """How Salesforce and Account Engagement are connected: the Marketing Data Sharing field and the
    field sync behaviours used to predict which value the next sync keeps."""

    sharing_field: str = Field(
        "Pardot_Sync__c",
        description="The checkbox the Marketing Data Sharing rule reads (one field, equality only). The flag plan "
        "sets it to exclude_value on records that must not sync and to include_value on eligible ones.",
    )
    include_value: str = Field("true", description="Value of sharing_field the sharing rule lets through.")
    exclude_value: str = Field("false", description="Value that keeps a record out of Account Engagement.")
    default_behavior: Literal["salesforce", "pardot", "most_recent"] = Field(
        "most_recent", description="Sync behaviour of a mapped field not named in field_behaviors (and not set in the metadata)."
    )
    field_behaviors: dict[str, Literal["salesforce", "pardot", "most_recent"]] = Field(
        default_factory=lambda: {"OwnerId": "salesforce"},
        description="Per Salesforce field: use Salesforce's value, use Account Engagement's value, or the most "
        "recently updated record's. A value always beats a blank. Salesforce owns the assigned user (OwnerId).",
    )
    protect_card_values: bool = Field(
        True, description="Flag a business-card record's value that the next sync would overwrite with Account Engagement's."
    )
    compare_fields: dict[str, list[str]] = Field(
        default_factory=lambda: {
            "firstName": ["FirstName"], "lastName": ["LastName"], "company": ["Company", "Account.Name"],
            "jobTitle": ["Title"], "department": ["Department"], "phone": ["Phone"],
            "optedOut": ["HasOptedOutOfEmail"],
        },
        description="Standard prospect field -> Salesforce field(s) (the first one the record has): compared for "
        "values that do not sync or revert. Custom fields come from the metadata's mappings.",
    )


class ImportPlanConfig(_Strict):
    """`nayose import-plan`: link an incoming file (a purchased or event list, a business-card export,
    a legacy CRM) to the org before it is loaded, and decide insert / update / review / skip per row.
    Matching uses the `matching` section (same normalization, blocking, scoring and thresholds) and the
    update values the `survivorship` section."""

    incoming_columns: dict[str, str] = Field(
        default_factory=_default_incoming_columns,
        description=(
            "Header mapping applied to the incoming file only (input.columns applies to every file and wins): "
            "the default maps Sansan- and Eight-style card exports' Japanese headers to Lead fields. A file's mapping "
            "is merged over the default (add 名刺交換日: CardExchangeDate__c and the rest stays); map a header to "
            "null or '' to drop its default. Headers a file lacks are ignored."
        ),
    )

    @field_validator("incoming_columns", mode="before")
    @classmethod
    def _merge_over_default(cls, v):  # noqa: ANN001
        # (a plain dict replaced the whole default: adding one header made every Sansan row an
        # insert with no name, company or email)
        merged = _over_default({} if v is None else v, _default_incoming_columns)
        return {k: ("" if t is None else t) for k, t in merged.items()} if isinstance(merged, dict) else merged

    @field_validator("incoming_columns")
    @classmethod
    def _incoming_targets(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_mapping_targets(v)
    incoming_object: Literal["Lead", "Contact"] = Field(
        "Lead", description="Object of incoming rows whose Id prefix / Object column does not say (inserts create this object)."
    )
    incoming_lead_source: str | None = Field(
        None,
        description=(
            "LeadSource for incoming rows that have none, e.g. Sansan for a card export (the rows then count as "
            "business cards and their values win) or 購入リスト for a purchased list. Written into the inserts too."
        ),
    )
    mutual_best_min_probability: float | None = Field(
        0.1, gt=0, lt=1,
        description=(
            "Link mode's one-to-one evidence: an incoming row with no candidate at the review threshold goes to review "
            "with its best existing candidate when each is the other's best, neither is linked elsewhere, the pair has "
            "person-level evidence, and its match probability before the gates is at least this. null: off."
        ),
    )
    skip_rules: list[str] = Field(
        default_factory=lambda: ["test_or_dummy"],
        description="Names of delete_rules whose matching incoming rows are skipped (not imported).",
    )
    excel_safe: bool = Field(
        True,
        description=(
            "Prefix cells starting with = + - @ with an apostrophe, like every CSV nayose writes. Data Loader "
            "imports the apostrophe too (e.g. a phone +81 3-…): set false for files that go straight to Data Loader."
        ),
    )


class Config(_Strict):
    # Which engine blocks, scores and clusters; the results are the same on both. Not part of the
    # dumped config (so not of a plan's identity): the engine does not change what is found.
    engine: Literal["duckdb", "spark"] = Field(
        "duckdb",
        exclude=True,
        description="duckdb (one machine, the default) or spark (nayose.spark: the session spark-submit or $NAYOSE_SPARK_MASTER gives).",
    )
    input: InputConfig = Field(default_factory=InputConfig)
    matching: MatchingConfig = Field(default_factory=MatchingConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    accounts: AccountMatchingConfig = Field(default_factory=AccountMatchingConfig)
    survivorship: SurvivorshipConfig = Field(default_factory=SurvivorshipConfig)
    delete_rules: DeleteRulesConfig = Field(default_factory=DeleteRulesConfig)
    eligibility: EligibilityConfig = Field(default_factory=EligibilityConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    import_plan: ImportPlanConfig = Field(default_factory=ImportPlanConfig)
    # the file it was read from (load_config), for errors found when a run meets its data
    _path: str | None = PrivateAttr(None)

    def __eq__(self, other: object) -> bool:
        # (the same rules read from two files are the same config: where they were read is no rule)
        if not isinstance(other, Config):
            return NotImplemented
        return self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    @model_validator(mode="after")
    def _skip_rules_named(self) -> "Config":
        names = [r.name for r in self.delete_rules.rules]
        unknown = [n for n in self.import_plan.skip_rules if n not in names]
        if unknown and "skip_rules" not in self.import_plan.model_fields_set:
            # (the default skip rules name the default delete rules: with delete rules of one's own,
            # the defaults that name none of them are not asked for)
            self.import_plan.skip_rules = [n for n in self.import_plan.skip_rules if n in names]
            return self
        if unknown:
            raise ValueError(f"import_plan.skip_rules: no delete rule named {', '.join(map(repr, unknown))} "
                             f"(delete_rules.rules: {', '.join(names) or 'none'})")
        return self


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that rejects a key given twice in one mapping (the last one silently won:
    a second `matching:` section dropped the first one's thresholds)."""

    def construct_mapping(self, node, deep=False):  # noqa: ANN001
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: construct_mapping reports it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first.line + 1})", key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path | None) -> Config:
    """Load and validate a config file; None gives the documented default."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: config file is not UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:  # a folder, no permission, an I/O error
        raise ConfigError(f"{p}: cannot read the config file ({exc.strerror or type(exc).__name__})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" line {mark.line + 1}, column {mark.column + 1}:"
        elif isinstance(getattr(exc, "position", None), int):  # yaml.reader.ReaderError
            where = f" character {exc.position + 1}:"
        else:
            where = ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
        problem = " ".join(str(problem).split())
        raise ConfigError(f"{p}:{where} invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{p}: invalid YAML: nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the config must be a mapping at the top level")
    try:
        config = Config.model_validate(data)
        config._path = str(p)
        return config
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = " ".join(str(err["msg"]).split())
        if not err["loc"] and err["type"] == "value_error":  # (a check across sections: its message names the key)
            raise ConfigError(f"{p}: {msg.removeprefix('Value error, ')}") from None
        key = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise ConfigError(f"{p}: {key}: {msg}") from None
    except RecursionError:
        raise ConfigError(f"{p}: the config is nested too deeply") from None


def default_config_yaml() -> str:
    """The default config as YAML (what you get with no file)."""
    return yaml.safe_dump(Config().model_dump(mode="json"), allow_unicode=True, sort_keys=False)
