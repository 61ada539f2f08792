"""The great-expectations suites of a run, kept as code so they are reviewed and versioned.

Two suites run as two checkpoints: ``citycat.flat_rows`` over one lean row per dataset (identifiers,
titles, and the derived warning columns of :mod:`expectations.row_checks`) and ``citycat.run`` over a
one-row frame of the run's counts (empty run, failed-to-map share, record-count drop), because
those are facts about the run, not about any row. Both render into the run's Data Docs site.

Every expectation carries a severity (``critical`` blocks the load, ``warning`` and ``info`` are
recorded) in GX's own ``severity`` field and in its ``meta``, together with a stable rule name and
a human phrase; :func:`run_suite` turns GX's result objects into plain :class:`SuiteResult` data,
because the gate, XCom and the inventory must not depend on GX types.

GX is imported inside functions: it takes seconds to import and the DAG processor and the CLI's
other commands should not pay for it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from expectations.row_checks import CHECK_COLUMNS, CHECKS, Limits, problems

if TYPE_CHECKING:  # pragma: no cover
    import pandas

SEVERITIES = ("critical", "warning", "info")
MAX_EXAMPLES = 5
# What the validate stage keeps per row: these (short) columns and the derived warning columns.
# Long texts are cut to TEXT_PREFIX: the suite asks whether a text is there and how long, not what
# it says, and 100,000 full descriptions would make the stage's memory grow with the run.
BASE_COLUMNS = ("uri", "identifier", "native_id", "title", "description", "licence_uri", "distribution_count")
SUITE_COLUMNS = BASE_COLUMNS + CHECK_COLUMNS
TEXT_PREFIX = 200
ROW_SUITE, RUN_SUITE = "citycat.flat_rows", "citycat.run"
RUN_COLUMNS = ("rows_after_nonempty", "failed_share", "count_drop")


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
    config_key: str | None = None  # the QualityConfig key of its threshold, if it has one


@dataclass(frozen=True)
class RunFacts:
    """What the run-level expectations judge: counts of this run and of the last good one.

    ``previous_rows`` is None when there is nothing to compare with (the first run, or a run that
    is not a full listing: an incremental run is small or empty by nature).
    """

    seen: int  # records the harvest delivered, mapped or not
    failed_to_map: int
    rows: int  # datasets the run maps (tombstones excluded)
    previous_rows: int | None = None

    def __post_init__(self) -> None:
        if min(self.seen, self.failed_to_map, self.rows) < 0 or self.failed_to_map > self.seen:
            raise ValueError(f"inconsistent counts: seen={self.seen}, failed_to_map={self.failed_to_map}, "
                             f"rows={self.rows}")
        if self.previous_rows is not None and self.previous_rows < 0:
            raise ValueError(f"previous_rows must be >= 0, got {self.previous_rows}")

    @property
    def failed_share(self) -> float:
        return self.failed_to_map / self.seen if self.seen else 0.0

    @property
    def count_drop(self) -> float | None:
        if not self.previous_rows:
            return None
        return max(0.0, 1 - self.rows / self.previous_rows)


def _gx() -> Any:
    """great_expectations, imported with its usage analytics off (it reads the variable on import)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    # GX pins this module's logger at INFO and announces every ephemeral context's temp dir.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    return gx


_PHRASES = {  # warning rule -> phrase for "<n> rows ..."
    "description_longer_than_title": "have a description no longer than the title",
    "licence_recognised": "have a licence_uri no licence table knows",
    "access_urls_valid": "have an access or download URL that is not an absolute http(s) URL",
    "formats_known": "have a format that is not an EU file-type code",
    "media_types_known": "have a media type not registered at IANA",
    "modified_valid": "have a modified date that does not parse or is after the run's time",
    "publisher_present": "have no publisher",
    "contact_point_present": "have no contact point",
    "frequency_consistent": "have a modified date older than the stated update frequency allows",
}
_CHECK_KEYS = {"modified_valid": "modified_future_slack_hours", "frequency_consistent": "frequency_slack"}


def _rules(limits: Limits | None = None) -> list[Rule]:
    """The row-level suite; ``limits`` only feed the docs here (row thresholds live in the derived columns)."""
    gx = _gx()

    e = gx.expectations
    null, unique, regex = (e.ExpectColumnValuesToNotBeNull, e.ExpectColumnValuesToBeUnique,
                           e.ExpectColumnValuesToMatchRegex)
    rules = [
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
        Rule("distribution_present", "distribution_count", "warning", "have no distribution",
             "every row has at least one distribution", e.ExpectColumnValuesToBeBetween, {"min_value": 1},
             by_row=True),
    ]
    # derived columns: null when the row passes, else a short text naming the offending value
    rules += [Rule(name, column, "warning", _PHRASES[name], expects, e.ExpectColumnValuesToBeNull, by_row=True,
                   config_key=_CHECK_KEYS.get(name)) for name, (column, expects) in CHECKS.items()]
    return rules


def _run_rules(limits: Limits) -> list[Rule]:
    """Run-level critical expectations over the one-row frame of :func:`run_frame`."""
    between = _gx().expectations.ExpectColumnValuesToBeBetween
    return [
        Rule("run_not_empty", "rows_after_nonempty", "critical", "", "the run has records when the last good run had",
             between, {"min_value": 1}),
        Rule("failed_to_map_share", "failed_share", "critical", "",
             f"at most {limits.max_failed_share:.1%} of the records fail to map", between,
             {"min_value": 0, "max_value": limits.max_failed_share}, config_key="max_failed_share"),
        Rule("record_count_drop", "count_drop", "critical", "",
             f"the record count falls by at most {limits.max_count_drop:.1%} since the last good run", between,
             {"min_value": 0, "max_value": limits.max_count_drop}, config_key="max_count_drop"),
    ]


def all_rules(limits: Limits | None = None) -> list[Rule]:
    """Every expectation of both suites (for docs and tests)."""
    limits = limits or Limits()
    return _rules(limits) + _run_rules(limits)


def _add(suite: Any, rules: list[Rule]) -> Any:
    for rule in rules:
        suite.add_expectation(rule.build(
            column=rule.column, severity=rule.severity,
            meta={"severity": rule.severity, "rule": rule.name, "phrase": rule.phrase,
                  "expects": rule.expects, "by_row": rule.by_row, "config_key": rule.config_key},
            # what Data Docs shows for the expectation: the rule's name, severity and meaning
            description=f"{rule.name} ({rule.severity}): {rule.expects}",
            **rule.kwargs))
    return suite


def build_suite(name: str = ROW_SUITE, context: Any = None, limits: Limits | None = None) -> Any:
    """The row suite as a ``gx.ExpectationSuite`` (for Data Docs, or to save as JSON if ever wanted).

    GX binds a suite to the current data context, so an ephemeral one is made when none is given.
    """
    if context is None:
        _context()
    return _add(_gx().ExpectationSuite(name=name), _rules(limits))


def build_run_suite(name: str = RUN_SUITE, context: Any = None, limits: Limits | None = None) -> Any:
    """The run-level suite (critical volume checks) as a ``gx.ExpectationSuite``."""
    if context is None:
        _context()
    return _add(_gx().ExpectationSuite(name=name), _run_rules(limits or Limits()))


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


def frame_row(row: dict[str, Any], *, run_time: datetime | None, limits: Limits) -> dict[str, Any]:
    """One flat row reduced to the suite's columns (texts cut, warnings derived)."""
    out = {c: row.get(c) for c in BASE_COLUMNS}
    for c in ("title", "description"):
        if isinstance(out[c], str):
            out[c] = out[c][:TEXT_PREFIX]
    for c in ("description", "licence_uri"):  # the source sent the field, not a value
        if isinstance(out[c], str) and not out[c].strip():
            out[c] = None
    if not isinstance(out["distribution_count"], (int, float)):  # absent or junk: no distribution known
        out["distribution_count"] = 0
    out.update(problems(row, run_time=run_time, limits=limits))
    return out


def suite_frame(df: "pandas.DataFrame", *, run_time: datetime | None = None,
                limits: Limits | None = None) -> "pandas.DataFrame":
    """The suite's frame from full flat rows, or ``df`` itself when it is one already (rows 0..n-1).

    The validate stage builds the lean frame while streaming (see citycat.pipeline); tests and
    scripts may hand over whole flat rows.
    """
    import pandas as pd

    if list(df.columns) == list(SUITE_COLUMNS) and df.index.equals(pd.RangeIndex(len(df))):
        frame = df.copy(deep=False)  # the stage's own frame: a 100,000-row copy is memory for nothing
    elif set(SUITE_COLUMNS) <= set(df.columns):
        frame = df[list(SUITE_COLUMNS)].reset_index(drop=True)
    else:
        limits = limits or Limits()
        records = df.to_dict("records") if len(df.columns) else [{} for _ in range(len(df))]
        frame = pd.DataFrame([frame_row(r, run_time=run_time, limits=limits) for r in records],
                             columns=list(SUITE_COLUMNS), index=pd.RangeIndex(len(records)))
    # object columns, so GX sees values as given (ints with nulls stay ints); the keyed columns of
    # expectations.lean_frame stay nullable 64-bit integers
    todo = {c: object for c, t in frame.dtypes.items() if t != object and not isinstance(t, pd.Int64Dtype)}
    return frame.astype(todo) if todo else frame


def run_frame(facts: RunFacts | None) -> "pandas.DataFrame":
    """The one-row frame of the run-level suite; a check with nothing to compare is null (passes)."""
    import pandas as pd

    facts = facts or RunFacts(seen=0, failed_to_map=0, rows=0)
    values = {"rows_after_nonempty": facts.rows if facts.previous_rows else None,
              "failed_share": facts.failed_share, "count_drop": facts.count_drop}
    return pd.DataFrame({k: pd.Series([v], dtype=object) for k, v in values.items()})


def _run_message(name: str, facts: RunFacts, limits: Limits, failed: bool) -> str:
    if name == "run_not_empty":
        if not failed:
            return "passed: the run is not empty, or the last good run was empty too"
        return f"the run has no records although the last good run had {facts.previous_rows}"
    if name == "failed_to_map_share":
        text = (f"{facts.failed_to_map} of {facts.seen} records ({facts.failed_share:.1%}) failed to map, "
                f"{'more than' if failed else 'within'} the allowed {limits.max_failed_share:.1%}")
        return text if failed else "passed: " + text
    if facts.count_drop is None:
        return "passed: no earlier full run to compare the record count with"
    text = (f"the run has {facts.rows} records, {facts.count_drop:.1%} fewer than the {facts.previous_rows} of "
            f"the last good run, {'more than' if failed else 'within'} the allowed {limits.max_count_drop:.1%}")
    return text if failed else "passed: " + text


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


def _examples(frame: "pandas.DataFrame", result: dict[str, Any], by_row: bool, column: str,
              lean: Any = None) -> list[Any]:
    """Up to MAX_EXAMPLES rows (named by native id) or values; ``lean`` (an expectations.lean_frame.LeanFrame)
    turns the keys its frame holds back into the values."""
    out: list[Any] = []
    if by_row:
        derived = column in CHECK_COLUMNS
        for idx in result.get("partial_unexpected_index_list") or []:
            native = None
            if idx in frame.index:
                native = _plain(lean.native_id(idx) if lean is not None else frame.at[idx, "native_id"])
            label = f"native_id {native}" if native is not None else f"row {idx}"
            if derived and idx in frame.index:
                label += f" ({frame.at[idx, column]})"
            if label not in out:
                out.append(label)
    else:
        for value in result.get("partial_unexpected_list") or []:
            value = _plain(lean.original(column, value) if lean is not None else value)
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


def _docs_site(context: Any, docs_dir: Path) -> list[Any]:
    """A local Data Docs site at ``docs_dir`` and the checkpoint action that renders into it."""
    from great_expectations.checkpoint import UpdateDataDocsAction

    context.add_data_docs_site(site_name="run", site_config={
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}})
    return [UpdateDataDocsAction(name="data_docs", site_names=["run"])]


def _checkpoint(context: Any, name: str, suite: Any, actions: list[Any]) -> Any:
    gx = _gx()
    batch = (context.data_sources.add_pandas(f"{name}.source").add_dataframe_asset(name)
             .add_batch_definition_whole_dataframe("run"))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    return context.checkpoints.add(gx.Checkpoint(
        name=f"{name}.checkpoint", validation_definitions=[definition], actions=actions,
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20}))


def run_suite(df: "pandas.DataFrame", *, source_id: str, run_id: str, run_time: datetime | None = None,
              limits: Limits | None = None, run: RunFacts | None = None,
              docs_dir: str | Path | None = None, lean: Any = None) -> SuiteResult:
    """Run both suites as GX checkpoints over one run; never raises on bad data.

    ``lean``: the expectations.lean_frame.LeanFrame ``df`` was built by (its examples are read back through it).

    ``run_time`` dates the run (the time-relative warnings and the Data Docs' run folder);
    ``run`` feeds the run-level critical checks (None: nothing to judge, they pass);
    ``docs_dir`` builds a Data Docs site there (its ``index.html`` links both validations).
    """
    from great_expectations.core.run_identifier import RunIdentifier

    limits = limits or Limits()
    frame = suite_frame(df, run_time=run_time, limits=limits)
    facts = run or RunFacts(seen=len(frame), failed_to_map=0, rows=len(frame))
    context = _context()
    actions = _docs_site(context, Path(docs_dir)) if docs_dir is not None else []
    rid = RunIdentifier(run_name=run_id, run_time=run_time)
    outcomes: list[ExpectationOutcome] = []
    for name, suite, data in (
            (f"{source_id}.flat_rows", build_suite(f"{ROW_SUITE}.{source_id}", context, limits), frame),
            (f"{source_id}.run", build_run_suite(f"{RUN_SUITE}.{source_id}", context, limits), run_frame(facts))):
        checkpoint = _checkpoint(context, name, context.suites.add(suite), actions)
        result = checkpoint.run(batch_parameters={"dataframe": data}, run_id=rid)
        validation = next(iter(result.run_results.values()))
        outcomes += [_outcome(r, frame, facts, limits, lean) for r in validation.results]
    failed = {s: sum(1 for o in outcomes if o.severity == s and not o.success) for s in SEVERITIES}
    statistics = {"rows": len(frame), "evaluated": len(outcomes),
                  "successful": sum(o.success for o in outcomes),
                  "failed_critical": failed["critical"], "failed_warning": failed["warning"],
                  "failed_info": failed["info"]}
    return SuiteResult(success=failed["critical"] == 0, results=outcomes, statistics=statistics,
                       source_id=source_id, run_id=run_id)


def _outcome(r: Any, frame: "pandas.DataFrame", facts: RunFacts, limits: Limits, lean: Any = None
             ) -> ExpectationOutcome:
    cfg = r.expectation_config
    meta = cfg.meta or {}
    column = cfg.kwargs.get("column", "")
    result = r.result or {}
    error = r.exception_info.get("exception_message") if (r.exception_info or {}).get("raised_exception") else None
    count = int(result.get("unexpected_count") or 0)
    name = meta.get("rule", cfg.type)
    if column in RUN_COLUMNS:
        examples: list[Any] = []
        message = (f"the check on column {column} could not run: {error}" if error
                   else _run_message(name, facts, limits, not r.success))
    else:
        examples = _examples(frame, result, bool(meta.get("by_row")), column, lean)
        message = _message(count, meta, column, examples, not r.success, error)
    return ExpectationOutcome(
        name=name, column=column,
        severity=str(meta.get("severity", getattr(cfg.severity, "value", cfg.severity))),
        success=bool(r.success), unexpected_count=count, unexpected_examples=examples,
        message=message, expectation=cfg.type)
