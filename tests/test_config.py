"""sources.yaml: models, the one-pass checker and the shipped West Yorkshire default.

The crafted files under tests/data/config mark each expected problem with an
``# expect: KEY`` comment on its line, so a test compares the reported (line, key) pairs
with the markers exactly: a problem reported on the wrong line, a missed one or an extra
one all fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import harvesters
from citycat.config import (ConfigError, InstitutionConfig, Problem, SourceConfig, UnknownSourceError,
                            check_sources, load_sources)
from harvesters import Harvester, HarvesterOptions
from harvesters import base as harvester_base

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "config"

try:
    harvesters.load_builtin()
except ImportError:  # a built-in module still being written; tests needing it skip below
    pass


class CfgTestOptions(HarvesterOptions):
    organization: str | list[str] | None = None
    rows: int = 1000
    flag: bool = False
    api_key_env: str | None = None


class CfgTestHarvester(Harvester):
    kind = "cfgtest"
    Options = CfgTestOptions


class CfgFilesHarvester(Harvester):
    kind = "cfgfiles"
    url_schemes = ("http", "https", "file")


@pytest.fixture(autouse=True)
def test_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the test kinds only while a test runs, so other test modules never see them."""
    monkeypatch.setitem(harvester_base._REGISTRY, "cfgtest", CfgTestHarvester)
    monkeypatch.setitem(harvester_base._REGISTRY, "cfgfiles", CfgFilesHarvester)


def expected_markers(path: Path) -> set[tuple[int | None, str]]:
    expected: set[tuple[int | None, str]] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if m := re.search(r"# expect: (.+)$", line):
            expected |= {(number, key.strip()) for key in m.group(1).split(",")}
        if m := re.search(r"# expect-unplaced: (.+)$", line):
            expected |= {(None, key.strip()) for key in m.group(1).split(",")}
    return expected


def reported(problems: list[Problem]) -> set[tuple[int | None, str]]:
    return {(p.line, p.key) for p in problems}


def by_key(problems: list[Problem]) -> dict[str, Problem]:
    return {p.key: p for p in problems}


# --------------------------------------------------------------------------- the shipped default


def test_shipped_sources_yaml_loads_without_problems() -> None:
    if "ckan" not in harvesters.registry():
        pytest.skip("harvesters/ckan.py is not written yet, so the 'ckan' kind is not registered")
    assert check_sources(ROOT / "sources.yaml") == []
    loaded = load_sources(ROOT / "sources.yaml")
    assert len(loaded.sources) >= 6
    assert len(set(loaded.ids)) == len(loaded.ids)
    kinds = {s.institution.kind for s in loaded.sources}
    assert {"council", "combined-authority"} <= kinds
    ckan = [s for s in loaded.sources if s.kind == "ckan"]
    assert len(ckan) >= 6
    for source in ckan:  # never the whole national portal by mistake: each CKAN source is filtered
        assert source.options.organization, source.id
        assert source.options.use_search is True  # a default from the real CKAN Options model


def test_shipped_sources_yaml_comments_every_top_level_and_entry_key() -> None:
    """Every key of the first entry and of catalog carries a comment (the file documents itself)."""
    lines = (ROOT / "sources.yaml").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("- id:"))
    first_entry = []
    for line in lines[start:]:
        if first_entry and (line.strip().startswith("- id:") or not line.strip()):
            break
        first_entry.append(line)
    catalog = [line for line in lines[:start] if re.match(r"^  \w+:", line)]
    uncommented = [line for line in first_entry + catalog if ":" in line and "#" not in line]
    assert uncommented == []


def test_every_core_key_is_documented_in_docs() -> None:
    text = (ROOT / "docs" / "sources.md").read_text(encoding="utf-8")
    keys = [k for k in SourceConfig.model_fields if k != "options"]
    keys += [f"institution.{k}" for k in InstitutionConfig.model_fields]
    keys += ["quality.max_failed_share", "quality.max_drop", "catalog.base_uri", "catalog.licence_uri",
             "catalog.page_size", "api_key_env"]
    missing = [k for k in keys if f"`{k}`" not in text]
    assert missing == []


# --------------------------------------------------------------------------- good files


def test_minimal_file_gets_defaults_from_the_models_and_the_kinds_options() -> None:
    loaded = load_sources(DATA / "good_minimal.yaml")
    source = loaded.get("minimal")
    assert source.schedule == "0 2 * * *" and source.enabled is True
    assert (source.quality.max_failed_share, source.quality.max_drop) == (0.1, 0.5)
    assert isinstance(source.options, CfgTestOptions)
    assert (source.options.rows, source.options.flag, source.options.organization) == (1000, False, None)
    assert source.host == "data.example.org"
    assert loaded.catalog.base_uri == "http://localhost:8000"
    assert loaded.catalog.licence_uri == "http://publications.europa.eu/resource/authority/licence/CC_BY_4_0"
    assert loaded.path == DATA / "good_minimal.yaml"


def test_full_file_with_anchors_presets_lists_and_file_kinds() -> None:
    loaded = load_sources(DATA / "good_full.yaml")
    a, b, c = loaded.sources
    assert loaded.catalog.base_uri == "https://inventory.example.org/citycat"  # trailing slash dropped
    assert loaded.catalog.page_size == 50
    assert (a.kind, a.url, a.options.rows) == ("cfgtest", "https://data.example.org", 250)  # from the anchor
    assert a.options.api_key_env == "CITYCAT_COUNCIL_A_API_KEY" and a.schedule == "@daily"
    assert b.options.organization == ["police-b", "police-b-archive"] and b.enabled is False
    assert b.airflow_conn_id == "police_b_ckan" and b.host == "127.0.0.1"
    assert c.url == "data/register.csv" and c.host == "localhost"
    assert [s.id for s in loaded.enabled] == ["council-a", "register-c"]


def test_kind_options_from_the_real_ckan_kind() -> None:
    if "ckan" not in harvesters.registry():
        pytest.skip("harvesters/ckan.py is not written yet, so the 'ckan' kind is not registered")
    source = SourceConfig.from_entry({
        "id": "leeds", "title": "Leeds", "kind": "ckan", "url": "https://data.example.org",
        "institution": {"name": "Leeds City Council", "kind": "council"}, "organization": "leeds-city-council"})
    assert source.options.organization == "leeds-city-council"
    assert source.options.rows == 1000 and source.options.include_types == ["dataset"]
    assert type(source.options) is harvesters.get("ckan").Options


def test_real_ckan_kind_rejects_bad_options_with_its_own_keys(tmp_path: Path) -> None:
    if "ckan" not in harvesters.registry():
        pytest.skip("harvesters/ckan.py is not written yet, so the 'ckan' kind is not registered")
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n"
                    "  - id: leeds\n"
                    "    title: Leeds\n"
                    "    kind: ckan\n"
                    "    url: https://ckan.publishing.service.gov.uk\n"
                    "    institution: {name: Leeds City Council, kind: council}\n"
                    "    organisation: leeds-city-council\n"
                    "    rows: 5000\n"
                    "    include_types: dataset\n")
    problems = by_key(check_sources(path))
    assert set(problems) == {"sources[0].organisation", "sources[0].rows", "sources[0].include_types"}
    assert problems["sources[0].organisation"].line == 7
    assert "did you mean 'organization'" in problems["sources[0].organisation"].fix
    assert "use_search" in problems["sources[0].organisation"].fix  # the kind's own option names
    assert "1000" in problems["sources[0].rows"].message and "rows: 1000" in problems["sources[0].rows"].fix
    assert "expected a list" in problems["sources[0].include_types"].message


# --------------------------------------------------------------------------- each problem, placed


@pytest.mark.parametrize("name, fix_fragment", [
    ("bad_unknown_kind.yaml", "did you mean 'cfgtest'"),
    ("bad_missing_url.yaml", "add url: https://"),
    ("bad_url_scheme.yaml", "https"),
    ("bad_duplicate_id.yaml", "give each source its own id"),
    ("bad_id_slug.yaml", "lower-case slug"),
    ("bad_cron.yaml", '"0 2 * * *"'),
    ("bad_unknown_option.yaml", "did you mean 'organization'"),
    ("bad_option_type.yaml", "e.g. rows: 1000"),
    ("bad_inline_secret.yaml", "set api_key_env: CITYCAT_"),
    ("bad_yaml_syntax.yaml", 'quote values that start with @'),
    ("bad_no_sources.yaml", "add `sources:`"),
    ("bad_many.yaml", "did you mean 'cfgtest'"),
])
def test_problem_is_reported_on_its_line_with_key_and_fix(name: str, fix_fragment: str) -> None:
    path = DATA / name
    problems = check_sources(path)
    assert reported(problems) == expected_markers(path), "\n".join(map(str, problems))
    assert all(p.fix and p.message for p in problems)
    assert any(fix_fragment in p.fix for p in problems), "\n".join(map(str, problems))
    with pytest.raises(ConfigError) as raised:
        load_sources(path)
    assert raised.value.problems == problems


def test_messages_name_the_reason() -> None:
    unknown_kind = by_key(check_sources(DATA / "bad_unknown_kind.yaml"))["sources[0].kind"]
    assert "unknown kind 'cfgtset'" in unknown_kind.message and "cfgfiles" in unknown_kind.fix
    cron = by_key(check_sources(DATA / "bad_cron.yaml"))
    assert "hour field '25'" in cron["sources[0].schedule"].message
    assert "5 fields" in cron["sources[1].schedule"].message and "has 4" in cron["sources[1].schedule"].message
    dup = by_key(check_sources(DATA / "bad_duplicate_id.yaml"))["sources[1].id"]
    assert "line 2 and line 7" in dup.message
    option = by_key(check_sources(DATA / "bad_unknown_option.yaml"))
    assert "did you mean 'schedule'" in option["sources[0].shedule"].fix
    assert "rows" in option["sources[0].organisation"].fix  # lists the kind's allowed keys
    types = by_key(check_sources(DATA / "bad_option_type.yaml"))
    assert "expected a whole number, got 'lots'" in types["sources[0].rows"].message
    assert "true or false" in types["sources[0].flag"].message
    assert "text or a list" in types["sources[0].organization"].message  # the union, said once
    item = types["sources[1].organization[1]"]
    assert "expected text, got 7" in item.message and "every item of organization" in item.fix
    scheme = by_key(check_sources(DATA / "bad_url_scheme.yaml"))
    assert "ftp://" in scheme["sources[0].url"].message


def test_problem_renders_as_file_line_key_message_fix() -> None:
    problem = by_key(check_sources(DATA / "bad_unknown_kind.yaml"))["sources[0].kind"]
    text = str(problem)
    assert text.startswith(f"{DATA / 'bad_unknown_kind.yaml'}:4: sources[0].kind: unknown kind 'cfgtset'")
    assert " — fix: did you mean 'cfgtest'?" in text


def test_yaml_syntax_error_gives_line_and_column() -> None:
    (problem,) = check_sources(DATA / "bad_yaml_syntax.yaml")
    assert problem.line == 7 and "column 15" in problem.message


def test_many_problems_are_all_reported_in_one_pass_in_file_order() -> None:
    problems = check_sources(DATA / "bad_many.yaml")
    assert len(problems) == len(expected_markers(DATA / "bad_many.yaml")) > 10
    lines = [p.line or 0 for p in problems]
    assert lines == sorted(lines)
    with pytest.raises(ConfigError) as raised:
        load_sources(DATA / "bad_many.yaml")
    assert str(raised.value).startswith(f"{len(problems)} problems in the sources configuration:")
    assert all(str(p) in str(raised.value) for p in problems)


# --------------------------------------------------------------------------- secrets


def test_inline_secrets_are_refused_and_never_echoed() -> None:
    problems = check_sources(DATA / "bad_inline_secret.yaml")
    keys = by_key(problems)
    assert "secret written inline" in keys["sources[0].api_key"].message
    assert "set api_key_env: CITYCAT_LEEDS_API_KEY and export the key in that variable" in keys["sources[0].api_key"].fix
    assert "credential" in keys["sources[1].url"].message and "apikey" in keys["sources[2].url"].message
    assert "must name an environment variable" in keys["sources[1].api_key_env"].message
    for p in problems:
        assert "SECRET-VALUE" not in str(p)


def test_secret_by_reference_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text((DATA / "good_minimal.yaml").read_text() + "    api_key_env: LEEDS_CKAN_KEY\n"
                    "    airflow_conn_id: leeds_ckan\n")
    source = load_sources(path).sources[0]
    assert source.options.api_key_env == "LEEDS_CKAN_KEY" and source.airflow_conn_id == "leeds_ckan"


# --------------------------------------------------------------------------- finding the file


def test_citycat_sources_environment_variable_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CITYCAT_SOURCES", str(DATA / "good_full.yaml"))
    assert load_sources().ids == ["council-a", "police_b", "register-c"]
    assert load_sources(DATA / "good_minimal.yaml").ids == ["minimal"]  # an explicit path wins
    monkeypatch.delenv("CITYCAT_SOURCES")
    (tmp_path / "sources.yaml").write_text((DATA / "good_minimal.yaml").read_text())
    assert load_sources().path == Path("sources.yaml")  # else ./sources.yaml


def test_missing_file_is_one_clear_problem(tmp_path: Path) -> None:
    (problem,) = check_sources(tmp_path / "nope.yaml")
    assert problem.line is None and "not found" in problem.message and "CITYCAT_SOURCES" in problem.fix


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("- id: a\n", "top level must be a mapping"),
    ("sources: []\n", "non-empty list"),
    ("sources: {id: a}\n", "must be a list"),
])
def test_wrong_file_shapes(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    problems = check_sources(path)
    assert len(problems) == 1 and message in problems[0].message


# --------------------------------------------------------------------------- models used directly


def test_get_unknown_source_lists_known_ids() -> None:
    loaded = load_sources(DATA / "good_full.yaml")
    with pytest.raises(UnknownSourceError) as raised:
        loaded.get("council_a")
    text = str(raised.value)
    assert "no source with id 'council_a'" in text and "did you mean 'council-a'" in text
    assert "police_b, register-c" in text
    assert isinstance(raised.value, KeyError) and isinstance(raised.value, ConfigError)


def test_source_config_built_in_code_validates_too() -> None:
    entry = {"id": "a", "title": "A", "kind": "cfgtest", "url": "https://x.example.org",
             "institution": {"name": "A", "kind": "nhs"}}
    assert SourceConfig.from_entry({**entry, "rows": 5}).options.rows == 5
    typed = SourceConfig.model_validate({**entry, "options": {"flag": True}})
    assert isinstance(typed.options, CfgTestOptions) and typed.options.flag is True
    with pytest.raises(ValueError, match="5 fields"):
        SourceConfig.from_entry({**entry, "schedule": "daily at two"})
    with pytest.raises(ValueError, match="http"):
        SourceConfig.from_entry({**entry, "url": "data/file.csv"})
    files = SourceConfig.from_entry({**entry, "kind": "cfgfiles", "url": "data/file.csv"})
    assert files.host == "localhost"
    assert files.model_dump()["options"] == {}
