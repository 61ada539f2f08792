"""5-star open data levels on the real records of test_mqa, and on graphs derived from Rostock's.

The derived graphs change the real N-Triples line by line (named in each test), so each level's
rule is shown to be the thing that moves the level.
"""

from __future__ import annotations

import pytest

from expectations.stars import five_star
from test_mqa import cftc_nt, dgu_nt, rostock_nt

EU = "http://publications.europa.eu/resource/authority/"
DCT = "http://purl.org/dc/terms/"
DCAT = "http://www.w3.org/ns/dcat#"


@pytest.fixture(scope="module")
def rostock() -> str:
    return rostock_nt()


def _dataset(nt: str) -> str:
    return next(line.split(" ")[0] for line in nt.splitlines()
                if line.endswith(f"<{DCAT}Dataset> ."))


def _without(nt: str, *needles: str) -> str:
    return "\n".join(line for line in nt.splitlines() if not any(n in line for n in needles)) + "\n"


def _retype(nt: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        nt = nt.replace(f"<{EU}file-type/{old}>", f"<{EU}file-type/{new}>")
    return nt


def _add_distribution(nt: str, name: str, fmt: str) -> str:
    ds = _dataset(nt)
    node = f"<{ds[1:-1]}/resource/{name}>"
    return nt + (f"{ds} <{DCAT}distribution> {node} .\n"
                 f"{node} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{DCAT}Distribution> .\n"
                 f"{node} <{DCT}format> <{EU}file-type/{fmt}> .\n"
                 f"{node} <{DCAT}accessURL> <https://geo.sv.rostock.de/{name}> .\n")


def test_real_records_levels(rostock):
    assert five_star(dgu_nt()) == 0  # the licence is free text: no open licence, so no star at all
    assert five_star(cftc_nt()) == 0  # no licence in data.json
    # CC0 (as dcat-ap.de's cc-zero, which data.europa.eu maps to EU CC0), CSV/GeoJSON/KML files, no RDF
    assert five_star(rostock) == 3


def test_closed_licence_is_zero_stars_whatever_the_format(rostock):
    nc = rostock.replace("<http://dcat-ap.de/def/licenses/cc-zero>", f"<{EU}licence/CC_BYNC_4_0>")
    assert five_star(nc) == 0  # non-commercial is not open (Open Definition)


def test_open_licence_without_machine_readable_format_is_one_star(rostock):
    assert five_star(_without(rostock, f"<{DCT}format>", f"<{DCAT}mediaType>")) == 1


def test_machine_readable_but_proprietary_only_is_two_stars(rostock):
    # every file becomes XLSX (machine-readable, proprietary) and the media types are dropped
    xlsx = _retype(_without(rostock, f"<{DCAT}mediaType>"), {"CSV": "XLSX", "GEOJSON": "XLSX", "KML": "XLSX",
                                                               "GML": "XLSX"})
    assert five_star(xlsx) == 2


def test_rdf_distribution_is_four_stars(rostock):
    assert five_star(_add_distribution(rostock, "lieferservices.ttl", "RDF_TURTLE")) == 4


def test_link_to_other_data_is_five_stars_but_own_nodes_do_not_count(rostock):
    four = _add_distribution(rostock, "lieferservices.ttl", "RDF_TURTLE")
    ds = _dataset(four)
    own = f"{ds} <{DCT}relation> <{ds[1:-1]}#something> .\n"
    assert five_star(four + own) == 4
    other = f"{ds} <{DCT}relation> <https://www.opendata-hro.de/dataset/gastronomie> .\n"
    assert five_star(four + other) == 5


def test_five_needs_four(rostock):
    ds = _dataset(rostock)
    assert five_star(rostock + f"{ds} <{DCT}relation> <https://example.org/other> .\n") == 3
