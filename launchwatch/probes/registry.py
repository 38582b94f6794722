"""The one map of probe kinds; config validation reads it too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from launchwatch.probes.context import ProbeContext
from launchwatch.probes.result import ProbeResult

ProbeFunction = Callable[[Any, ProbeContext], Awaitable[ProbeResult]]


@dataclass(frozen=True, slots=True)
class ProbeKind:
    name: str
    options_model: type[BaseModel]
    run: ProbeFunction
    summary: str


def _load_kinds() -> dict[str, ProbeKind]:
    # Imported here so each probe module can import the shared types above
    # without a cycle through this registry.
    from launchwatch.probes import http, redirects, tls

    kinds = [
        ProbeKind("http", http.HttpOptions, http.probe, "Uptime: one request, status, body and response time"),
        ProbeKind("tls", tls.TlsOptions, tls.probe, "Certificates: expiry, chain, host name, key strength and TLS version"),
        ProbeKind("redirects", redirects.RedirectsOptions, redirects.probe, "Redirects: entries reach the canonical HTTPS URL; HSTS and cookies"),
    ]
    return {kind.name: kind for kind in kinds}


PROBE_KINDS: dict[str, ProbeKind] = _load_kinds()
