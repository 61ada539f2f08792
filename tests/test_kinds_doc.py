"""docs/sources.md documents every installed kind's options, exactly the keys its model accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from citycat import cli, kinds

DOC = (Path(__file__).resolve().parent.parent / "docs" / "sources.md").read_text(encoding="utf-8")


def documented_keys(kind: str) -> list[str] | None:
    m = re.search(rf"^## Options of the `{re.escape(kind)}` kind\n(.*?)(?=^## |\Z)", DOC, re.M | re.S)
    if not m:
        return None
    return re.findall(r"^\| `([^`]+)` \|", m.group(1), re.M)


@pytest.mark.parametrize("kind", sorted(kinds.kinds()))
def test_every_kind_has_an_options_table_with_exactly_its_keys(kind):
    keys = documented_keys(kind)
    assert keys is not None, f"docs/sources.md has no '## Options of the `{kind}` kind' section " \
                             f"(generate it: citycat sources kinds --markdown {kind})"
    assert keys == [name for name, _, _ in kinds.option_rows(kind)]


def test_a_missing_key_would_be_caught():
    assert documented_keys("ckan") != [name for name, _, _ in kinds.option_rows("ckan")][:-1]


def test_cli_lists_every_kind(capsys):
    assert cli.main(["sources", "kinds"]) == 0
    out = capsys.readouterr().out
    for kind in kinds.kinds():
        assert re.search(rf"^{re.escape(kind)}  \(", out, re.M)
