"""The validate stage's lean frame (keys instead of identifiers, stand-ins instead of texts) gives GX
the same answers, counts, examples and messages as the plain frame of the same rows."""

from __future__ import annotations

import pandas as pd
from test_suites import RUN_TIME, frame, good_row

from expectations.lean_frame import LeanFrame, value_key
from expectations.row_checks import Limits
from expectations.suites import RunFacts, frame_row, run_suite


def broken_rows() -> list[dict]:
    rs = [good_row(i) for i in range(14)]
    rs[1]["uri"] = rs[0]["uri"]  # duplicate uri (critical)
    rs[2]["uri"] = None
    rs[3]["native_id"] = rs[4]["native_id"]  # duplicate native id (critical)
    rs[5]["native_id"] = None
    rs[6]["title"] = "   "  # whitespace only: not empty for not-null, empty for the regex
    rs[7]["title"] = " x"  # a leading space is still a title
    rs[8]["title"] = None
    rs[9]["identifier"] = rs[10]["identifier"]  # duplicate identifier (warning, examples are values)
    rs[11]["identifier"] = None
    rs[12]["identifier"] = 12  # not a string: a value of its own, never equal to "12"
    rs[13]["identifier"] = "12"
    rs[0]["description"] = "  "
    rs[4]["licence_uri"] = ""
    rs[5]["distribution_count"] = 0
    rs[6]["publisher"] = None
    rs[7]["modified"] = "not a date"
    rs[8]["formats"] = ["NOT_A_FORMAT"]
    rs[9]["title"] = "x" * 300
    rs[9]["description"] = "y" * 10
    rs[10]["native_id"] = "ds-\u00e9t\u00e9"  # non-ASCII text round-trips through the packed bytes
    rs[11]["uri"] = rs[10]["uri"]
    return rs


def lean_suite(rs: list[dict]):
    lean = LeanFrame()
    for row in rs:
        lean.add(frame_row(row, run_time=RUN_TIME, limits=Limits()))
    df = lean.frame()
    assert lean.rows == len(rs) == len(df)
    return run_suite(df, source_id="leeds", run_id="r", run_time=RUN_TIME,
                     run=RunFacts(seen=len(rs), failed_to_map=0, rows=len(rs)), lean=lean)


def test_lean_frame_gives_the_same_outcomes_as_the_plain_frame():
    rs = broken_rows()
    plain = run_suite(frame(rs), source_id="leeds", run_id="r", run_time=RUN_TIME,
                      run=RunFacts(seen=len(rs), failed_to_map=0, rows=len(rs)))
    lean = lean_suite(rs)
    assert lean.as_dict() == plain.as_dict()
    failed = {o.name for o in plain.results if not o.success}
    assert {"uri_unique", "uri_not_null", "native_id_unique", "native_id_not_null", "title_not_empty",
            "title_not_null", "identifier_unique", "identifier_present"} <= failed
    assert "title_not_empty" in failed and next(o for o in plain.results if o.name == "title_not_empty"
                                                ).unexpected_count == 1
    uri = next(o for o in lean.results if o.name == "uri_unique")
    assert rs[0]["uri"] in uri.unexpected_examples and rs[10]["uri"] in uri.unexpected_examples


def test_keyed_columns_are_nullable_integers_and_values_come_back():
    rs = broken_rows()
    lean = LeanFrame()
    for row in rs:
        lean.add(frame_row(row, run_time=RUN_TIME, limits=Limits()))
    df = lean.frame()
    assert isinstance(df["uri"].dtype, pd.Int64Dtype) and df["uri"].isna().sum() == 1
    assert df["identifier"].iloc[12] != df["identifier"].iloc[13]  # 12 and "12"
    assert lean.native_id(10) == "ds-\u00e9t\u00e9" and lean.value("identifier", 12) == 12
    assert lean.original("uri", value_key(rs[0]["uri"])) == rs[0]["uri"]
    assert lean.original("title", "t") == "t"
    assert df["description"].iloc[0] is None and df["title"].iloc[6] == ""
