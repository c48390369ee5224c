"""SVG chart helpers: pure functions, valid SVG, escaped labels."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from marketplace.charts import BarGroup, Series, bar_chart, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    return root


@pytest.mark.parametrize("low,high,count,expected", [
    (0, 3.27, 5, [0, 1, 2, 3, 4]),
    (0, 10, 3, [0, 5, 10]),
    (2.1, 2.9, 5, [2.0, 2.2, 2.4, 2.6, 2.8, 3.0]),
])
def test_nice_ticks_cover_the_range_with_round_steps(low, high, count, expected):
    ticks = nice_ticks(low, high, count=count)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= low and ticks[-1] >= high


def test_nice_ticks_survive_a_flat_range():
    ticks = nice_ticks(5, 5)
    assert ticks[0] <= 5 <= ticks[-1] and len(ticks) >= 2


def test_bar_chart_draws_one_bar_per_value_and_escapes_labels():
    svg = bar_chart([BarGroup("<Acme & Co>", (2.0, 2.5)), BarGroup("Lambda", (None, 3.0))],
                    series=("lowest", "median"), title="H100 by partner")
    root = parse(svg)
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 3
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert "<Acme & Co>" in texts and "$3.00" in texts
    assert root.find(f"{SVG}title").text == "H100 by partner"
    assert "Lambda: median $3.00" in root.find(f"{SVG}desc").text


def test_bar_lengths_are_proportional_to_values():
    root = parse(bar_chart([BarGroup("a", (1.0,)), BarGroup("b", (4.0,))], series=("price",), title="t"))
    widths = [float(r.get("width")) for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert widths[1] == pytest.approx(widths[0] * 4, rel=0.01)


def test_line_chart_plots_points_in_time_order_with_a_summary():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    points = ((start + timedelta(days=2), 2.0), (start, 3.0), (start + timedelta(days=1), 2.5))
    root = parse(line_chart([Series("on-demand", points)], title="History"))
    line = root.find(f"{SVG}polyline")
    xs = [float(pair.split(",")[0]) for pair in line.get("points").split()]
    assert xs == sorted(xs) and len(xs) == 3
    assert len(list(root.iter(f"{SVG}circle"))) == 3
    assert "lowest $2.00, highest $3.00, latest $2.00" in root.find(f"{SVG}desc").text


def test_line_chart_with_a_single_point_draws_a_dot():
    root = parse(line_chart([Series("spot", ((datetime(2025, 1, 1, tzinfo=UTC), 1.0),))], title="One"))
    assert root.find(f"{SVG}polyline") is None and len(list(root.iter(f"{SVG}circle"))) == 1


@pytest.mark.parametrize("svg", [bar_chart([], series=("x",), title="Empty"), line_chart([], title="Empty")])
def test_empty_charts_say_no_data(svg):
    assert "No data" in {t.text for t in parse(svg).iter(f"{SVG}text")}
