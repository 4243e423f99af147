"""`shrinkwatch evaluate` scores marts.fct_case against a ground truth."""

from __future__ import annotations

from datetime import timedelta

import psycopg

from shrinkwatch import evaluate

GROUND_TRUTH = """\
incident_id,case_type,werks,location,material,batch,user_id,order_no,window_start,window_end,qty,uom,\
description
INC-1,excess_issue,1000,L11,10001003,B1,,1000004,2026-06-22T04:00:00Z,2026-06-22T06:00:00Z,5,KG,top-up never consumed
INC-2,excess_issue,1000,L12,10001004,,,1000005,2026-06-23T04:00:00Z,2026-06-23T06:00:00Z,5,KG,issue after close
INC-3,sod_violation,1000,1102,10001003,B2,WUYAN1,,2026-06-22T02:00:00Z,2026-06-22T03:00:00Z,1,G,same user
"""

CASES = [
    # finds INC-1 (batch given by the incident, agreed)
    ("c1", "excess_issue", "1000", "L11", "10001003", "B1", None, "1000004", "2026-06-22T05:00:00Z"),
    # a second case for INC-1: one incident, one hit, so this one is a false positive
    ("c2", "excess_issue", "1000", "L11", "10001003", "B1", None, "1000004", "2026-06-22T05:30:00Z"),
    # wrong order: does not find INC-2
    ("c3", "excess_issue", "1000", "L12", "10001004", None, None, "1000099", "2026-06-23T05:00:00Z"),
    # right keys, but the wrong user
    ("c4", "sod_violation", "1000", "1102", "10001003", "B2", "OTHER", None, "2026-06-22T02:30:00Z"),
]


def test_precision_and_recall_per_case_type(warehouse, tmp_path):
    truth = tmp_path / "ground_truth.csv"
    truth.write_text(GROUND_TRUTH)
    with psycopg.connect(warehouse.conninfo()) as conn:
        conn.execute("create schema marts")
        conn.execute(
            "create table marts.fct_case (case_id text, case_type text, werks text, location text, material text, "
            "batch text, user_id text, order_no text, window_start timestamptz, window_end timestamptz)"
        )
        for *row, at in CASES:
            conn.execute("insert into marts.fct_case values (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", (*row, at, at))
    scores = {
        s.case_type: s
        for s in evaluate.score(evaluate.read_cases(warehouse.conninfo()), evaluate.read_ground_truth(truth))
    }
    assert (scores["excess_issue"].matched, scores["excess_issue"].precision, scores["excess_issue"].recall) == (
        1, 1 / 3, 1 / 2,
    )
    assert (scores["sod_violation"].matched, scores["sod_violation"].recall) == (0, 0.0)
    assert scores["phantom_scrap"].precision is None and scores["phantom_scrap"].recall is None
    assert "excess_issue" in evaluate.format_table(list(scores.values()))


def test_windows_must_overlap_within_the_slack():
    incident = evaluate.Finding("i", "duplicate_posting", dict.fromkeys(("werks", "location", *evaluate.REQUIRED_KEYS)),
                                evaluate._utc("2026-06-01T00:00:00Z"), evaluate._utc("2026-06-01T01:00:00Z"))
    late = evaluate.Finding("c", "duplicate_posting", dict(incident.keys),
                            evaluate._utc("2026-06-04T00:00:00Z"), evaluate._utc("2026-06-04T01:00:00Z"))
    assert not evaluate.detects(late, incident, timedelta(days=2))
    assert evaluate.detects(late, incident, timedelta(days=3))
