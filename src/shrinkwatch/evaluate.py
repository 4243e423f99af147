"""How well `marts.fct_case` finds what the demo plant injected.

A case detects an incident of `ground_truth.csv` when it has the same case
type, agrees on every key the incident names (material, batch, order, user;
the location too when both give one) and its evidence window overlaps the
incident's window, give or take `slack`. Matching is one to one per case type,
so two cases for one incident count one hit and one false positive.
Precision = matched cases / cases; recall = matched incidents / incidents.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

CASE_TYPES = (
    "stock_discrepancy", "excess_issue", "unreturned_remnant", "phantom_scrap", "unverified_return",
    "batch_mismatch", "posting_time_anomaly", "duplicate_posting", "sod_violation", "outsourcing_leakage",
    "data_quality",
)
# Keys an incident may name; a case must agree on each one the incident gives.
REQUIRED_KEYS = ("material", "batch", "order_no", "user_id")
CASES_SQL = """
select case_id, case_type, werks, location, material, batch, user_id, order_no, window_start, window_end
from marts.fct_case
"""


@dataclass(frozen=True)
class Finding:
    """One incident of the ground truth or one case of fct_case, reduced to what matching needs."""

    id: str
    case_type: str
    keys: dict[str, str | None]
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True)
class TypeScore:
    case_type: str
    incidents: int
    cases: int
    matched: int

    @property
    def precision(self) -> float | None:
        return self.matched / self.cases if self.cases else None

    @property
    def recall(self) -> float | None:
        return self.matched / self.incidents if self.incidents else None


def _clean(value) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _utc(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def read_ground_truth(path: Path) -> list[Finding]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [
            Finding(
                row["incident_id"], row["case_type"],
                {k: _clean(row.get(k)) for k in ("werks", "location", *REQUIRED_KEYS)},
                _utc(row["window_start"]), _utc(row["window_end"]),
            )
            for row in csv.DictReader(handle)
        ]


def read_cases(conninfo: str) -> list[Finding]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(CASES_SQL).fetchall()
    return [
        Finding(
            case_id, case_type,
            {"werks": _clean(werks), "location": _clean(location), "material": _clean(material),
             "batch": _clean(batch), "user_id": _clean(user_id), "order_no": _clean(order_no)},
            _utc(start), _utc(end),
        )
        for case_id, case_type, werks, location, material, batch, user_id, order_no, start, end in rows
    ]


def detects(case: Finding, incident: Finding, slack: timedelta) -> bool:
    if case.case_type != incident.case_type:
        return False
    for key in REQUIRED_KEYS:
        if incident.keys[key] is not None and case.keys[key] != incident.keys[key]:
            return False
    for key in ("werks", "location"):
        if incident.keys[key] and case.keys[key] and case.keys[key] != incident.keys[key]:
            return False
    return case.window_start <= incident.window_end + slack and incident.window_start <= case.window_end + slack


def score(cases: list[Finding], incidents: list[Finding], slack: timedelta = timedelta(days=2)) -> list[TypeScore]:
    scores = []
    types = sorted(set(CASE_TYPES) | {c.case_type for c in cases} | {i.case_type for i in incidents})
    for case_type in types:
        typed_cases = [c for c in cases if c.case_type == case_type]
        typed_incidents = [i for i in incidents if i.case_type == case_type]
        unmatched = list(typed_incidents)
        matched = 0
        for case in typed_cases:
            hit = next((i for i in unmatched if detects(case, i, slack)), None)
            if hit is not None:
                unmatched.remove(hit)
                matched += 1
        scores.append(TypeScore(case_type, len(typed_incidents), len(typed_cases), matched))
    return scores


def format_table(scores: list[TypeScore]) -> str:
    def pct(value: float | None) -> str:
        return "   -" if value is None else f"{value:4.2f}"

    lines = [f"{'case type':22} {'incidents':>9} {'cases':>6} {'matched':>7} {'precision':>9} {'recall':>6}"]
    for s in scores:
        lines.append(
            f"{s.case_type:22} {s.incidents:>9} {s.cases:>6} {s.matched:>7} {pct(s.precision):>9} {pct(s.recall):>6}"
        )
    total = TypeScore("all", sum(s.incidents for s in scores), sum(s.cases for s in scores),
                      sum(s.matched for s in scores))
    lines.append(
        f"{'all':22} {total.incidents:>9} {total.cases:>6} {total.matched:>7} "
        f"{pct(total.precision):>9} {pct(total.recall):>6}"
    )
    return "\n".join(lines)
