"""The load gate: may this run's records enter the inventory?

Kept apart from the suites so the rule is one small readable function: the load is blocked by any
failed *critical* expectation — row-level (identifiers, URIs, titles) or run-level (an empty run
after a non-empty one, too many records that failed to map, a record count that fell too far; see
:mod:`expectations.suites`). A source whose format changed under us maps almost nothing, and
loading the few survivors as a full harvest would withdraw everything else. Warnings never block.
The reasons are whole sentences because they become the Airflow validate task's failure message
and the run record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from expectations.suites import SuiteResult


@dataclass
class GateVerdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # names of the failed critical expectations

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return "load allowed" if self.passed else "load blocked: " + " ".join(self.reasons)


def decide(suite: SuiteResult) -> GateVerdict:
    """Block on any failed critical expectation; one sentence per failure names it and the run."""
    where = f" in run {suite.run_id} of source {suite.source_id}" if suite.run_id or suite.source_id else ""
    failures = suite.critical_failures
    reasons = [f"Critical expectation {o.name} failed{where}: {o.message}." for o in failures]
    return GateVerdict(passed=not reasons, reasons=reasons, failed=[o.name for o in failures])
