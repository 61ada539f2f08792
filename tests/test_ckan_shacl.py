"""Mapped real CKAN packages conform to the official DCAT-AP 3.0.1 shapes (no sh:Violation).

Uses expectations.shacl (split shapes + the vocabulary bridge). The full package is the data.gov.uk
record with every documented field filled in (tests/test_mapping_docs.py), to cover licence, media
type, temporal and place-URI values the two real records do not have.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expectations.shacl import validate_graph
from test_mapping_docs import CTX, _full_package
from transforms.ckan import map_package

DATA = Path(__file__).parent / "data" / "ckan_mapping"


def _pkg(name: str) -> dict:
    return json.loads((DATA / name).read_text(encoding="utf-8"))["result"]


@pytest.mark.parametrize("name", ["dgu_package_show_inspire.json", "ckan22_package_show_no_resources.json"])
def test_real_packages_conform(name):
    result = validate_graph(map_package(_pkg(name), CTX).graph())
    assert result.violations == 0, result.messages
    assert result.conforms


def test_fully_populated_package_conforms():
    result = validate_graph(map_package(_full_package(), CTX).graph())
    assert result.violations == 0, result.messages


def test_shapes_do_catch_a_broken_mapping():
    """The check is not vacuous: a distribution without its mandatory accessURL is a violation."""
    from rdflib.namespace import DCAT

    graph = map_package(_pkg("dgu_package_show_inspire.json"), CTX).graph()
    graph.remove((None, DCAT.accessURL, None))
    result = validate_graph(graph)
    assert result.violations >= 1 and any("accessURL" in k for k in result.by_shape)
