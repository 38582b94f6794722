"""Deliver notifications from the outbox: claim, render, send through apprise, record the outcome."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from launchwatch.monitor.alerting import channels as channel_delivery
from launchwatch.monitor.alerting.events import NotificationEvent
from launchwatch.monitor.alerting.messages import render
from launchwatch.monitor.alerting.planner import NotificationPlanner
from launchwatch.monitor.config import ChannelConfig
from launchwatch.monitor.outbox import ClaimedNotification, OutboxStore
from launchwatch.probes.context import Clock, SystemClock

log = logging.getLogger("launchwatch.alerting")

POLL_INTERVAL_S = 1.0
# How often open incidents are checked for reminders, escalations and
# openings deferred by maintenance.
TICK_INTERVAL_S = 15.0
DELIVERY_TIMEOUT_S = 30.0
# A claim expires after this, so a sender that died mid-delivery does not
# hold a notification forever; another sender then retries it.
CLAIM_LEASE = timedelta(minutes=5)
RETRY_MIN_S = 5.0
RETRY_MAX_S = 600.0
# /healthz fails when the sender loop has not completed a pass for this long.
STUCK_AFTER_S = 120.0

Deliver = Callable[..., channel_delivery.Delivery]


def retry_delay_s(attempts: int) -> float:
    """Exponential backoff after ``attempts`` failed attempts: 5 s, 10 s, 20 s, ... up to 10 min."""
    return min(RETRY_MAX_S, RETRY_MIN_S * 2 ** max(0, attempts - 1))


class OutboxSender:
    def __init__(
        self,
        outbox: OutboxStore,
        planner: NotificationPlanner,
        channels: list[ChannelConfig],
        *,
        redact: Callable[[str], str],
        give_up_after_s: float,
        metrics: object | None = None,
        clock: Clock | None = None,
        deliver: Deliver = channel_delivery.deliver,
    ) -> None:
        self._outbox = outbox
        self._planner = planner
        self._channels = {channel.name: channel for channel in channels}
        self._redact = redact
        self._give_up_after = timedelta(seconds=give_up_after_s)
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._deliver = deliver
        self.sender_id = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
        self._last_pass = time.monotonic()
        self._last_tick: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Future[str]] = set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="launchwatch-sender")

    async def stop(self) -> None:
        """Stop the loop, then wait for deliveries already started to be recorded."""
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._in_flight:
            _, unfinished = await asyncio.wait(set(self._in_flight), timeout=DELIVERY_TIMEOUT_S + 5)
            if unfinished:
                log.error("stopped with %d notifications still being delivered; they are sent again after their claim expires", len(unfinished))

    def healthy(self, now: float | None = None) -> tuple[bool, str]:
        if self._task is None:
            return True, "ok"
        age = (time.monotonic() if now is None else now) - self._last_pass
        if self._task.done() or age > STUCK_AFTER_S:
            return False, f"notification sender has not completed a pass for {age:.0f} s"
        return True, "ok"

    async def tick(self, now: datetime) -> int:
        """Write reminders, escalations and deferred openings that are due; return how many."""
        incidents = await asyncio.to_thread(self._outbox.open_incidents)
        drafts = [draft for incident in incidents for draft in self._planner.due(incident, now)]
        if not drafts:
            return 0
        return await asyncio.to_thread(self._outbox.insert, drafts, now)

    async def process_once(self, now: datetime) -> int:
        """Claim what is due and deliver it; return how many were delivered."""
        claimed = await asyncio.to_thread(self._outbox.claim, self.sender_id, now, CLAIM_LEASE)
        sends = [asyncio.ensure_future(self._send(notification, now)) for notification in claimed]
        for send in sends:
            self._in_flight.add(send)
            send.add_done_callback(self._in_flight.discard)
        # A delivery that has started must also be recorded, or it would go
        # out again once its claim expires. So cancelling this pass at
        # shutdown leaves the sends running, and stop() waits for them.
        outcomes = await asyncio.shield(asyncio.gather(*sends)) if sends else []
        if self._metrics is not None:
            self._metrics.set_outbox_depth(await asyncio.to_thread(self._outbox.depth))  # type: ignore[attr-defined]
        return sum(1 for state in outcomes if state == "sent")

    async def _send(self, notification: ClaimedNotification, now: datetime) -> str:
        channel = self._channels.get(notification.channel)
        if channel is None:
            ok, error, duration, permanent = False, f"channel {notification.channel!r} is no longer configured", 0.0, True
        else:
            event = NotificationEvent.from_json(notification.payload)
            message = render(event, channel.url, self._redact)
            delivery = await asyncio.to_thread(
                functools.partial(
                    self._deliver, channel.url, message.title, message.body, message.body_format, DELIVERY_TIMEOUT_S,
                    notify_type=message.notify_type,
                )
            )
            ok, error, duration, permanent = delivery.ok, delivery.error, delivery.duration_s, delivery.permanent
        if error:
            error = self._redact(error)

        attempts = notification.attempts + 1
        give_up = permanent or (not ok and now - notification.created_at >= self._give_up_after)
        retry_at = now + timedelta(seconds=retry_delay_s(attempts))
        state = await asyncio.to_thread(
            self._outbox.complete,
            notification,
            self.sender_id,
            now,
            ok=ok,
            error=error,
            duration_s=duration,
            give_up=give_up,
            retry_at=retry_at,
        )
        self._log_outcome(notification, state, attempts, error, retry_at)
        if self._metrics is not None:
            self._metrics.observe_notification(notification.channel, state)  # type: ignore[attr-defined]
        return state

    def _log_outcome(self, notification: ClaimedNotification, state: str, attempts: int, error: str | None, retry_at: datetime) -> None:
        fields = {"incident": notification.incident_id}
        if state == "sent":
            log.info("sent %s notification %d to channel %s", notification.kind, notification.id, notification.channel, extra=fields)
        elif state == "failed":
            log.error(
                "gave up on %s notification %d to channel %s after %d attempts: %s",
                notification.kind, notification.id, notification.channel, attempts, error, extra=fields,
            )
        else:
            log.warning(
                "could not send %s notification %d to channel %s (attempt %d), retrying at %s: %s",
                notification.kind, notification.id, notification.channel, attempts, retry_at.isoformat(timespec="seconds"), error, extra=fields,
            )

    async def _loop(self) -> None:
        while True:
            now = self._clock.now()
            try:
                monotonic_now = time.monotonic()
                if self._last_tick is None or monotonic_now - self._last_tick >= TICK_INTERVAL_S:
                    await self.tick(now)
                    self._last_tick = monotonic_now
                await self.process_once(now)
            except Exception:
                log.exception("notification pass failed; retrying in %.0f s", POLL_INTERVAL_S)
            else:
                self._last_pass = time.monotonic()
            await asyncio.sleep(POLL_INTERVAL_S)
