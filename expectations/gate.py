"""The load gate: may this run's records enter the inventory?

Kept apart from the suite so the rule is one small readable function: the load is blocked by a
failed *critical* expectation or by too many records that could not be mapped (a source whose
format changed under us maps almost nothing, and loading the few survivors as a full harvest would
withdraw everything else). Warnings are recorded elsewhere and never block. The reasons are whole
sentences because they become the Airflow validate task's failure message and the run record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from expectations.suites import SuiteResult


@dataclass
class GateVerdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return "load allowed" if self.passed else "load blocked: " + " ".join(self.reasons)


def decide(suite: SuiteResult, *, seen: int, failed_to_map: int, max_failed_share: float = 0.1) -> GateVerdict:
    """Block on any critical failure or when more than ``max_failed_share`` of ``seen`` failed to map.

    ``seen`` counts every record the harvest delivered (mapped or not); ``failed_to_map`` those the
    normalise stage rejected. A run that saw nothing has no failure share.
    """
    if not 0.0 <= max_failed_share <= 1.0:
        raise ValueError(f"max_failed_share must be between 0 and 1, got {max_failed_share}")
    if seen < 0 or failed_to_map < 0 or failed_to_map > seen:
        raise ValueError(f"inconsistent counts: seen={seen}, failed_to_map={failed_to_map}")
    where = f" in run {suite.run_id} of source {suite.source_id}" if suite.run_id or suite.source_id else ""
    reasons = [f"Critical expectation {o.name} failed{where}: {o.message}." for o in suite.critical_failures]
    if seen and failed_to_map / seen > max_failed_share:
        reasons.append(
            f"{failed_to_map} of {seen} records ({failed_to_map / seen:.1%}) failed to map{where}, "
            f"more than the allowed {max_failed_share:.1%}.")
    return GateVerdict(passed=not reasons, reasons=reasons)
