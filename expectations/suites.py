"""The great-expectations suite over a run's flat rows, kept as code so it is reviewed and versioned.

Every expectation carries a severity (``critical`` blocks the load, ``warning`` and ``info`` are
recorded) in GX's own ``severity`` field and in its ``meta``, together with a stable rule name and
a human phrase; :func:`run_suite` turns GX's result objects into plain :class:`SuiteResult` data,
because the gate, XCom and the inventory must not depend on GX types.

GX is imported inside functions: it takes seconds to import and the DAG processor and the CLI's
other commands should not pay for it.
"""

from __future__ import annotations

import math
import logging
import os
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    import pandas

SEVERITIES = ("critical", "warning", "info")
MAX_EXAMPLES = 5
# Columns of transforms.row.FLAT_COLUMNS this suite reads; only these are kept in the frame.
SUITE_COLUMNS = ("uri", "identifier", "native_id", "title", "description", "licence_uri")


@dataclass(frozen=True)
class Rule:
    """One expectation of the suite: a stable name, the column, severity and how to say it failed."""

    name: str
    column: str
    severity: str
    phrase: str  # completes "<n> rows ...", e.g. "have an empty title"
    expects: str  # what passing means, e.g. "every row has a title"
    build: Callable[..., Any]  # kwargs -> GX expectation
    kwargs: dict[str, Any] = field(default_factory=dict)
    by_row: bool = False  # examples name rows (native ids) instead of values, e.g. for nulls


def _gx() -> Any:
    """great_expectations, imported with its usage analytics off (it reads the variable on import)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    # GX pins this module's logger at INFO and announces every ephemeral context's temp dir.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    return gx


def _rules() -> list[Rule]:
    gx = _gx()

    e = gx.expectations
    null, unique, regex = (e.ExpectColumnValuesToNotBeNull, e.ExpectColumnValuesToBeUnique,
                           e.ExpectColumnValuesToMatchRegex)
    return [
        Rule("uri_not_null", "uri", "critical", "have no uri", "every row has a uri", null, by_row=True),
        Rule("uri_unique", "uri", "critical", "share their uri with another row", "uris are unique", unique),
        Rule("native_id_not_null", "native_id", "critical", "have no native_id", "every row has a native_id",
             null, by_row=True),
        Rule("native_id_unique", "native_id", "critical", "share their native_id with another row",
             "native_ids are unique", unique),
        Rule("title_not_null", "title", "critical", "have no title", "every row has a title", null, by_row=True),
        # search (not match) for one non-space character: "", "  " and "\n" fail, " x" passes
        Rule("title_not_empty", "title", "critical", "have an empty title", "no title is empty or whitespace",
             regex, {"regex": r"\S"}, by_row=True),
        # dct:identifier is the source's own and may legitimately be missing or reused: warnings.
        Rule("identifier_present", "identifier", "warning", "have no identifier", "every row has an identifier",
             null, by_row=True),
        Rule("identifier_unique", "identifier", "warning", "share their identifier with another row",
             "identifiers are unique", unique),
        Rule("description_present", "description", "warning", "have no description",
             "every row has a description", null, by_row=True),
        Rule("licence_present", "licence_uri", "warning", "have no licence_uri", "every row has a licence_uri",
             null, by_row=True),
    ]


def build_suite(name: str = "citycat.flat_rows", context: Any = None) -> Any:
    """The suite as a ``gx.ExpectationSuite`` (for Data Docs, or to save as JSON if ever wanted).

    GX binds a suite to the current data context, so an ephemeral one is made when none is given.
    """
    gx = _gx()

    if context is None:
        _context()
    suite = gx.ExpectationSuite(name=name)
    for rule in _rules():
        suite.add_expectation(rule.build(
            column=rule.column, severity=rule.severity,
            meta={"severity": rule.severity, "rule": rule.name, "phrase": rule.phrase,
                  "expects": rule.expects, "by_row": rule.by_row},
            **rule.kwargs))
    return suite


@dataclass
class ExpectationOutcome:
    name: str
    column: str
    severity: str
    success: bool
    unexpected_count: int
    unexpected_examples: list[Any]
    message: str
    expectation: str = ""  # the GX expectation type, e.g. expect_column_values_to_be_unique


@dataclass
class SuiteResult:
    success: bool  # no critical expectation failed
    results: list[ExpectationOutcome]
    statistics: dict[str, Any]
    source_id: str = ""
    run_id: str = ""

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if r.severity == "critical" and not r.success]

    @property
    def warning_failures(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if r.severity == "warning" and not r.success]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (XCom, the inventory's run record)."""
        return asdict(self)


def suite_frame(df: "pandas.DataFrame") -> "pandas.DataFrame":
    """Only the columns the suite reads, missing ones added as nulls, rows numbered 0..n-1.

    A blank description or licence counts as absent (the source sent the field, not a value).
    """
    import pandas as pd

    frame = pd.DataFrame(index=pd.RangeIndex(len(df)))
    for col in SUITE_COLUMNS:
        values = df[col].to_numpy(dtype=object) if col in df.columns else [None] * len(df)
        frame[col] = pd.Series(values, index=frame.index, dtype=object)
    for col in ("description", "licence_uri"):
        blank = frame[col].map(lambda v: isinstance(v, str) and not v.strip())
        frame.loc[blank, col] = None
    return frame


def _context() -> Any:
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _examples(frame: "pandas.DataFrame", result: dict[str, Any], by_row: bool) -> list[Any]:
    out: list[Any] = []
    if by_row:
        for idx in result.get("partial_unexpected_index_list") or []:
            native = _plain(frame.at[idx, "native_id"]) if idx in frame.index else None
            label = f"native_id {native}" if native is not None else f"row {idx}"
            if label not in out:
                out.append(label)
    else:
        for value in result.get("partial_unexpected_list") or []:
            value = _plain(value)
            if value not in out:
                out.append(value)
    return out[:MAX_EXAMPLES]


def _message(count: int, meta: dict[str, Any], column: str, examples: list[Any], failed: bool,
             error: str | None) -> str:
    """'3 rows have an empty title (column title; examples: native_id a, ...)'."""
    if error:
        return f"the check on column {column} could not run: {error}"
    phrase = meta.get("phrase", "fail the check")
    if not failed:
        return f"passed: {meta.get('expects', phrase)}"
    if count == 1:
        text = "1 row " + phrase.replace("have ", "has ", 1).replace("share their ", "shares its ", 1)
    else:
        text = f"{count} rows {phrase}"
    shown = ", ".join(e if isinstance(e, str) and e.startswith(("native_id ", "row ")) else repr(e)
                      for e in examples)
    return f"{text} (column {column}; examples: {shown})" if shown else f"{text} (column {column})"


def run_suite(df: "pandas.DataFrame", *, source_id: str, run_id: str) -> SuiteResult:
    """Run the suite as a GX checkpoint over one run's flat rows; never raises on bad data."""
    gx = _gx()
    from great_expectations.core.run_identifier import RunIdentifier

    frame = suite_frame(df)
    context = _context()
    suite = context.suites.add(build_suite(f"citycat.flat_rows.{source_id}", context))
    batch = (context.data_sources.add_pandas(f"rows.{source_id}")
             .add_dataframe_asset("flat_rows").add_batch_definition_whole_dataframe("run"))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{source_id}.flat_rows", data=batch, suite=suite))
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=f"{source_id}.validate", validation_definitions=[definition], actions=[],
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20}))
    run = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=RunIdentifier(run_name=run_id))
    validation = next(iter(run.run_results.values()))

    outcomes = []
    for r in validation.results:
        cfg = r.expectation_config
        meta = cfg.meta or {}
        column = cfg.kwargs.get("column", "")
        result = r.result or {}
        error = r.exception_info.get("exception_message") if (r.exception_info or {}).get("raised_exception") else None
        count = int(result.get("unexpected_count") or 0)
        examples = _examples(frame, result, bool(meta.get("by_row")))
        outcomes.append(ExpectationOutcome(
            name=meta.get("rule", cfg.type), column=column,
            severity=str(meta.get("severity", getattr(cfg.severity, "value", cfg.severity))),
            success=bool(r.success), unexpected_count=count, unexpected_examples=examples,
            message=_message(count, meta, column, examples, not r.success, error),
            expectation=cfg.type))
    failed = {s: sum(1 for o in outcomes if o.severity == s and not o.success) for s in SEVERITIES}
    statistics = {"rows": len(frame), "evaluated": len(outcomes),
                  "successful": sum(o.success for o in outcomes),
                  "failed_critical": failed["critical"], "failed_warning": failed["warning"],
                  "failed_info": failed["info"]}
    return SuiteResult(success=failed["critical"] == 0, results=outcomes, statistics=statistics,
                       source_id=source_id, run_id=run_id)
