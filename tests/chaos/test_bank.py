"""The Jepsen-style bank test, bounded for CI (docs/reliability.md).

Six clients move money over HTTP for 40 seconds against two server processes while the
harness kills them with SIGKILL, terminates every database connection, duplicates and delays
the custodian's callbacks and runs the end-of-day catch-up twice at once (killing one). Then:
the ledger verifies, the money in the system is what the bank took in minus what it paid out
(no fen lost), every acknowledged op happened exactly once, nothing was sold twice, and custody
reconciles with the bank to the fen (R12, R13, R26, R42, R44). ``p2plend chaos bank`` is the
long form.

A bank transfer whose platform transaction then failed (a dropped connection between the bank's
commit and ours) and whose act is never replayed with the same legs is an *orphaned
instruction*: the orphan sweep, run at the end with no grace, voids and reverses it at the bank
(docs/reliability.md). They are counted (``orphans_voided``); custody must reconcile exactly.
"""

import os

import pytest

from p2plend.chaos.bank import bank_test

pytestmark = pytest.mark.postgres_only


def test_bank_under_faults_loses_no_fen_and_applies_every_acknowledged_op_once() -> None:
    report = bank_test(
        db=os.environ["P2PLEND_TEST_DATABASE_URL"], clients=6, seconds=40, workers=2, seed=2026
    )
    print("\n".join(report.lines()))  # shown when the test fails
    figures = report.figures
    violations = [value for label, value in report.rows if label == "violation"]
    assert figures["fen_lost"] == 0
    assert figures["oversold"] == 0
    assert figures["ledger_ok"], violations
    assert figures["exactly_once"], violations
    assert figures["reconciled"], violations
    assert figures["violations"] == 0, violations
    # It did test something: money moved, and every kind of fault happened.
    assert int(figures["acked"]) >= 30
    for kind in ("kill_server", "drop_connections", "duplicate_callback", "eod_run", "eod_killed"):
        assert figures.get(f"faults_{kind}", 0) >= 1, kind
