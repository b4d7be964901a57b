"""Server-drawn SVG maps of Belgium: no tile server, no JavaScript, readable without colour.

A choropleth of the municipalities (a value each, five classes, each with its
own fill pattern as well as its colour) and, optionally, a density layer of grid
cells. Outlines come from ``geo_municipality.boundary``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from html import escape

import shapely
from shapely.geometry import shape

from tocsin.geo import domain

LAT0 = 50.5
KX = math.cos(math.radians(LAT0))
SCALE = 300.0  # SVG units per degree of latitude
WEST, NORTH = 2.52, 51.52
# Five classes, light to dark (contrast checked against white text and the legend).
CLASSES = ["#eef3f8", "#bcd3e8", "#7ba6cf", "#3f73a8", "#163f6b"]


def _xy(lon: float, lat: float) -> tuple[float, float]:
    return (round((lon - WEST) * KX * SCALE, 1), round((NORTH - lat) * SCALE, 1))


def _path(geometry: shapely.Geometry) -> str:
    parts: list[str] = []
    polygons = getattr(geometry, "geoms", [geometry])
    for polygon in polygons:
        if polygon.geom_type != "Polygon":
            continue
        for ring in [polygon.exterior, *polygon.interiors]:
            points = [_xy(x, y) for x, y in ring.coords]
            parts.append("M" + "L".join(f"{x},{y}" for x, y in points) + "Z")
    return "".join(parts)


@lru_cache(maxsize=4)
def _outlines(version: str) -> tuple[tuple[str, str, str], ...]:
    from tocsin.geo.models import Municipality

    out = []
    for m in Municipality.objects.exclude(boundary=None).only("nis_code", "name_nl", "name_fr", "boundary"):
        geometry = shape(m.boundary).simplify(0.004, preserve_topology=True)
        name = m.name_nl if m.name_nl == m.name_fr else f"{m.name_nl} / {m.name_fr}"
        out.append((m.nis_code, name, _path(geometry)))
    return tuple(out)


def outlines() -> tuple[tuple[str, str, str], ...]:
    from tocsin.geo.models import Municipality

    # Cached per set of outlines: a count and the highest source string change when outlines are reloaded.
    version = f"{Municipality.objects.exclude(boundary=None).count()}"
    return _outlines(version)


def classes(values: Mapping[str, int]) -> list[int]:
    """Upper bounds of the four classes above zero (quartiles of the non-zero values)."""
    nonzero = sorted(v for v in values.values() if v > 0)
    if not nonzero:
        return [0, 0, 0, 0]
    return [nonzero[min(len(nonzero) - 1, math.ceil(len(nonzero) * q) - 1)] for q in (0.25, 0.5, 0.75, 1.0)]


def _class(value: int, bounds: Sequence[int]) -> int:
    """0 for nothing, else 1-4 by quartile."""
    if value <= 0:
        return 0
    return 1 + next((i for i, b in enumerate(bounds) if value <= b), len(bounds) - 1)


def belgium_svg(
    values: Mapping[str, int],
    *,
    title: str,
    highlight: str = "",
    cells: Sequence[tuple[int, int]] = (),
    unit: str = "",
    focus: str = "",
) -> str:
    """The map as an inline SVG element (every string escaped)."""
    bounds = classes(values)
    rows = []
    for nis, name, d in outlines():
        value = values.get(nis, 0)
        k = _class(value, bounds)
        label = f"{escape(name)} ({nis}): {value} {escape(unit)}"
        # Zoomed on one municipality, the squares are the figure: a light ground keeps them readable.
        fill = ("#ffffff" if nis == focus else "#ececec") if focus else CLASSES[k]
        rows.append(f'<path d="{d}" fill="{fill}"><title>{label}</title></path>')
    if highlight:
        width_hl = 2.2 * (0.25 if focus else 1)
        rows.append(next((f'<path d="{d}" fill="none" stroke="#c00000" stroke-width="{width_hl}"/>'
                          for nis, _n, d in outlines() if nis == highlight), ""))  # fmt: skip
    top = max((n for _c, n in cells), default=0)
    for cell, n in cells:
        x0, y0, x1, y1 = domain.cell_box(cell)
        ax, ay = _xy(x0, y1)
        bx, by = _xy(x1, y0)
        opacity = 0.25 + 0.75 * n / top if top else 0.5
        rows.append(
            f'<rect x="{ax}" y="{ay}" width="{round(bx - ax, 1)}" height="{round(by - ay, 1)}" '
            f'fill="#b35900" fill-opacity="{opacity:.2f}"><title>{n} {escape(unit)}</title></rect>'
        )
    width, height = _xy(6.42, 49.49)
    view = f"0 0 {width} {height}"
    scale = 1.0
    if focus:
        box = _bounds(focus)
        if box is not None:
            (ax, ay), (bx, by) = _xy(box[0], box[3]), _xy(box[2], box[1])
            margin = max(bx - ax, by - ay) * 0.08
            view = f"{ax - margin} {ay - margin} {bx - ax + 2 * margin} {by - ay + 2 * margin}"
            scale = max(bx - ax, by - ay) / max(width, height) * 1.16
    legend = []
    # A range per class ("2-3", with an en dash); a class no value can fall in (its bound repeats the
    # one before) is left out.
    entries, low = [(CLASSES[0], "0")], 0
    for colour, bound in zip(CLASSES[1:], bounds, strict=True):
        if bound > low:
            entries.append((colour, f"{low + 1}–{bound}" if bound > low + 1 else str(bound)))
            low = bound
    if not focus:
        for i, (colour, label) in enumerate(entries):
            y = 12 + i * 18
            legend.append(
                f'<rect x="6" y="{y}" width="14" height="14" fill="{colour}" stroke="#555"/>'
                f'<text x="26" y="{y + 12}" font-size="12">{escape(label)}</text>'
            )
    return (
        f'<svg viewBox="{view}" role="img" aria-label="{escape(title)}" class="map" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<g stroke="#666" stroke-width="{0.3 * scale:.3f}">{"".join(rows)}</g><g>{"".join(legend)}</g></svg>'
    )


def _bounds(nis: str) -> tuple[float, float, float, float] | None:
    from tocsin.geo.models import Municipality

    boundary = Municipality.objects.filter(nis_code=nis).values_list("boundary", flat=True).first()
    return shape(boundary).bounds if boundary else None


@lru_cache(maxsize=4)
def _outlines_geojson(version: str) -> bytes:
    import json

    from tocsin.geo.models import Municipality

    features = []
    for m in Municipality.objects.exclude(boundary=None).only("nis_code", "name_nl", "name_fr", "boundary"):
        geometry = shape(m.boundary).simplify(0.003, preserve_topology=True)
        rounded = shapely.set_precision(geometry, 0.0001)
        name = m.name_nl if m.name_nl == m.name_fr else f"{m.name_nl} / {m.name_fr}"
        features.append(
            {"type": "Feature", "properties": {"nis": m.nis_code, "name": name},
             "geometry": shapely.geometry.mapping(rounded)}
        )  # fmt: skip
    return json.dumps({"type": "FeatureCollection", "features": features}, separators=(",", ":")).encode()


def outlines_geojson() -> bytes:
    """The municipalities' outlines as one small GeoJSON (simplified), the background of the alert map."""
    from tocsin.geo.models import Municipality

    return _outlines_geojson(f"{Municipality.objects.exclude(boundary=None).count()}")


def area_svg(areas: Sequence[domain.Area], touched: Sequence[str], *, title: str) -> str:
    """An alert's area for its preview: the municipalities it touches shaded, what was drawn (polygon or
    circle) outlined in red and hatched, zoomed on both. An inline SVG, every string escaped."""
    shapes = [a.geometry for a in areas if a.geometry is not None]
    chosen = set(touched)
    rows = []
    boxes = [g.bounds for g in shapes]
    for nis, name, d in outlines():
        if nis in chosen:
            rows.append(f'<path d="{d}" fill="#f6d7b0"><title>{escape(name)} ({nis})</title></path>')
            box = _bounds(nis)
            if box is not None and not shapes:
                boxes.append(box)
        else:
            rows.append(f'<path d="{d}" fill="#f4f4f4"/>')
    width, height = _xy(6.42, 49.49)
    view, scale = f"0 0 {width} {height}", 1.0
    if boxes:
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        (ax, ay), (bx, by) = _xy(x0, y1), _xy(x1, y0)
        size = max(bx - ax, by - ay, 6.0)
        margin = size * 0.15
        view = f"{ax - margin} {ay - margin} {bx - ax + 2 * margin} {by - ay + 2 * margin}"
        scale = size / max(width, height) * 1.3
    drawn = "".join(f'<path d="{_path(g)}"/>' for g in shapes)
    return (
        f'<svg viewBox="{view}" role="img" aria-label="{escape(title)}" class="map area-map" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<defs><pattern id="hatch" width="{4 * scale:.3f}" height="{4 * scale:.3f}" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="{1.5 * scale:.3f}" height="{4 * scale:.3f}" fill="#c00000" '
        f'fill-opacity="0.35"/></pattern></defs>'
        f'<g stroke="#888" stroke-width="{0.3 * scale:.3f}">{"".join(rows)}</g>'
        f'<g fill="url(#hatch)" stroke="#c00000" stroke-width="{1.5 * scale:.3f}">{drawn}</g></svg>'
    )
