"""The notification outbox: rows written with the state change, claimed and completed by senders.

Storage handles channels only as names. The alerting package defines what a
channel is and how a message reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection

from launchwatch.monitor.checks import CheckDefinition
from launchwatch.monitor.tables import (
    check_state_table,
    incidents_table,
    notification_attempts_table,
    notifications_table,
)
from launchwatch.probes.result import Finding, ProbeResult

if TYPE_CHECKING:
    from launchwatch.monitor.storage import Storage, Transition

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
SILENCED = "silenced"
DEDUPLICATED = "deduplicated"

# A second notification about the same fault (say, one certificate watched
# by three checks) within this window is recorded but not sent.
DEDUPE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class NotificationDraft:
    channel: str
    kind: str
    payload: str
    incident_id: int | None
    check_id: str | None
    sequence: int = 0
    dedupe_key: str | None = None
    silenced: bool = False


NotificationPlanner = Callable[[CheckDefinition, ProbeResult, "Transition"], list[NotificationDraft]]


@dataclass(frozen=True, slots=True)
class ClaimedNotification:
    id: int
    channel: str
    kind: str
    payload: str
    attempts: int
    created_at: datetime
    incident_id: int | None


@dataclass(frozen=True, slots=True)
class NotificationView:
    id: int
    incident_id: int | None
    channel: str
    kind: str
    state: str
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class ChannelStatus:
    channel: str
    last_sent_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    pending: int
    failed: int


@dataclass(frozen=True, slots=True)
class OpenIncident:
    id: int
    check_id: str
    opened_at: datetime
    last_status: str
    last_reason: str
    last_findings: list[Finding]
    # channel -> kinds of the notifications already written, any state.
    written: dict[str, set[str]]
    # channel -> states of its "opened" rows.
    opened_states: dict[str, list[str]]


def insert_planned(
    conn: Connection,
    batch: list[tuple[CheckDefinition, ProbeResult]],
    transitions: list[Transition],
    planner: NotificationPlanner,
) -> None:
    """Ask the planner about each transition and write its drafts."""
    by_moment = {(check.id, result.started_at): (check, result) for check, result in batch}
    drafts: list[NotificationDraft] = []
    for transition in transitions:
        check, result = by_moment[(transition.check_id, transition.at)]
        drafts.extend(planner(check, result, transition))
    if drafts:
        insert_drafts(conn, drafts, transitions[-1].at)


def insert_drafts(conn: Connection, drafts: Iterable[NotificationDraft], now: datetime) -> int:
    """Write drafts as outbox rows; return how many are new.

    A draft whose (incident, channel, kind, sequence) row exists is skipped,
    so two daemons that plan the same reminder write it once.
    """
    inserted = 0
    for draft in drafts:
        # Each row is written before the next draft's state is decided, so a
        # resolve or a duplicate later in the same call finds it.
        row = {
            "incident_id": draft.incident_id,
            "check_id": draft.check_id,
            "channel": draft.channel,
            "kind": draft.kind,
            "sequence": draft.sequence,
            "payload": draft.payload,
            "dedupe_key": draft.dedupe_key,
            "state": _initial_state(conn, draft, now),
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }
        # RETURNING distinguishes a skipped duplicate on both databases, because
        # psycopg reports no rowcount for INSERT ... ON CONFLICT DO NOTHING.
        statement = _insert_ignoring_duplicates(conn).values(**row).returning(notifications_table.c.id)
        inserted += len(conn.execute(statement).all())
    return inserted


def _initial_state(conn: Connection, draft: NotificationDraft, now: datetime) -> str:
    table = notifications_table
    if draft.silenced:
        return SILENCED
    if draft.kind == "resolved":
        # Only a channel that heard of the incident hears of its end.
        notified = conn.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(
                table.c.incident_id == draft.incident_id,
                table.c.channel == draft.channel,
                table.c.kind.in_(("opened", "escalation")),
                table.c.state.in_((PENDING, SENT, FAILED)),
            )
        ).scalar_one()
        return PENDING if notified else SILENCED
    if draft.kind == "opened" and draft.dedupe_key:
        earlier = conn.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(
                table.c.dedupe_key == draft.dedupe_key,
                table.c.channel == draft.channel,
                table.c.kind == "opened",
                table.c.state.in_((PENDING, SENT)),
                table.c.created_at >= now - DEDUPE_WINDOW,
            )
        ).scalar_one()
        if earlier:
            return DEDUPLICATED
    return PENDING


def _insert_ignoring_duplicates(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return pg_dialect.insert(notifications_table).on_conflict_do_nothing()
    return sqlite_dialect.insert(notifications_table).on_conflict_do_nothing()


class OutboxStore:
    """The outbox queries senders and the status page use, over one Storage."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def insert(self, drafts: list[NotificationDraft], now: datetime) -> int:
        with self._storage.transaction() as conn:
            return insert_drafts(conn, drafts, now)

    def claim(self, sender_id: str, now: datetime, lease: timedelta) -> list[ClaimedNotification]:
        """Claim the oldest due notification of each channel that has one.

        Each claim is a conditional UPDATE in its own transaction: two senders
        may read the same candidates, but only one update matches a row, so a
        notification goes out once. Taking only the oldest row per channel
        keeps a channel's messages in order across retries.
        """
        table = notifications_table
        with self._storage.connection() as conn:
            # The oldest pending row of every channel, however many rows a
            # channel that is down has queued behind its first one.
            oldest = sa.select(sa.func.min(table.c.id)).where(table.c.state == PENDING).group_by(table.c.channel)
            candidates = conn.execute(
                sa.select(table.c.id, table.c.channel, table.c.next_attempt_at, table.c.claimed_until).where(table.c.id.in_(oldest))
            ).all()
        first_per_channel = {row.channel: row for row in candidates}

        claimed = []
        for row in first_per_channel.values():
            lease_held = row.claimed_until is not None and row.claimed_until > now
            if row.next_attempt_at > now or lease_held:
                continue
            with self._storage.transaction() as conn:
                updated = conn.execute(
                    sa.update(table)
                    .where(
                        table.c.id == row.id,
                        table.c.state == PENDING,
                        sa.or_(table.c.claimed_until.is_(None), table.c.claimed_until <= now),
                    )
                    .values(claimed_by=sender_id, claimed_until=now + lease)
                )
                if updated.rowcount != 1:
                    continue
                full = conn.execute(sa.select(table).where(table.c.id == row.id)).one()
            claimed.append(
                ClaimedNotification(
                    id=full.id,
                    channel=full.channel,
                    kind=full.kind,
                    payload=full.payload,
                    attempts=full.attempts,
                    created_at=full.created_at,
                    incident_id=full.incident_id,
                )
            )
        return claimed

    def complete(
        self,
        notification: ClaimedNotification,
        sender_id: str,
        now: datetime,
        *,
        ok: bool,
        error: str | None,
        duration_s: float,
        give_up: bool,
        retry_at: datetime,
    ) -> str:
        """Record one attempt and move the row on; return its new state."""
        table = notifications_table
        if ok:
            values: dict[str, Any] = {"state": SENT, "sent_at": now, "last_error": None}
        elif give_up:
            values = {"state": FAILED, "last_error": error}
        else:
            values = {"state": PENDING, "next_attempt_at": retry_at, "last_error": error}
        with self._storage.transaction() as conn:
            conn.execute(
                sa.insert(notification_attempts_table).values(
                    notification_id=notification.id,
                    channel=notification.channel,
                    attempted_at=now,
                    ok=ok,
                    error=error,
                    duration_s=duration_s,
                    sender=sender_id,
                )
            )
            conn.execute(
                sa.update(table)
                .where(table.c.id == notification.id, table.c.claimed_by == sender_id)
                .values(**values, attempts=table.c.attempts + 1, claimed_by=None, claimed_until=None)
            )
        return str(values["state"])

    def open_incidents(self) -> list[OpenIncident]:
        """Return every open incident with its check's latest result and what was written about it."""
        incidents = incidents_table
        state = check_state_table
        table = notifications_table
        with self._storage.connection() as conn:
            rows = conn.execute(
                sa.select(
                    incidents.c.id,
                    incidents.c.check_id,
                    incidents.c.opened_at,
                    state.c.last_status,
                    state.c.last_reason,
                    state.c.last_findings,
                )
                .join(state, state.c.open_incident_id == incidents.c.id)
                .where(incidents.c.resolved_at.is_(None))
            ).all()
            ids = [row.id for row in rows]
            written = (
                conn.execute(
                    sa.select(table.c.incident_id, table.c.channel, table.c.kind, table.c.state).where(table.c.incident_id.in_(ids))
                ).all()
                if ids
                else []
            )
        from launchwatch.monitor.storage import decode_findings

        kinds: dict[int, dict[str, set[str]]] = {}
        opened_states: dict[int, dict[str, list[str]]] = {}
        for row in written:
            kinds.setdefault(row.incident_id, {}).setdefault(row.channel, set()).add(row.kind)
            if row.kind == "opened":
                opened_states.setdefault(row.incident_id, {}).setdefault(row.channel, []).append(row.state)
        return [
            OpenIncident(
                id=row.id,
                check_id=row.check_id,
                opened_at=row.opened_at,
                last_status=row.last_status,
                last_reason=row.last_reason,
                last_findings=decode_findings(row.last_findings),
                written=kinds.get(row.id, {}),
                opened_states=opened_states.get(row.id, {}),
            )
            for row in rows
        ]

    def notifications(self, incident_ids: list[int]) -> list[NotificationView]:
        if not incident_ids:
            return []
        table = notifications_table
        with self._storage.connection() as conn:
            rows = conn.execute(sa.select(table).where(table.c.incident_id.in_(incident_ids)).order_by(table.c.id)).all()
        return [
            NotificationView(
                id=row.id,
                incident_id=row.incident_id,
                channel=row.channel,
                kind=row.kind,
                state=row.state,
                created_at=row.created_at,
                sent_at=row.sent_at,
                attempts=row.attempts,
                last_error=row.last_error,
            )
            for row in rows
        ]

    def channel_statuses(self) -> list[ChannelStatus]:
        table = notifications_table
        attempts = notification_attempts_table
        with self._storage.connection() as conn:
            counts = conn.execute(
                sa.select(
                    table.c.channel,
                    sa.func.max(table.c.sent_at).label("last_sent_at"),
                    sa.func.sum(sa.case((table.c.state == PENDING, 1), else_=0)).label("pending"),
                    sa.func.sum(sa.case((table.c.state == FAILED, 1), else_=0)).label("failed"),
                ).group_by(table.c.channel)
            ).all()
            last_failures = conn.execute(
                sa.select(attempts.c.channel, attempts.c.error, attempts.c.attempted_at)
                .where(
                    attempts.c.ok.is_(False),
                    attempts.c.id.in_(sa.select(sa.func.max(attempts.c.id)).where(attempts.c.ok.is_(False)).group_by(attempts.c.channel)),
                )
            ).all()
        failures = {row.channel: row for row in last_failures}
        statuses = []
        for row in counts:
            failure = failures.get(row.channel)
            statuses.append(
                ChannelStatus(
                    channel=row.channel,
                    last_sent_at=row.last_sent_at,
                    last_error=failure.error if failure else None,
                    last_error_at=failure.attempted_at if failure else None,
                    pending=int(row.pending or 0),
                    failed=int(row.failed or 0),
                )
            )
        return statuses

    def depth(self) -> int:
        table = notifications_table
        with self._storage.connection() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.state == PENDING)).scalar_one())
