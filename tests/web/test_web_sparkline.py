"""sparkline_svg: well-formed SVG for empty, single, flat, varying and non-finite series."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from launchwatch.web.sparkline import sparkline_svg

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def polyline_points(svg: str) -> list[tuple[float, float]]:
    polyline = parse(svg).find(f"{SVG}polyline")
    assert polyline is not None, svg
    return [tuple(float(n) for n in pair.split(",")) for pair in polyline.get("points", "").split()]


def test_sparkline_empty_series_has_no_polyline():
    root = parse(sparkline_svg([]))

    assert root.tag == f"{SVG}svg"
    assert root.find(f"{SVG}polyline") is None
    assert root.find(f"{SVG}line") is not None
    assert "No latency data" in root.get("aria-label", "")


def test_sparkline_one_point_draws_level_line():
    points = polyline_points(sparkline_svg([0.25], width=100, height=20))

    assert len(points) == 2
    assert points[0][1] == points[1][1]
    assert points[0][0] < points[1][0]


def test_sparkline_flat_series_sits_in_middle():
    points = polyline_points(sparkline_svg([0.1, 0.1, 0.1], width=100, height=20))

    assert len(points) == 3
    assert {y for _, y in points} == {10.0}


def test_sparkline_slowest_run_at_top():
    points = polyline_points(sparkline_svg([0.1, 0.3, 0.2], width=100, height=20))
    ys = [y for _, y in points]

    assert ys[1] == min(ys)
    assert ys[0] == max(ys)
    assert ys[0] > ys[2] > ys[1]


def test_sparkline_points_span_width_inside_box():
    width, height = 120, 28
    points = polyline_points(sparkline_svg([0.5, 0.01, 2.0, 0.7], width=width, height=height))
    xs = [x for x, _ in points]
    ys = [y for _, y in points]

    assert xs == sorted(xs)
    assert xs[0] > 0
    assert xs[-1] < width
    assert xs[-1] - xs[0] > width * 0.9
    assert all(0 < y < height for y in ys)


def test_sparkline_skips_nan_and_infinity():
    points = polyline_points(sparkline_svg([0.1, math.nan, 0.2, math.inf, -math.inf]))

    assert len(points) == 2


def test_sparkline_only_nan_renders_as_empty():
    root = parse(sparkline_svg([math.nan]))

    assert root.find(f"{SVG}polyline") is None


def test_sparkline_label_names_latency_in_ms():
    label = parse(sparkline_svg([0.1, 0.25])).get("aria-label", "")

    assert "last 250 ms" in label
    assert "min 100 ms" in label
    assert "max 250 ms" in label
    assert "2 runs" in label


def test_sparkline_size_follows_arguments():
    root = parse(sparkline_svg([0.1, 0.2], width=300, height=40))

    assert root.get("width") == "300"
    assert root.get("height") == "40"
    assert root.get("viewBox") == "0 0 300 40"
