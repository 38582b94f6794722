"""The redirects probe: entry URLs reach the canonical HTTPS URL in few, permanent hops.

Each hop is requested by hand (no automatic redirects) so the probe reads
every status code, Location, Strict-Transport-Security header and
Set-Cookie header on the way.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator
from yarl import URL

from launchwatch.probes.context import ProbeContext, Target
from launchwatch.probes.errors import translate_network_error
from launchwatch.probes.result import Finding, ProbeResult, Reason, Severity, Status, status_from_findings

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_STATUSES = frozenset({301, 308})


class RedirectsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # URLs a visitor may type or follow; empty means http:// and https:// on the base URL's host.
    entries: list[str] = Field(default_factory=list)
    # Where every entry must end; empty means the base URL with the https scheme.
    canonical: str = ""
    # The maximum number of redirects followed from one entry; one more fails the chain as too long.
    max_hops: int = Field(default=10, ge=1, le=50)
    # The smallest acceptable HSTS max-age, in seconds; 0 skips the HSTS checks.
    hsts_min_age: int = Field(default=31_536_000, ge=0)
    require_include_subdomains: bool = False
    # Accept 302, 303 and 307 hops without a warning.
    allow_temporary: bool = False

    @field_validator("entries")
    @classmethod
    def _absolute_entries(cls, value: list[str]) -> list[str]:
        for entry in value:
            _require_absolute(entry, "entry")
        return value

    @field_validator("canonical")
    @classmethod
    def _absolute_canonical(cls, value: str) -> str:
        if value:
            _require_absolute(value, "canonical URL")
        return value

    def describe_target(self, target: Target) -> str:
        entries = ", ".join(entry_urls(self, target))
        return f"{entries} -> {canonical_url(self, target)}"


def _require_absolute(value: str, label: str) -> None:
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"invalid {label} {value!r}; write an absolute http:// or https:// URL such as https://example.com/")


def entry_urls(options: RedirectsOptions, target: Target) -> list[str]:
    """Return the configured entries, or http:// and https:// on the base URL's host."""
    if options.entries:
        return list(options.entries)
    base = URL(target.base_url)
    https = base if base.scheme == "https" else base.with_scheme("https").with_port(None)
    http = base if base.scheme == "http" else base.with_scheme("http").with_port(None)
    return [str(http.with_path("/").with_query(None)), str(https.with_path("/").with_query(None))]


def canonical_url(options: RedirectsOptions, target: Target) -> str:
    if options.canonical:
        return options.canonical
    base = URL(target.base_url)
    if base.scheme == "https":
        return str(base)
    return str(base.with_scheme("https").with_port(None))


# --- following one chain ---


@dataclass(slots=True)
class Hop:
    """One request of a chain and the parts of its response the checks read."""

    url: URL
    status: int
    location: URL | None
    hsts: str | None
    set_cookies: list[str]


@dataclass(slots=True)
class Chain:
    entry: str
    hops: list[Hop] = field(default_factory=list)
    # The URL that appeared twice, when the chain loops.
    loop_at: URL | None = None
    exceeded_max_hops: bool = False
    error: tuple[Reason, Finding] | None = None

    @property
    def redirect_count(self) -> int:
        return sum(1 for hop in self.hops if hop.location is not None)

    @property
    def final(self) -> Hop | None:
        """The response that ended the chain, or None when the chain did not end in one."""
        if self.loop_at is not None or self.exceeded_max_hops or self.error is not None or not self.hops:
            return None
        return self.hops[-1]


async def follow_chain(
    session: aiohttp.ClientSession,
    entry: str,
    *,
    max_hops: int,
    timeout_s: float,
    verify_tls: bool = True,
) -> Chain:
    """Request `entry` and each Location after it until a non-redirect response.

    Stops at a URL seen before (a loop) or after `max_hops` redirects.
    Network and TLS errors end the chain with the translated reason and
    finding instead of raising.
    """
    chain = Chain(entry=entry)
    url = URL(entry)
    seen = {str(url)}
    while True:
        try:
            hop = await _request(session, url, verify_tls=verify_tls)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
            chain.error = translate_network_error(
                exc, host=url.host or "", port=url.port, timeout_s=timeout_s, phase=f"requesting {url}"
            )
            if chain.error is None:
                raise
            return chain
        chain.hops.append(hop)
        if hop.location is None:
            return chain
        if str(hop.location) in seen:
            chain.loop_at = hop.location
            return chain
        if chain.redirect_count > max_hops:
            chain.exceeded_max_hops = True
            return chain
        seen.add(str(hop.location))
        url = hop.location


async def _request(session: aiohttp.ClientSession, url: URL, *, verify_tls: bool) -> Hop:
    ssl_option: bool | None = None if verify_tls else False
    request_options = {} if ssl_option is None else {"ssl": ssl_option}
    async with session.get(url, allow_redirects=False, **request_options) as response:
        location_header = response.headers.get("Location")
        location = None
        if response.status in REDIRECT_STATUSES and location_header:
            location = URL(urljoin(str(url), location_header))
        return Hop(
            url=url,
            status=response.status,
            location=location,
            hsts=response.headers.get("Strict-Transport-Security"),
            set_cookies=response.headers.getall("Set-Cookie", []),
        )


# --- the probe ---


async def probe(options: RedirectsOptions, ctx: ProbeContext) -> ProbeResult:
    started_at = ctx.clock.now()
    start = ctx.clock.monotonic()
    canonical = URL(canonical_url(options, ctx.target))
    chains: list[Chain] = []
    findings: list[Finding] = []
    reasons: list[Reason] = []
    try:
        async with asyncio.timeout(ctx.timeout_s):
            async with ctx.http_session() as session:
                for entry in entry_urls(options, ctx.target):
                    chain = await follow_chain(session, entry, max_hops=options.max_hops, timeout_s=ctx.timeout_s)
                    chains.append(chain)
    except TimeoutError:
        findings.append(
            Finding(
                code="redirects.timeout",
                severity=Severity.FAIL,
                message=(
                    f"following the redirects did not finish within the {ctx.timeout_s:g}s timeout "
                    f"({len(chains)} of {len(entry_urls(options, ctx.target))} entries done); "
                    "check that every host in the chain responds, or raise the check's timeout"
                ),
                subject=ctx.target.base_url,
            )
        )
        reasons.append(Reason.TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - a probe reports its own bugs as an error result
        ctx.logger.exception("redirects probe failed for %s", ctx.target.base_url)
        return ProbeResult(
            status=Status.ERROR,
            reason=Reason.PROBE_ERROR,
            started_at=started_at,
            duration_s=ctx.clock.monotonic() - start,
            findings=[
                Finding(
                    code="redirects.probe_error",
                    severity=Severity.FAIL,
                    message=f"the redirects probe failed with {type(exc).__name__}: {exc}; this is a bug in launchwatch, please report it",
                    subject=ctx.target.base_url,
                )
            ],
        )

    for chain in chains:
        chain_findings, chain_reasons = judge_chain(chain, canonical, options)
        findings.extend(chain_findings)
        reasons.extend(chain_reasons)

    findings = _unique(findings)
    duration = ctx.clock.monotonic() - start
    metrics = {"duration_seconds": duration}
    if chains:
        metrics["redirects_hops"] = float(max(chain.redirect_count for chain in chains))
    status = status_from_findings(findings)
    return ProbeResult(
        status=status,
        reason=_pick_reason(status, findings, reasons),
        started_at=started_at,
        duration_s=duration,
        metrics=metrics,
        findings=findings,
    )


def judge_chain(chain: Chain, canonical: URL, options: RedirectsOptions) -> tuple[list[Finding], list[Reason]]:
    """Return the findings for one followed chain and the reasons they carry."""
    findings: list[Finding] = []
    reasons: list[Reason] = []
    entry = URL(chain.entry)

    if chain.error is not None:
        reason, finding = chain.error
        findings.append(finding)
        reasons.append(reason)
    findings.extend(_hop_findings(chain, options))
    if chain.loop_at is not None:
        path = " -> ".join(str(hop.url) for hop in chain.hops) + f" -> {chain.loop_at}"
        findings.append(
            _finding(
                "redirects.loop",
                Severity.FAIL,
                chain.entry,
                f"the redirects from {chain.entry} loop back to {chain.loop_at} ({path}); "
                "make every rule redirect straight to the canonical URL so no rule sends visitors back",
            )
        )
    if chain.exceeded_max_hops:
        findings.append(
            _finding(
                "redirects.too_many_hops",
                Severity.FAIL,
                chain.entry,
                f"{chain.entry} still redirects after {options.max_hops} hops (last {chain.hops[-1].url} -> "
                f"{chain.hops[-1].location}); redirect straight to {canonical}",
            )
        )

    final = chain.final
    if final is not None:
        findings.extend(_destination_findings(chain, final, entry, canonical, findings))
        findings.extend(_extra_hop_findings(chain, entry, canonical))
        findings.extend(_hsts_findings(chain, final, options))
    findings.extend(_cookie_findings(chain, canonical))
    return findings, reasons


def _hop_findings(chain: Chain, options: RedirectsOptions) -> list[Finding]:
    findings = []
    for hop in chain.hops:
        if hop.location is None:
            continue
        if hop.url.scheme == "https" and hop.location.scheme == "http":
            findings.append(
                _finding(
                    "redirects.downgrade",
                    Severity.FAIL,
                    str(hop.url),
                    f"{hop.url} redirects from HTTPS down to {hop.location} ({hop.status}); "
                    "point the Location at the https:// URL",
                )
            )
        if hop.status not in PERMANENT_STATUSES and not options.allow_temporary:
            permanent = 308 if hop.status == 307 else 301
            findings.append(
                _finding(
                    "redirects.temporary",
                    Severity.WARN,
                    str(hop.url),
                    f"{hop.url} redirects to {hop.location} with the temporary status {hop.status}; "
                    f"use {permanent} so browsers and search engines remember the move, or set allow_temporary",
                )
            )
    return findings


def _destination_findings(chain: Chain, final: Hop, entry: URL, canonical: URL, earlier: list[Finding]) -> list[Finding]:
    findings = []
    final_url = final.url
    if entry.scheme == "http" and final_url.scheme != "https":
        findings.append(
            _finding(
                "redirects.no_https",
                Severity.FAIL,
                chain.entry,
                f"{chain.entry} is served over plain HTTP ({final_url} answered {final.status}) instead of "
                f"redirecting to HTTPS; redirect it with 301 to {canonical}",
            )
        )
    scheme_reported = any(f.code in ("redirects.no_https", "redirects.downgrade") for f in earlier + findings)
    host_differs = final_url.host != canonical.host
    port_differs = final_url.scheme == canonical.scheme and final_url.port != canonical.port
    scheme_differs = final_url.scheme != canonical.scheme and not scheme_reported
    if host_differs or port_differs or scheme_differs:
        findings.append(
            _finding(
                "redirects.wrong_destination",
                Severity.FAIL,
                chain.entry,
                f"{chain.entry} ends at {final_url} ({final.status}) instead of the canonical "
                f"{canonical.scheme}://{canonical.authority}; redirect it to {canonical}",
            )
        )
    return findings


def _extra_hop_findings(chain: Chain, entry: URL, canonical: URL) -> list[Finding]:
    # An http:// entry on another host needs two hops when HSTS is used:
    # first to https:// on the same host (so the browser receives that host's
    # HSTS header), then to the canonical host. Every other entry needs one.
    needed = 2 if entry.scheme == "http" and entry.host != canonical.host else 1
    hops = chain.redirect_count
    if hops <= needed:
        return []
    path = " -> ".join(str(hop.url) for hop in chain.hops)
    return [
        _finding(
            "redirects.extra_hops",
            Severity.WARN,
            chain.entry,
            f"{chain.entry} takes {hops} redirects to reach {chain.hops[-1].url} ({path}), {needed} would do; "
            f"redirect straight to {canonical}",
        )
    ]


def _hsts_findings(chain: Chain, final: Hop, options: RedirectsOptions) -> list[Finding]:
    if options.hsts_min_age == 0 or final.url.scheme != "https":
        return []
    subject = str(final.url)
    if final.hsts is None:
        on_redirects = [hop for hop in chain.hops[:-1] if hop.url.scheme == "https" and hop.hsts is not None]
        if on_redirects:
            return [
                _finding(
                    "redirects.hsts_only_on_redirect",
                    Severity.WARN,
                    subject,
                    f"{final.url} sends no Strict-Transport-Security header, only the redirect at {on_redirects[0].url} does; "
                    "send it on the final HTTPS response too (nginx: add_header ... always, in every server block)",
                )
            ]
        return [
            _finding(
                "redirects.hsts_missing",
                Severity.WARN,
                subject,
                f"{final.url} sends no Strict-Transport-Security header; "
                f'add "Strict-Transport-Security: max-age={options.hsts_min_age}" to HTTPS responses',
            )
        ]
    max_age, include_subdomains = parse_hsts(final.hsts)
    findings = []
    if max_age is None or max_age < options.hsts_min_age:
        observed = "no valid max-age" if max_age is None else f"max-age={max_age}"
        findings.append(
            _finding(
                "redirects.hsts_short",
                Severity.WARN,
                subject,
                f"{final.url} sends Strict-Transport-Security with {observed}, below the minimum {options.hsts_min_age} s; "
                f"set max-age={options.hsts_min_age} or more",
            )
        )
    if options.require_include_subdomains and not include_subdomains:
        findings.append(
            _finding(
                "redirects.hsts_no_subdomains",
                Severity.WARN,
                subject,
                f"{final.url} sends Strict-Transport-Security without includeSubDomains; "
                "add includeSubDomains once every subdomain serves HTTPS",
            )
        )
    return findings


def parse_hsts(value: str) -> tuple[int | None, bool]:
    """Return max-age (None when missing or invalid) and includeSubDomains of an HSTS header (RFC 6797)."""
    max_age = None
    include_subdomains = False
    for directive in value.split(";"):
        name, _, argument = directive.strip().partition("=")
        name = name.strip().lower()
        argument = argument.strip().strip('"')
        if name == "max-age" and argument.isdigit():
            max_age = int(argument)
        elif name == "includesubdomains":
            include_subdomains = True
    return max_age, include_subdomains


@dataclass(frozen=True, slots=True)
class SetCookie:
    """A Set-Cookie header without its value, which may be a secret."""

    name: str
    domain: str | None
    secure: bool


def parse_set_cookie(header: str) -> SetCookie:
    """Parse the name and the attributes of a Set-Cookie header, dropping the value."""
    pair, *attributes = header.split(";")
    name = pair.partition("=")[0].strip()
    domain = None
    secure = False
    for attribute in attributes:
        key, _, argument = attribute.strip().partition("=")
        key = key.strip().lower()
        if key == "domain" and argument.strip():
            domain = argument.strip().lstrip(".").lower()
        elif key == "secure":
            secure = True
    return SetCookie(name=name, domain=domain, secure=secure)


def _cookie_findings(chain: Chain, canonical: URL) -> list[Finding]:
    findings = []
    canonical_host = (canonical.host or "").lower()
    for hop in chain.hops:
        host = (hop.url.host or "").lower()
        for header in hop.set_cookies:
            cookie = parse_set_cookie(header)
            subject = f"{hop.url} cookie {cookie.name}"
            if hop.url.scheme == "https" and not cookie.secure:
                findings.append(
                    _finding(
                        "redirects.cookie_insecure",
                        Severity.WARN,
                        subject,
                        f"{hop.url} sets cookie {cookie.name!r} without the Secure attribute; "
                        "add Secure so the browser never sends it over plain HTTP",
                    )
                )
            findings.extend(_cookie_domain_findings(cookie, host, hop.url, canonical_host, subject))
    return findings


def _cookie_domain_findings(cookie: SetCookie, host: str, url: URL, canonical_host: str, subject: str) -> list[Finding]:
    if cookie.domain is not None:
        reaches_canonical = canonical_host == cookie.domain or canonical_host.endswith("." + cookie.domain)
        if reaches_canonical:
            return []
        observed = f"sets cookie {cookie.name!r} with Domain={cookie.domain}"
    else:
        if host == canonical_host:
            return []
        observed = f"sets host-only cookie {cookie.name!r} on {host}"
    return [
        _finding(
            "redirects.cookie_domain_split",
            Severity.WARN,
            subject,
            f"{url} {observed}, which the browser never sends to the canonical host {canonical_host}, "
            f"so sessions split between the two names; set the cookie on {canonical_host} only "
            f"(or Domain={_parent_domain(canonical_host, host)} to share it)",
        )
    ]


def _parent_domain(first: str, second: str) -> str:
    """Return the longest domain both host names end in, or the first host when they share none."""
    first_labels = first.split(".")[::-1]
    second_labels = second.split(".")[::-1]
    common = []
    for a, b in zip(first_labels, second_labels, strict=False):
        if a != b:
            break
        common.append(a)
    return ".".join(reversed(common)) if len(common) >= 2 else first


def _finding(code: str, severity: Severity, subject: str, message: str) -> Finding:
    return Finding(code=code, severity=severity, message=message, subject=subject)


def _unique(findings: list[Finding]) -> list[Finding]:
    # Several entries usually end at the same final response, which would
    # report its HSTS and cookie findings once per entry.
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for finding in findings:
        key = (finding.code, finding.subject, finding.message)
        if key not in seen:
            seen.add(key)
            unique.append(finding)
    return unique


_REASON_BY_PREFIX = {
    "redirects.hsts": Reason.HEADER,
    "redirects.cookie": Reason.HEADER,
}


def _pick_reason(status: Status, findings: list[Finding], network_reasons: list[Reason]) -> Reason:
    if status == Status.PASS:
        return Reason.OK
    if network_reasons:
        return network_reasons[0]
    worst = max(findings, key=lambda f: (f.severity == Severity.FAIL, f.severity == Severity.WARN))
    for prefix, reason in _REASON_BY_PREFIX.items():
        if worst.code.startswith(prefix):
            return reason
    return Reason.REDIRECT
