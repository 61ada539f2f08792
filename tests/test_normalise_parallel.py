"""Normalise in worker processes writes exactly what the in-process run writes, and stays bounded.

The speed-ups behind it (fast literal builders, the plain-text short cut in transforms.text) must not
change a byte of output either; their equivalence with the general code paths is checked here too.
"""

from __future__ import annotations

import gzip
import json
import os
import random
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from rdflib import Literal
from rdflib.namespace import XSD

import transforms
from citycat import archive, normalise as normalise_stage, pipeline
from citycat.config import load_sources
from citycat.synthetic import SyntheticPackages, SyntheticSpec
from harvesters.base import RawRecord
from transforms import rdf, text, uris
from transforms.ckan import map_package

RECORDED = Path(__file__).resolve().parent / "data" / "ckan"
CHUNK = 64  # small chunks: many in flight, errors and tombstones spread over several chunks


def _source(tmp_path: Path):
    cfg = tmp_path / "sources.yaml"
    cfg.write_text("catalog:\n  base_uri: http://localhost:8000\n  title: t\nsources:\n"
                   "  - id: par\n    title: parallel test\n    kind: ckan\n    url: https://data.example.org\n"
                   "    institution: {name: Test Council, kind: council}\n", encoding="utf-8")
    return load_sources(cfg).sources[0]


def _recorded_packages() -> list[dict]:
    """Every package in the recorded real replies: package_show envelopes, search results, bare lists."""
    out = []
    for f in sorted(RECORDED.glob("*.json")):
        data = json.loads(f.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "result" in data:
            data = data["result"]
        items = data.get("results", [data]) if isinstance(data, dict) else data
        out += [p for p in items if isinstance(p, dict)]
    return out


def _record_line(pkg: dict) -> str:
    rid = str(pkg.get("id") or pkg.get("name") or "no-id")
    return RawRecord("par", rid, "2026-11-20T00:00:00+00:00", "application/json", pkg,
                     pkg.get("state") == "deleted", pkg.get("metadata_modified")).to_json()


BAD_LINES = {  # position in the archive -> (line, expected error's native_id, field)
    5: ("{this is not json", "line 6", None),
    700: (_record_line({"id": "", "notes": "no id, no title, no name"}), "no-id", "title"),
    1500: (json.dumps({"source_id": "par", "payload": {}}), "line 1501", None),  # not a RawRecord shape
    2400: (_record_line({"title": "   ", "name": "", "id": None, "resources": []}), "no-id", "title"),
}


@pytest.fixture(scope="module")
def raw_archive(tmp_path_factory) -> Path:
    """~3,000 synthetic packages (every 97th a tombstone), the real recorded ones, and injected bad lines."""
    path = tmp_path_factory.mktemp("raw") / "run.jsonl.gz"
    synthetic = SyntheticPackages(SyntheticSpec(count=2_950, seed=7, deleted_every=97))
    lines = [_record_line(synthetic.package(i)) for i in range(len(synthetic))]
    lines[1000:1000] = [_record_line(p) for p in _recorded_packages()]
    for pos, (line, _, _) in sorted(BAD_LINES.items()):
        lines.insert(pos, line)
    with archive.write_lines(path) as fh:
        for line in lines:
            fh.write(line + "\n")
    return path


def _run(tmp_path: Path, raw: Path, workers: int, name: str) -> tuple[pipeline.NormaliseOutcome, list[int]]:
    calls: list[int] = []
    out = pipeline.normalise(_source(tmp_path), name, raw, data_dir=tmp_path / name, base_uri="http://localhost:8000",
                             progress=calls.append, workers=workers, chunk_size=CHUNK)
    return out, calls


def test_parallel_output_is_byte_identical_to_sequential(tmp_path, raw_archive):
    seq, seq_calls = _run(tmp_path, raw_archive, 1, "seq")
    par, par_calls = _run(tmp_path, raw_archive, 2, "par")
    assert set(seq_calls) == {1} and max(par_calls) == CHUNK  # the second run really went through workers
    seq_bytes = gzip.decompress(Path(seq.normalised_path).read_bytes())
    par_bytes = gzip.decompress(Path(par.normalised_path).read_bytes())
    assert par_bytes == seq_bytes
    assert Path(par.errors_path).read_bytes() == Path(seq.errors_path).read_bytes()
    counts = ("seen", "mapped", "deleted", "failed", "warnings")
    assert {k: getattr(par, k) for k in counts} == {k: getattr(seq, k) for k in counts}
    assert seq.seen == sum(seq_calls) == sum(par_calls) == seq.mapped + seq.deleted + seq.failed
    assert seq.deleted == 2_950 // 97 and seq.mapped > 2_900
    # the recorded real packages are in there, mapped, in input order
    rows = [json.loads(line) for line in par_bytes.decode("utf-8").splitlines()]
    recorded_ids = [p["id"] for p in _recorded_packages() if p.get("title")]
    mapped_ids = [r["native_id"] for r in rows]
    assert [i for i in mapped_ids if i in set(recorded_ids)] == recorded_ids


def test_errors_keep_native_id_field_and_order_with_workers(tmp_path, raw_archive):
    out, _ = _run(tmp_path, raw_archive, 2, "errs")
    errors = pipeline.read_errors(out.errors_path)
    injected = [(e["native_id"], e["field"]) for e in errors if e["native_id"] in ("no-id",) or
                e["native_id"].startswith("line ")]
    assert injected == [(nid, fld) for _, (_, nid, fld) in sorted(BAD_LINES.items())]
    for e in errors:
        assert e["stage"] == "normalise" and e["reason"]
    assert "not a record" in errors[0]["reason"]
    # the recorded search reply holds id + metadata_modified only: refused for the missing title, by id
    search = json.loads((RECORDED / "dgu_search_dataset_ids_z_suffix.json").read_text())["results"]
    by_id = {e["native_id"]: e for e in errors}
    assert all(by_id[p["id"]]["field"] == "title" for p in search)


def test_small_run_is_mapped_in_process(tmp_path):
    raw = tmp_path / "small.jsonl.gz"
    pkgs = SyntheticPackages(SyntheticSpec(count=50))
    with archive.write_lines(raw) as fh:
        for i in range(50):
            fh.write(_record_line(pkgs.package(i)) + "\n")
    out, calls = _run(tmp_path, raw, 4, "small")
    assert out.mapped == 50 and calls == [1] * 50  # no pool for a run this small


def _square_chunk(first_n: int, lines: list[str]) -> list[int]:
    return [first_n * 1000 + len(line) for line in lines]


def test_chunks_in_flight_are_bounded_and_results_come_back_in_order():
    max_in_flight = 3
    events: list[str] = []

    def chunks():
        for k in range(40):
            events.append("pull")
            yield k * 10 + 1, ["x" * k] * 10

    with ProcessPoolExecutor(max_workers=2) as pool:
        def submit(first_n, lines):
            events.append("submit")
            return pool.submit(_square_chunk, first_n, lines)

        results = []
        for res in normalise_stage.ordered_map(submit, chunks(), max_in_flight):
            events.append("yield")
            results.append(res)
    assert results == [_square_chunk(k * 10 + 1, ["x" * k] * 10) for k in range(40)]
    pulled = submitted = handed_back = 0
    for ev in events:  # never more than max_in_flight chunks submitted and not handed back, nor read ahead
        pulled += ev == "pull"
        submitted += ev == "submit"
        handed_back += ev == "yield"
        assert submitted - handed_back <= max_in_flight
        assert pulled - handed_back <= max_in_flight + 1
    assert pulled == submitted == handed_back == 40


def crash_on_marker(record, ctx):
    """A mapping whose worker dies outright on one record, as a native crash or the OOM killer would."""
    if record.native_id == "crash-here":
        os._exit(70)
    return map_package(record, ctx)


def test_a_dying_worker_fails_the_stage_with_a_clear_error(tmp_path, raw_archive, monkeypatch):
    raw = tmp_path / "crash.jsonl.gz"
    with archive.write_lines(raw) as fh:
        for n, line in enumerate(archive.read_lines(raw_archive)):
            fh.write(line if n != 2_500 else _record_line({"id": "crash-here", "title": "boom"}) + "\n")
    monkeypatch.setitem(transforms._loaded, "ckan", crash_on_marker)
    with pytest.raises(pipeline.StageError, match=r"source=par.*worker process died"):
        _run(tmp_path, raw, 2, "crash")
    npath = archive.normalised_path(tmp_path / "crash", "par", "crash")
    assert not npath.exists() and not npath.with_name(npath.name + ".part").exists()


# ----------------------------------------------------------------------------- the speed-ups change no output


def test_fast_literals_equal_rdflib_constructor():
    assert rdf._FAST_LITERALS, "rdflib's Literal layout changed: the fast builders fell back to the constructor"
    for s in ["", "plain", 'quote " and \\ backslash', "multi\nline\ttab", "ünïcödé 😀"]:
        fast, slow = rdf.plain_literal(s), Literal(s)
        assert (fast, fast.value, fast.datatype, fast.language, fast.ill_typed) == \
               (slow, slow.value, slow.datatype, slow.language, slow.ill_typed)
        assert rdf.term_nt(fast) == rdf.term_nt(slow)
    dt = datetime(2026, 11, 20, 1, 2, 3, 456, tzinfo=timezone(timedelta(hours=1)))
    for value, dtype in [(date(2024, 2, 29), XSD.date), (dt, XSD.dateTime)]:
        fast, slow = rdf.value_literal(value, value.isoformat(), rdf.URIRef(dtype)), Literal(value, datatype=dtype)
        assert (fast, fast.value, fast.datatype, fast.ill_typed, fast.n3()) == \
               (slow, slow.value, slow.datatype, slow.ill_typed, slow.n3())


def test_plain_text_short_cut_matches_the_full_cleaner():
    """Random texts over the characters the rules act on: the short cut must never change a result."""
    rng = random.Random(20261120)
    alphabet = list("abc XYZ09.,;:()!?-—'\"/") + list("<>&*_[]`#\n\r\t\x0b\x0c\xa0\x85\x00\x7f\u2003é")
    texts = ["---", "- - -", "  lead", "trail  ", "a  b", "plain text, nothing to do.", "tab\tin", "#h", ""]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(20_000)]
    texts += ["".join(rng.choice("ab -") for _ in range(rng.randrange(1, 8))) for _ in range(2_000)]
    for t in texts:
        assert text.to_plain_text(t) == text._clean_all(t, text.DEFAULT_MAX_CHARS), repr(t)


def test_uri_part_short_cut_matches_quote():
    from urllib.parse import quote

    rng = random.Random(7)
    alphabet = list("aZ09-._~") + list(" /#?%&+:é😀\x00")
    for _ in range(5_000):
        part = "".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 12)))
        assert uris.encode_part(part) == quote(part, safe="-._~"), repr(part)
