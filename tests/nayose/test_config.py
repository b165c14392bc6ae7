"""The rules file (nayose.config.load_config, `nayose config --check`): what it rejects, with the
file and the key named on one line, and how the import's header mapping combines with the default."""

from __future__ import annotations

import pytest

from nayose.cli import main
from nayose.config import Config, load_config
from nayose.errors import ConfigError


def _cfg(tmp_path, text: str):
    p = tmp_path / "nayose.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _error(p) -> str:
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{p}:"), msg
    return msg


def _check(p, capsys) -> tuple[int, str]:
    code = main(["config", "--check", str(p)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("text, line, key", [
    # a second `matching:` section silently replaced the first one (its thresholds were lost)
    ("matching:\n  thresholds: {review: 0.6, auto: 0.99}\nmatching:\n  max_block_size: 50\n", 3, "matching"),
    # one header mapped twice: the last mapping won
    ("input:\n  columns:\n    会社名: Company\n    会社名: Account.Name\n", 4, "会社名"),
    ("import_plan:\n  incoming_columns:\n    氏名: LastName\n    メールアドレス: Email\n    氏名: FirstName\n", 5, "氏名"),
])
def test_duplicate_yaml_keys_are_an_error_with_the_line(tmp_path, capsys, text, line, key):
    p = _cfg(tmp_path, text)
    msg = _error(p)
    assert f"line {line}" in msg and f"duplicate key {key!r}" in msg, msg
    code, err = _check(p, capsys)
    assert code == 2 and f"duplicate key {key!r}" in err


def test_yaml_merge_keys_are_not_duplicates(tmp_path):
    p = _cfg(tmp_path, "cluster: &c {max_auto_size: 6}\naccounts:\n  <<: {max_auto_size: 12}\n  enabled: true\n")
    assert load_config(p).accounts.max_auto_size == 12


@pytest.mark.parametrize("thresholds", ["{review: 0.995}", "{review: 0.9, auto: 0.6}", "{auto: 0.6, review: 0.9}",
                                        "{auto: 0.4}"])
def test_review_threshold_above_auto_is_an_error_even_with_auto_left_default(tmp_path, capsys, thresholds):
    p = _cfg(tmp_path, f"matching:\n  thresholds: {thresholds}\n")
    msg = _error(p)
    assert "matching.thresholds" in msg and "auto threshold" in msg and "review threshold" in msg, msg
    assert _check(p, capsys)[0] == 2


def test_equal_thresholds_are_fine(tmp_path):
    p = _cfg(tmp_path, "matching:\n  thresholds: {review: 0.7, auto: 0.7}\n")
    assert load_config(p).matching.thresholds.review == 0.7


def test_unknown_skip_rule_is_a_config_error_naming_file_and_key(tmp_path, capsys):
    p = _cfg(tmp_path, "import_plan:\n  skip_rules: [test_or_dumy]\n")
    msg = _error(p)
    assert "import_plan.skip_rules" in msg and "'test_or_dumy'" in msg and "test_or_dummy" in msg, msg
    assert _check(p, capsys)[0] == 2
    ok = _cfg(tmp_path, "delete_rules:\n  rules:\n    - {name: 展示会ダミー, reason: dummy, fields: [LastName], "
                        "patterns: ['ダミー.*']}\nimport_plan:\n  skip_rules: [展示会ダミー]\n")
    assert load_config(ok).import_plan.skip_rules == ["展示会ダミー"]


@pytest.mark.parametrize("section, name, hint", [
    ("field_rules:\n    Emial: oldest", "Emial", "Email"),
    ("field_rules:\n    Titel: most_recent", "Titel", "Title"),
    ("card_exempt_fields: [Tilte]", "Tilte", "Title"),
])
def test_field_rules_on_unknown_standard_fields_are_an_error(tmp_path, capsys, section, name, hint):
    p = _cfg(tmp_path, f"survivorship:\n  {section}\n")
    msg = _error(p)
    assert "survivorship." in msg and repr(name) in msg and f"did you mean {hint}?" in msg, msg
    assert _check(p, capsys)[0] == 2


def test_field_rules_on_standard_custom_and_csv_fields_are_fine(tmp_path):
    p = _cfg(tmp_path, "survivorship:\n  field_rules:\n    Email: oldest\n    Segment__c: union\n"
                       "    ns__Rank__c: max\n    Account.Name: native_script\n    法人番号: keep_master_if_set\n"
                       "    PersonMobilePhone: most_recent\n  card_exempt_fields: [Title, Department, Phone]\n")
    rules = load_config(p).survivorship.field_rules
    assert rules["Email"] == "oldest" and rules["Segment__c"] == "union" and rules["法人番号"] == "keep_master_if_set"


def test_incoming_columns_are_merged_over_the_default(tmp_path):
    """Adding one header used to replace the whole default mapping: 氏名, 会社名, メールアドレス … were
    no longer mapped and every Sansan row became an insert with no name."""
    p = _cfg(tmp_path, "import_plan:\n  incoming_columns:\n    名刺交換日: CardExchangeDate__c\n    携帯電話: null\n"
                       "    電話番号: ''\n    部署名: Division__c\n")
    cols = load_config(p).import_plan.incoming_columns
    assert cols["名刺交換日"] == "CardExchangeDate__c"
    assert cols["氏名"] == "LastName" and cols["会社名"] == "Company" and cols["メールアドレス"] == "Email"
    assert cols["部署名"] == "Division__c"  # the user's mapping wins
    assert cols["携帯電話"] == "" and cols["電話番号"] == ""  # null / '' drop a default
    c = load_config(p)
    assert Config.model_validate(c.model_dump(mode="json")).model_dump() == c.model_dump()  # (reads back the same)
    # Eight's export headers are in the default
    d = Config().import_plan.incoming_columns
    assert (d["姓"], d["名"], d["e-mail"], d["TEL会社"]) == ("LastName", "FirstName", "Email", "Phone")


@pytest.mark.parametrize("section", ["import_plan:\n  incoming_columns", "input:\n  columns"])
def test_a_misspelt_mapping_target_is_a_config_error(tmp_path, capsys, section):
    p = _cfg(tmp_path, f"{section}:\n    会社名: Compnay\n    氏名: LastName\n")
    msg = _error(p)
    assert "会社名: 'Compnay'" in msg and "did you mean Company?" in msg, msg
    assert _check(p, capsys)[0] == 2
    ok = _cfg(tmp_path, f"{section}:\n    会社名: Company\n    名刺ID: Sansan_Card_Id__c\n    担当: Owner.Name\n")
    assert load_config(ok) is not None


def test_field_rules_of_a_file_change_those_fields_and_keep_the_other_defaults(tmp_path):
    """`field_rules: {Email: oldest}` used to replace every default rule: the consent fields'
    any_true (an opt-out on any record kept) and the master's owner and status were lost. The
    file's rules now go over the defaults; a field set to null goes back to the default rule."""
    rules = load_config(_cfg(tmp_path, "survivorship:\n  field_rules:\n    Email: oldest\n    OwnerId: null\n")).survivorship.field_rules
    assert rules["Email"] == "oldest"
    assert rules["HasOptedOutOfEmail"] == rules["DoNotCall"] == "any_true" and rules["Status"] == "keep_master_if_set"
    assert "OwnerId" not in rules
