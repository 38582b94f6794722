"""Run one check: call its probe under a hard time limit, log, record metrics, queue for storage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from launchwatch.monitor.checks import CheckDefinition
from launchwatch.monitor.logs import check_logger
from launchwatch.monitor.metrics import LaunchwatchMetrics
from launchwatch.monitor.writer import ResultWriter
from launchwatch.probes.context import Clock, ProbeContext, SSLContexts, SystemClock
from launchwatch.probes.registry import PROBE_KINDS
from launchwatch.probes.result import Finding, ProbeResult, Reason, Severity, Status

log = logging.getLogger("launchwatch.runner")

# A probe enforces the check's timeout itself and reports what it was waiting
# for. This grace lets it do so; past it the runner cancels the probe.
HARD_TIMEOUT_GRACE_S = 2.0


class Runner:
    def __init__(
        self,
        *,
        metrics: LaunchwatchMetrics | None,
        writer: ResultWriter | None,
        dns_resolver_factory: Callable[[float], object],
        ssl_contexts: SSLContexts,
        max_concurrency: int,
        clock: Clock | None = None,
    ) -> None:
        self._metrics = metrics
        self._writer = writer
        self._dns_resolver_factory = dns_resolver_factory
        self._ssl_contexts = ssl_contexts
        self._clock = clock or SystemClock()
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._contexts: dict[str, ProbeContext] = {}

    def context_for(self, check: CheckDefinition) -> ProbeContext:
        """Return the check's probe context, built once and reused across runs."""
        context = self._contexts.get(check.id)
        if context is None:
            context = ProbeContext(
                target=check.target,
                timeout_s=check.timeout_s,
                dns_resolver=self._dns_resolver_factory(check.timeout_s),  # type: ignore[arg-type]
                ssl_contexts=self._ssl_contexts,
                logger=check_logger(log, check.id, check.kind, check.target_label),
                clock=self._clock,
            )
            self._contexts[check.id] = context
        return context

    async def run(self, check: CheckDefinition) -> ProbeResult:
        """Run the check once and hand the result on.

        Probe exceptions and timeouts become results, so only cancellation
        propagates.
        """
        async with self._semaphore:
            if self._metrics:
                self._metrics.running(1)
            try:
                result = await self._probe(check)
            finally:
                if self._metrics:
                    self._metrics.running(-1)

        self._log_result(check, result)
        if self._metrics:
            self._metrics.observe_result(check, result)
        if self._writer:
            self._writer.submit(check, result)
        return result

    async def _probe(self, check: CheckDefinition) -> ProbeResult:
        context = self.context_for(check)
        started_at = self._clock.now()
        start = self._clock.monotonic()
        try:
            async with asyncio.timeout(check.timeout_s + HARD_TIMEOUT_GRACE_S):
                return await PROBE_KINDS[check.kind].run(check.options, context)
        except TimeoutError:
            limit = check.timeout_s + HARD_TIMEOUT_GRACE_S
            finding = Finding(
                code="probe.hard_timeout",
                severity=Severity.FAIL,
                message=(
                    f"The {check.kind} probe did not finish within {limit:.1f} s and was cancelled; "
                    "the target may be hanging. Check that it responds, or raise the check's timeout."
                ),
                subject=check.target_label,
            )
            return ProbeResult(Status.FAIL, Reason.TIMEOUT, started_at, self._clock.monotonic() - start, findings=[finding])
        except Exception as exc:
            context.logger.exception("probe raised an exception")
            finding = Finding(
                code="probe.crashed",
                severity=Severity.FAIL,
                message=f"The {check.kind} probe failed with {type(exc).__name__}: {exc}. This is a launchwatch bug; please report it with this message.",
                subject=check.target_label,
            )
            return ProbeResult(Status.ERROR, Reason.PROBE_ERROR, started_at, self._clock.monotonic() - start, findings=[finding])

    def _log_result(self, check: CheckDefinition, result: ProbeResult) -> None:
        logger = self.context_for(check).logger
        if result.status in (Status.PASS,):
            if log.isEnabledFor(logging.DEBUG):
                logger.debug("check passed", extra={"status": str(result.status), "reason": str(result.reason), "duration_s": result.duration_s})
            return
        top = result.top_finding()
        level = logging.INFO if result.status == Status.WARN else logging.WARNING
        logger.log(
            level,
            top.message if top else f"check {result.status}",
            extra={"status": str(result.status), "reason": str(result.reason), "duration_s": result.duration_s},
        )
