"""Option types that several probe kinds share.

Probes must not import the daemon's config package, so the duration syntax
lives here and the config schema reuses it.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Parse ``30``, ``1.5``, ``500ms``, ``30s``, ``5m``, ``2h`` or ``7d`` into seconds."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}; write a number of seconds or a duration like 30s, 5m or 1h")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"invalid duration {value!r}; a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    raise ValueError(f"invalid duration {value!r}; write a number of seconds or a duration like 30s, 5m or 1h")


# Seconds as a float; YAML may write a plain number or a string such as "500ms".
Duration = Annotated[float, BeforeValidator(parse_duration)]


def check_ca_file(value: str | None) -> str | None:
    """Check that ``value`` names a readable PEM bundle that OpenSSL loads.

    Loading it here turns a wrong path or file into a config error instead
    of an error result on every run of every check that uses it.
    """
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise ValueError(f"ca_file {value!r} not found; write the path of a PEM file with the CA certificates to trust")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"ca_file {value!r} is not a PEM bundle of CA certificates OpenSSL can load ({exc}); check the file") from None
    return value
