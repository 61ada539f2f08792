"""The normalised-file reader (validate and load) gives exactly what plain gzip + ``json`` give."""

from __future__ import annotations

import gzip
import json

import pytest

from citycat.normalised_reader import read_normalised
from citycat.archive import iter_json as iter_normalised  # the plain reference reader


def _lines(n: int) -> bytes:
    # very compressible lines: one read of the file inflates to many blocks, some held back in zlib
    return b"".join(json.dumps({"native_id": f"ds-{i}", "nt": "x" * 3000, "row": {"i": i}}).encode() + b"\n"
                    for i in range(n))


def test_multi_member_file_reads_like_iter_normalised(tmp_path):
    path = tmp_path / "run.jsonl.gz"
    # a second member, as the archive writer's boundaries make; NaN and a lone surrogate are JSON to json
    path.write_bytes(gzip.compress(_lines(3000)) + gzip.compress(b'{"a": NaN, "b": "\\ud800"}\n\n'))
    got = list(read_normalised(path))
    assert len(got) == 3001 and got[:3000] == list(iter_normalised(path))[:3000]
    assert got[-1]["b"] == "\ud800" and got[-1]["a"] != got[-1]["a"]  # NaN


def test_a_cut_file_is_an_error_not_a_short_run(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    data = gzip.compress(_lines(2000))
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EOFError, match="cut.jsonl.gz"):
        list(read_normalised(path))


def test_plain_file_and_early_close(tmp_path):
    plain = tmp_path / "run.jsonl"
    plain.write_text('{"a": 1}\n\n{"b": 2}')
    assert list(read_normalised(plain)) == [{"a": 1}, {"b": 2}]
    path = tmp_path / "run.jsonl.gz"
    path.write_bytes(gzip.compress(_lines(5000)))
    records = read_normalised(path)
    assert next(records)["native_id"] == "ds-0"
    records.close()  # the inflating thread stops instead of blocking on a full queue


def test_member_ending_inside_a_capped_inflate_call(tmp_path):
    """Regression: a gzip member that ends while the inflate output is capped leaves the next member's
    bytes in ``unconsumed_tail`` *and* ``unused_data``; reading the finished member's tail again looped
    forever (the validate stage hung on a 500-record normalised file made of two members)."""
    first = b"".join(json.dumps({"i": i, "nt": "abc " * 40}).encode() + b"\n" for i in range(4000))
    second = b"".join(json.dumps({"j": j}).encode() + b"\n" for j in range(50))
    path = tmp_path / "two.jsonl.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second))
    got = list(read_normalised(path))
    assert len(got) == 4050 and got[-1] == {"j": 49} and got == list(iter_normalised(path))
