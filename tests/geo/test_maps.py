"""The server-drawn map: classes, escaping, the k-anonymous density layer."""

from __future__ import annotations

import pytest

from tocsin.geo import maps
from tocsin.geo.models import Municipality, Region

pytestmark = pytest.mark.django_db


def test_classes_are_quartiles_of_the_non_zero_values():
    values = {str(i): i for i in range(0, 9)}  # 0 … 8
    bounds = maps.classes(values)
    assert bounds == [2, 4, 6, 8]
    assert [maps._class(v, bounds) for v in (0, 1, 2, 3, 8)] == [0, 1, 1, 2, 4]


def test_names_are_escaped_and_each_municipality_has_a_title():
    Region.objects.create(nis_code="02000", name_nl="V", name_fr="F", name_de="")
    square = {"type": "Polygon", "coordinates": [[[4, 50], [4.1, 50], [4.1, 50.1], [4, 50.1], [4, 50]]]}
    Municipality.objects.create(nis_code="11001", name_nl="<script>x</script>", name_fr="<script>x</script>",
                                region_id="02000", boundary=square)  # fmt: skip
    maps._outlines.cache_clear()
    svg = maps.belgium_svg(
        {"11001": 7}, title="Kaart & co", unit="people", cells=[(maps.domain.cell_of(4.05, 50.05), 9)]
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "Kaart &amp; co" in svg and "11001): 7 people" in svg and "<rect" in svg


def test_legend_names_ranges_and_leaves_out_empty_classes():
    from tocsin.geo.maps import CLASSES, belgium_svg

    svg = belgium_svg({"11002": 1, "44021": 1, "21004": 1, "31005": 3, "92094": 34}, title="t")
    assert ">1<" in svg and ">2–3<" in svg and ">4–34<" in svg
    assert svg.count('width="14" height="14"') < len(CLASSES)
