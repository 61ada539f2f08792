"""The raw archive line format: every RawRecord field survives the round trip."""

from __future__ import annotations

import dataclasses
import json

from harvesters.base import RawRecord


def test_to_json_writes_every_field_and_round_trips():
    rec = RawRecord(source_id="s", native_id="n-1", fetched_at="2026-11-28T02:00:00+00:00",
                    media_type="application/json", payload={"title": "Café", "tags": [{"name": "x"}], "n": None},
                    deleted=True, source_modified="2026-11-27T10:00:00")
    line = rec.to_json()
    assert set(json.loads(line)) == {f.name for f in dataclasses.fields(RawRecord)}
    assert RawRecord.from_json(line) == rec
    assert "Café" in line  # UTF-8 kept as is, not \\u-escaped


def test_to_json_leaves_the_payload_untouched():
    payload = {"resources": [{"url": "http://x/a.csv"}]}
    rec = RawRecord("s", "n", "t", "application/json", payload)
    rec.to_json()
    assert rec.payload is payload and payload == {"resources": [{"url": "http://x/a.csv"}]}
