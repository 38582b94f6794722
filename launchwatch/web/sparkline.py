"""Latency sparklines as inline SVG, so the status page needs no script or image request."""

from __future__ import annotations

import math
from collections.abc import Sequence

# Space kept free at each edge, in SVG user units, so the stroke and the
# end-point dot are not clipped.
_PADDING = 2.0


def sparkline_svg(
    series: Sequence[float],
    *,
    width: int = 120,
    height: int = 28,
    stroke: str = "#2563eb",
) -> str:
    """Render durations in seconds, oldest first, as an SVG polyline.

    NaN and infinite values are skipped. An empty series renders a dashed
    baseline, one value renders a flat line with a dot, and a flat series a
    line across the middle. ``stroke`` must be a trusted CSS colour because it
    is written into the markup unescaped.
    """
    values = [float(value) for value in series if math.isfinite(value)]
    label = _describe(values)
    opening = (
        f'<svg class="sparkline" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{label}"><title>{label}</title>'
    )
    if not values:
        middle = height / 2
        return (
            f'{opening}<line x1="{_PADDING}" y1="{middle}" x2="{width - _PADDING}" y2="{middle}" '
            f'stroke="#cbd5e1" stroke-width="1" stroke-dasharray="3 3"/></svg>'
        )

    points = _points(values, width, height)
    if len(points) == 1:
        # One value has no x extent, so draw it as a level line across the box.
        x, y = points[0]
        points = [(_PADDING, y), (width - _PADDING, y)]
    coordinates = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    last_x, last_y = points[-1]
    return (
        f'{opening}<polyline fill="none" stroke="{stroke}" stroke-width="1.5" stroke-linejoin="round" '
        f'stroke-linecap="round" points="{coordinates}"/>'
        f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2" fill="{stroke}"/></svg>'
    )


def _points(values: list[float], width: int, height: int) -> list[tuple[float, float]]:
    low = min(values)
    high = max(values)
    usable_width = width - 2 * _PADDING
    usable_height = height - 2 * _PADDING
    step = usable_width / (len(values) - 1) if len(values) > 1 else 0.0
    points = []
    for index, value in enumerate(values):
        x = _PADDING + index * step
        if high == low:
            y = height / 2
        else:
            # SVG y grows downwards, so the slowest run sits at the top.
            y = _PADDING + (high - value) / (high - low) * usable_height
        points.append((x, y))
    return points


def _describe(values: list[float]) -> str:
    if not values:
        return "No latency data yet"
    last = _milliseconds(values[-1])
    low = _milliseconds(min(values))
    high = _milliseconds(max(values))
    runs = "run" if len(values) == 1 else f"{len(values)} runs"
    return f"Latency of the last {runs}: last {last}, min {low}, max {high}"


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
