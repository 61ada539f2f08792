"""docs/quality.md says what the code does: every expectation, its severity, column and threshold key,
and every quality setting with its default."""

from __future__ import annotations

from citycat.config import QualityConfig
from expectations.suites import all_rules
from helpers import doc_rows

ISSUE4_SETTINGS = ("max_failed_share", "max_count_drop", "modified_future_slack_hours", "frequency_slack",
                   "data_docs", "shacl", "shacl_max_per_run")


def test_suite_table_matches_the_rules():
    documented = {cells[0].strip("`"): cells[1:4] for cells in doc_rows("quality.md", section="The suite")}
    rules = {r.name: r for r in all_rules()}
    assert set(documented) == set(rules)
    for name, (severity, column, threshold) in documented.items():
        rule = rules[name]
        assert severity == rule.severity, name
        assert column == f"`{rule.column}`", name
        assert threshold == (f"`quality.{rule.config_key}`" if rule.config_key else "—"), name


def test_settings_table_gives_each_key_and_its_default():
    documented = {cells[0].strip("`"): cells[1].strip("`") for cells in doc_rows("quality.md", section="Settings")}
    for key in ISSUE4_SETTINGS:
        default = QualityConfig.model_fields[key].default
        shown = str(default).lower() if isinstance(default, bool) else f"{default:g}" if isinstance(default, float) \
            else str(default)
        assert documented.get(f"quality.{key}") == shown, key
