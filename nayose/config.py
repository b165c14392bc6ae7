"""The rules file: one YAML document validated with pydantic.

Every setting has a documented default, so nayose works with no file at all (the zero-config
path). `nayose config --show-default` prints the whole default document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class Config(_Strict):
    input: InputConfig = Field(default_factory=InputConfig)
    matching: MatchingConfig = Field(default_factory=MatchingConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)


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
