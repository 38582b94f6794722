"""Table-driven tests of the pure ok/failing state machine."""

from __future__ import annotations

from datetime import timedelta

import pytest

from launchwatch.monitor.state import FAILING, OK, StateSnapshot, advance_state
from launchwatch.probes.result import Status
from tests.storage.storage_helpers import T0

_STATUS_LETTERS = {"P": Status.PASS, "W": Status.WARN, "F": Status.FAIL, "E": Status.ERROR}
_STATE_LETTERS = {"o": OK, "f": FAILING}

# Each case: failure threshold, success threshold, the statuses in order
# (P pass, W warn, F fail, E error), the state after each result (o ok,
# f failing) and what each result did (O opens, R resolves, . nothing).
CASES = {
    "first pass starts ok": (2, 1, "P", "o", "."),
    "first fail under threshold stays ok": (2, 1, "F", "o", "."),
    "first fail at threshold 1 opens": (1, 1, "F", "f", "O"),
    "first error at threshold 1 opens": (1, 1, "E", "f", "O"),
    "failures reach threshold": (3, 1, "FFF", "oof", "..O"),
    "error counts as failure": (2, 1, "FE", "of", ".O"),
    "warn counts as success": (1, 1, "FW", "fo", "OR"),
    "flapping under threshold never opens": (2, 1, "FPFPFWFP", "oooooooo", "........"),
    "flapping under success threshold never resolves": (1, 2, "FPFPF", "fffff", "O...."),
    "success threshold resolves": (1, 2, "FPP", "ffo", "O.R"),
    "further failures do not reopen": (1, 1, "FFFF", "ffff", "O..."),
    "second outage opens again": (2, 1, "FFPFF", "ofoof", ".OR.O"),
    "success resets failure streak": (3, 1, "FFPFF", "ooooo", "....."),
}


@pytest.mark.parametrize("case", CASES.keys())
def test_advance_state_sequence(case: str) -> None:
    failure_threshold, success_threshold, statuses, states, events = CASES[case]
    snapshot = None
    for index, letter in enumerate(statuses):
        at = T0 + timedelta(minutes=index)
        step = advance_state(snapshot, _STATUS_LETTERS[letter], at, failure_threshold, success_threshold)
        assert step.snapshot.state == _STATE_LETTERS[states[index]], f"state after result {index + 1}"
        assert step.opens_incident == (events[index] == "O"), f"opens_incident after result {index + 1}"
        assert step.resolves_incident == (events[index] == "R"), f"resolves_incident after result {index + 1}"
        snapshot = step.snapshot


def test_advance_state_since_moves_only_on_flip() -> None:
    first = advance_state(None, Status.FAIL, T0, 2, 1).snapshot
    second = advance_state(first, Status.FAIL, T0 + timedelta(minutes=1), 2, 1).snapshot
    third = advance_state(second, Status.FAIL, T0 + timedelta(minutes=2), 2, 1).snapshot

    assert first.since == T0
    assert second.since == T0 + timedelta(minutes=1)
    assert third.since == T0 + timedelta(minutes=1)


def test_advance_state_counts_streaks() -> None:
    previous = StateSnapshot(OK, T0, consecutive_failures=0, consecutive_successes=4)

    after_failure = advance_state(previous, Status.ERROR, T0, 5, 1).snapshot
    after_success = advance_state(after_failure, Status.WARN, T0, 5, 1).snapshot

    assert after_failure.consecutive_failures == 1
    assert after_failure.consecutive_successes == 0
    assert after_success.consecutive_failures == 0
    assert after_success.consecutive_successes == 1


@pytest.mark.parametrize(("failure_threshold", "success_threshold"), [(0, 1), (1, 0)])
def test_advance_state_rejects_threshold_below_one(failure_threshold: int, success_threshold: int) -> None:
    with pytest.raises(ValueError, match="threshold"):
        advance_state(None, Status.PASS, T0, failure_threshold, success_threshold)
