"""Probe kinds: each module contains an options model and one async entry."""

from launchwatch.probes.context import ProbeContext, Target
from launchwatch.probes.result import Finding, ProbeResult, Reason, Severity, Status

__all__ = ["Finding", "ProbeContext", "ProbeResult", "Reason", "Severity", "Status", "Target"]
