"""The rules file: one YAML document validated with pydantic.

Every setting has a documented default, so nayose works with no file at all (the zero-config
path). `nayose config --show-default` prints the whole default document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nayose.errors import ConfigError

SALESFORCE_OBJECTS = ("Lead", "Contact", "Account")


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
    company_placeholders: list[str] = Field(
        default_factory=lambda: [
            "個人", "個人のお客様", "個人様", "個人事業主", "なし", "無し", "不明", "未設定", "未入力", "同上",
            "ー", "unknown", "[[Unknown]]", "n/a", "na", "none", "null", "test", "テスト", "ダミー", "dummy",
        ],
        description=(
            "Company values that mean 'no company' (a Lead's required Company filled with 個人, [[Unknown]], -). "
            "They, and a company equal to the person's own name, are treated as empty."
        ),
    )


KEY_PATTERN = r"^[a-z][a-z0-9_]*(:[1-9][0-9]?)?$"


class BlockingRule(_Strict):
    """Records become a candidate pair when every key is equal and not empty.

    A key is a normalized column name (`last_reading`), or `column:N` for its first N characters
    (`street:6`), which lets a rule survive a typo late in the value.
    """

    name: str
    keys: list[str] = Field(min_length=1)

    @field_validator("keys")
    @classmethod
    def _key_syntax(cls, keys: list[str]) -> list[str]:
        import re

        for k in keys:
            if not re.match(KEY_PATTERN, k):
                raise ValueError(f"blocking key {k!r} must be a column name or 'column:N'")
        return keys
    max_block_size: int | None = Field(
        None, ge=2, description="Skip (and report) blocks larger than this; default: matching.max_block_size."
    )


def _default_blocking_rules() -> list[BlockingRule]:
    return [
        BlockingRule(name="email", keys=["email"]),
        BlockingRule(name="mobile", keys=["mobile"]),
        BlockingRule(name="phone_last_name", keys=["phone", "last_reading"]),
        BlockingRule(name="company_last_name", keys=["company_core", "last_reading"]),
        BlockingRule(name="company_first_name", keys=["company_core", "first_reading"]),
        # The same keys on the written names: a reading guessed wrong (増畑 zohatake / masubata)
        # must not hide a pair written identically.
        BlockingRule(name="company_last_name_written", keys=["company_core", "last_name"]),
        BlockingRule(name="full_name_written", keys=["full_name"], max_block_size=10),
        BlockingRule(name="name", keys=["name_key"], max_block_size=10),
        BlockingRule(name="name_prefix", keys=["last_reading:3", "first_reading:3"], max_block_size=8),
        BlockingRule(name="last_name_postal", keys=["last_reading", "postal_code"]),
        BlockingRule(name="first_name_postal", keys=["first_reading", "postal_code"]),
        BlockingRule(name="birthdate", keys=["birthdate"]),
        BlockingRule(name="street_postal", keys=["street:6", "postal_code"], max_block_size=8),
        BlockingRule(name="street_city", keys=["street:8", "city"], max_block_size=8),
        BlockingRule(name="last_name_city", keys=["last_reading", "city"], max_block_size=8),
        BlockingRule(name="first_name_city", keys=["first_reading", "city"], max_block_size=8),
    ]


class Thresholds(_Strict):
    review: float = Field(0.5, gt=0, lt=1, description="Pairs at or above this probability are kept (review).")
    auto: float = Field(0.99, gt=0, lt=1, description="Pairs at or above this probability may be auto-merged.")

    @field_validator("auto")
    @classmethod
    def _auto_above_review(cls, v: float, info):  # noqa: ANN001
        review = info.data.get("review")
        if review is not None and v < review:
            raise ValueError("auto threshold must be >= review threshold")
        return v


class MatchingConfig(_Strict):
    blocking_rules: list[BlockingRule] = Field(default_factory=_default_blocking_rules)
    max_block_size: int = Field(
        100, ge=2, description="Blocks larger than this are skipped for that rule and reported."
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    em_iterations: int = Field(50, ge=1, le=1000)
    term_frequency: bool = Field(True, description="Adjust exact-match weights by value frequency.")
    same_home_other_given_name: Literal["different_people", "review"] = Field(
        "different_people",
        description=(
            "Records with the same surname at the same home address but different given names: family "
            "members (different_people, the default for CRM data), or possibly one person's corrupted "
            "record (review; for person registers without households)."
        ),
    )


class ClusterConfig(_Strict):
    max_auto_size: int = Field(
        8, ge=2, description="A group larger than this is never auto-merged (status review)."
    )
    max_size: int = Field(
        50, ge=2, description="A group larger than this is split into its strongly linked parts."
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


def _default_field_groups() -> list[FieldGroup]:
    return [
        FieldGroup(name="address", fields=["Street", "City", "State", "PostalCode", "Country"]),
        FieldGroup(
            name="mailing_address",
            fields=["MailingStreet", "MailingCity", "MailingState", "MailingPostalCode", "MailingCountry"],
        ),
        FieldGroup(name="email", fields=["Email", "HasOptedOutOfEmail", "EmailBouncedReason", "EmailBouncedDate"]),
    ]


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
        description="LeadSource values (compared after NFKC, trimmed, case-insensitive) that mark a business-card record.",
    )
    card_provenance_fields: list[str] = Field(
        default_factory=lambda: ["Sansan_Person_Id__c", "Sansan_Company_Id__c", "Eight_Card_Id__c"],
        description="Fields that mark a business-card record when filled (e.g. the Sansan person / company IDs).",
    )
    card_exempt_fields: list[str] = Field(
        default_factory=list, description="Fields where a business-card value does NOT take precedence."
    )
    master_order: list[Literal["contact_over_lead", "business_card", "oldest", "most_recent", "most_complete"]] = Field(
        default_factory=lambda: ["contact_over_lead", "business_card", "oldest", "most_complete"],
        description=(
            "How the master is chosen, first key first; the smallest Id breaks remaining ties. In a group holding "
            "Leads and Contacts the master is always a Contact (a Lead is converted into it)."
        ),
    )
    default_rule: Literal[
        "source_priority", "most_recent", "oldest", "most_complete", "master", "max", "min", "keep_master_if_set",
    ] = Field("most_recent", description="Rule for fields not named in field_rules / field_groups (most recent = LastModifiedDate).")
    field_rules: dict[str, Literal[
        "source_priority", "most_recent", "oldest", "most_complete", "master", "max", "min", "union",
        "keep_master_if_set", "any_true", "native_script",
    ]] = Field(
        default_factory=lambda: {
            "AccountId": "keep_master_if_set",
            "LeadSource": "source_priority",
            # 佐藤 over サトウ over Sato: a newer romaji or kana spelling does not replace the kanji
            "LastName": "native_script",
            "FirstName": "native_script",
            "Company": "native_script",
            "Account.Name": "native_script",
        },
        description=(
            "Rule per field: source_priority (rank of inflow routes), most_recent, oldest, most_complete (the value "
            "of the most complete record), master, keep_master_if_set, max, min, union (multi-select picklists, "
            "';'-joined), native_script (kanji, then kana, then other scripts; then the most recent), any_true (a checkbox true on any record stays true, e.g. `DoNotCall: any_true`; it takes "
            "precedence over the business-card rule). By default HasOptedOutOfEmail travels with its email in the "
            "email field group."
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
        ],
        description=(
            "Read-only system fields: not merged value by value, they stay with the master. OwnerId is not one: "
            "like every field it follows the business-card rule (the card's owner met the person), then its rule."
        ),
    )
    lead_to_contact_fields: dict[str, str] = Field(
        default_factory=lambda: {
            "Street": "MailingStreet", "City": "MailingCity", "State": "MailingState",
            "PostalCode": "MailingPostalCode", "Country": "MailingCountry", "Company": "Account.Name",
        },
        description="When Leads are converted into a Contact master, their values compete under these Contact fields.",
    )

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
    no_valid_email: bool = Field(False, description="Also require: no syntactically valid email in email_fields.")
    no_phone: bool = Field(False, description="Also require: no phone number (6+ digits) in phone_fields.")
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
        DeleteRule(name="no_contact_info", reason="no valid email and no phone", no_valid_email=True, no_phone=True),
    ]


class DeleteRulesConfig(_Strict):
    """Junk and test records proposed for deletion (delete_plan.csv). Records in a duplicate group
    (auto / review) are never proposed: they go through the merge plan."""

    rules: list[DeleteRule] = Field(default_factory=_default_delete_rules)
    email_fields: list[str] = Field(default_factory=lambda: ["Email"])
    phone_fields: list[str] = Field(default_factory=lambda: ["Phone", "MobilePhone"])


class Config(_Strict):
    input: InputConfig = Field(default_factory=InputConfig)
    matching: MatchingConfig = Field(default_factory=MatchingConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    survivorship: SurvivorshipConfig = Field(default_factory=SurvivorshipConfig)
    delete_rules: DeleteRulesConfig = Field(default_factory=DeleteRulesConfig)


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
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}:{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the config must be a mapping at the top level")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"{p}: {key}: {err['msg']}") from None


def default_config_yaml() -> str:
    """The default config as YAML (what you get with no file)."""
    return yaml.safe_dump(Config().model_dump(mode="json"), allow_unicode=True, sort_keys=False)
