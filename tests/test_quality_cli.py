"""``citycat quality``: an institution's and a source's score history, printed and as CSV."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone

import pytest

from citycat import cli
from citycat.cli_quality import TargetError, resolve
from citycat.config import load_sources
from expectations.mqa import score_dataset
from expectations.stars import five_star
from helpers import sqlite_inventory
from inventory.quality import save_dataset_quality
from test_mqa import cftc_nt, dgu_nt, rostock_nt

T0 = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc)
SOURCES = """\
sources:
  - id: hro
    title: Rostock open data
    kind: dcat
    url: https://www.opendata-hro.de/catalog.rdf
    institution: {name: Hanse City of Rostock, kind: council, uri: https://rathaus.rostock.de}
  - id: hro-geo
    title: Rostock geoportal
    kind: ckan
    url: https://geo.sv.rostock.de
    institution: {name: Hanse City of Rostock, kind: council, uri: https://rathaus.rostock.de}
  - id: cftc
    title: CFTC data.json
    kind: dcat-us
    url: https://www.cftc.gov/data.json
    institution: {name: Commodity Futures Trading Commission, kind: national}
"""


@pytest.fixture
def setup(env):
    tmp = env
    inv = sqlite_inventory(tmp / "data" / "inventory.sqlite")  # where the CLI looks (CITYCAT_DATA_DIR)
    path = tmp / "sources.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    scored = {"rostock": score_dataset(rostock_nt()), "dgu": score_dataset(dgu_nt()),
              "cftc": score_dataset(cftc_nt())}
    stars = {"rostock": five_star(rostock_nt()), "dgu": 0, "cftc": 0}

    def run(source: str, run_id: str, at: datetime, datasets: dict[str, str], conforms: bool | None) -> None:
        inv.start_run(source_id=source, run_id=run_id, mode="full", window_start=None, window_end=None,
                      started_at=at)
        save_dataset_quality(inv, [{"run_id": run_id, "source_id": source, "native_id": nid, "measured_at": at,
                                    "stars": stars[rec], "shacl_conforms": conforms, **scored[rec].columns()}
                                   for nid, rec in datasets.items()])

    # run keys as pipeline.run_key writes them (<source>__<run id>)
    # night 1: hro has the Rostock record and the DGU-shaped one; night 2 only Rostock (275, Good)
    run("hro", "hro__n1", T0, {"a": "rostock", "b": "dgu"}, True)
    run("hro-geo", "hro-geo__n1", T0 + timedelta(minutes=5), {"x": "cftc"}, None)
    run("hro", "hro__n2", T0 + timedelta(days=1), {"a": "rostock"}, False)
    run("cftc", "cftc__n1", T0, {"c": "cftc"}, None)
    inv.close()
    return tmp, path


def test_institution_history_table_and_standing(setup, capsys):
    tmp, path = setup
    assert cli.main(["quality", "hanse city of rostock", "--sources", str(path)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "MQA score history of institution Hanse City of Rostock (out of 405 points)"
    runs = [ln for ln in lines if ln.startswith("2026-")]
    assert [ln.split()[2] for ln in runs] == ["hro", "hro-geo", "hro"]  # by run start; cftc not included
    n1 = runs[0].split()
    assert n1[3:6] == ["n1", "2", "210.0"]  # (275 + 145) / 2
    assert runs[0].rstrip().endswith("1/0/0/1/0/0")  # DGU 0 stars, Rostock 3 stars
    assert "100%" in runs[0] and runs[1].split()[-2] == "-"  # SHACL share; not validated in hro-geo
    # now = latest run per source: hro:n2 (Rostock 275) and hro-geo:n1 (CFTC 135), one dataset each
    assert "now (2 datasets, latest run of hro, hro-geo): mean 205.0 / 405 -> Sufficient" in out
    assert "bands: Excellent 0, Good 1, Sufficient 1, Bad 0" in out


def test_source_by_id_and_csv_export(setup, capsys):
    tmp, path = setup
    target = tmp / "out" / "hro.csv"
    assert cli.main(["quality", "hro", "--sources", str(path), "--csv", str(target)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("MQA score history of source hro (Rostock open data")
    with open(target, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["run_id"] for r in rows] == ["hro__n1", "hro__n2"]
    assert rows[1]["mean_total"] == "275.0" and rows[1]["band_good"] == "1" and rows[1]["stars_3"] == "1"
    assert rows[0]["mean_reusability"] == str((75 + 45) / 2) and rows[0]["shacl_conforming_share"] == "1.0"
    assert rows[1]["shacl_conforming_share"] == "0.0"
    assert rows[0]["started_at"] == T0.isoformat()


def test_institution_by_uri(setup):
    _, path = setup
    label, ids = resolve(load_sources(path), "https://rathaus.rostock.de/")
    assert ids == ["hro", "hro-geo"] and label == "institution Hanse City of Rostock"


def test_unknown_target_suggests_names(setup, capsys):
    _, path = setup
    assert cli.main(["quality", "Hanse Cty of Rostok", "--sources", str(path)]) == 1
    err = capsys.readouterr().err
    assert "is no source id, institution name or institution URI" in err and "'Hanse City of Rostock'" in err
    with pytest.raises(TargetError):
        resolve(load_sources(path), "nobody")


def test_other_institution_sees_only_its_runs(setup, capsys):
    tmp, path = setup
    assert cli.main(["quality", "Commodity Futures Trading Commission", "--sources", str(path)]) == 0
    out = capsys.readouterr().out
    assert " cftc " in out and " n1 " in out and " hro" not in out


def test_no_measurements_yet(env, capsys):
    path = env / "sources.yaml"
    path.write_text(SOURCES, encoding="utf-8")
    assert cli.main(["quality", "cftc", "--sources", str(path)]) == 0
    assert "no quality measurements stored yet" in capsys.readouterr().out
