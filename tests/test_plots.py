"""The SVG charts used as asset metadata are well-formed and carry their data."""

import base64
import xml.etree.ElementTree as ET

from marquee.plots import bar_chart_svg, line_chart_svg, svg_markdown


def test_line_chart_is_valid_svg_with_one_polyline_per_series() -> None:
    svg = line_chart_svg({"loss": [3.0, 2.0, 1.5], "recall": [0.1, None, 0.3]}, title="curve <1>")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}polyline")) == 2
    assert "curve &lt;1&gt;" in svg
    assert "1.5 – 3" in svg  # the loss range is labelled


def test_bar_chart_and_markdown_round_trip() -> None:
    svg = bar_chart_svg({"two_tower": 0.47, "popularity": 0.33}, "recall@100")
    ET.fromstring(svg)
    md = svg_markdown(svg, "bars")
    assert md.startswith("![bars](data:image/svg+xml;base64,")
    assert base64.b64decode(md.split(",", 1)[1][:-1]).decode() == svg
