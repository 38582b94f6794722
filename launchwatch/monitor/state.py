"""The ok/failing state machine of one check, as a pure function.

A check starts "ok". It turns "failing" after `failure_threshold` failures in
a row, which opens an incident, and turns "ok" again after
`success_threshold` successes in a row, which resolves it. Pass and warn count
as success, fail and error as failure. A streak shorter than its threshold
never flips the state, so a flapping check neither opens nor resolves anything.

The first result ever follows the same rule from the "ok" start: with
`failure_threshold=1` a first failure opens an incident at once, with a higher
threshold the check stays "ok" until enough failures follow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from launchwatch.probes.result import Status

OK = "ok"
FAILING = "failing"

_SUCCESS_STATUSES = frozenset({Status.PASS, Status.WARN})


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """The state of one check after its latest result."""

    state: str
    # When the current state began: the first result, or the result that flipped it.
    since: datetime
    consecutive_failures: int
    consecutive_successes: int


@dataclass(frozen=True, slots=True)
class StateStep:
    """The snapshot after one result, and whether that result flipped the state."""

    snapshot: StateSnapshot
    opens_incident: bool
    resolves_incident: bool


def is_success(status: Status) -> bool:
    return Status(status) in _SUCCESS_STATUSES


def advance_state(
    previous: StateSnapshot | None,
    status: Status,
    at: datetime,
    failure_threshold: int,
    success_threshold: int,
) -> StateStep:
    """Apply one result to the previous snapshot; `previous=None` means the first result ever.

    Raises ValueError when a threshold is below 1.
    """
    if failure_threshold < 1:
        raise ValueError(f"invalid failure_threshold {failure_threshold}; use 1 or more")
    if success_threshold < 1:
        raise ValueError(f"invalid success_threshold {success_threshold}; use 1 or more")

    if previous is None:
        previous = StateSnapshot(state=OK, since=at, consecutive_failures=0, consecutive_successes=0)

    if is_success(status):
        successes = previous.consecutive_successes + 1
        if previous.state == FAILING and successes >= success_threshold:
            snapshot = StateSnapshot(OK, at, consecutive_failures=0, consecutive_successes=successes)
            return StateStep(snapshot, opens_incident=False, resolves_incident=True)
        snapshot = StateSnapshot(previous.state, previous.since, consecutive_failures=0, consecutive_successes=successes)
        return StateStep(snapshot, opens_incident=False, resolves_incident=False)

    failures = previous.consecutive_failures + 1
    if previous.state == OK and failures >= failure_threshold:
        snapshot = StateSnapshot(FAILING, at, consecutive_failures=failures, consecutive_successes=0)
        return StateStep(snapshot, opens_incident=True, resolves_incident=False)
    snapshot = StateSnapshot(previous.state, previous.since, consecutive_failures=failures, consecutive_successes=0)
    return StateStep(snapshot, opens_incident=False, resolves_incident=False)
