"""Checks as the daemon runs them: config merged with defaults, options validated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from launchwatch.monitor.config import CheckConfig, Config, SiteConfig
from launchwatch.probes.context import Target
from launchwatch.probes.registry import PROBE_KINDS


@dataclass(frozen=True, slots=True)
class CheckDefinition:
    # ``site/check``: stable across renames, so the history stays attached.
    id: str
    site: str
    name: str
    kind: str
    options: BaseModel
    target: Target
    interval_s: float
    timeout_s: float
    jitter_s: float
    severity: str
    failure_threshold: int
    success_threshold: int
    enabled: bool = True
    # Names of the channels that hear about this check's incidents.
    channels: tuple[str, ...] = ()

    @property
    def target_label(self) -> str:
        """A short description of what the check talks to, for logs."""
        describe = getattr(self.options, "describe_target", None)
        if callable(describe):
            return str(describe(self.target))
        return self.target.base_url


def build_check(config: Config, site: SiteConfig, check: CheckConfig, options: BaseModel) -> CheckDefinition:
    defaults = config.defaults
    return CheckDefinition(
        id=f"{site.name}/{check.id}",
        site=site.name,
        name=check.name or check.id,
        kind=check.kind,
        options=options,
        target=Target(site=site.name, base_url=site.base_url, resolve=dict(site.resolve), headers=dict(site.headers)),
        interval_s=_pick(check.interval, defaults.interval),
        timeout_s=_pick(check.timeout, defaults.timeout),
        jitter_s=_pick(check.jitter, defaults.jitter),
        severity=_pick(check.severity, defaults.severity),
        failure_threshold=_pick(check.failure_threshold, defaults.failure_threshold),
        success_threshold=_pick(check.success_threshold, defaults.success_threshold),
        enabled=check.enabled,
        channels=tuple(_first_set(check.channels, site.channels, config.alerts.channels)),
    )


def build_checks(config: Config) -> list[CheckDefinition]:
    """Build every check of a config whose options already validated."""
    checks = []
    for site in config.sites:
        for check in site.checks:
            options = PROBE_KINDS[check.kind].options_model.model_validate(check.options)
            checks.append(build_check(config, site, check, options))
    return checks


def _first_set(*choices: list[str] | None) -> list[str]:
    for choice in choices:
        if choice is not None:
            return choice
    return []


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value
