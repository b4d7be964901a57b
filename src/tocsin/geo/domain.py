"""Pure geography: grid cells, areas, distances (no Django import).

Points are (longitude, latitude) in WGS 84, as in GeoJSON. An address carries
the id of the grid cell it lies in (0.01° by 0.01°, about 1.1 km by 0.7 km in
Belgium); an area query counts whole cells inside the area with one indexed
SQL statement and tests only the points of the cells on its edge one by one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from tocsin.organisations.domain import RuleError, gettext_noop

CELL = 0.01  # degrees
_ROWS = 100_000  # cell = (row + 9000) * _ROWS + (col + 18000)

# Belgium with a margin: coordinates outside are refused (a swapped lat/lon is the usual mistake).
BELGIUM_BOUNDS = (2.3, 49.3, 6.6, 51.7)  # min lon, min lat, max lon, max lat
MAX_RADIUS_M = 100_000
MAX_VERTICES = 100_000
EARTH_M = 6_371_008.8


def cell_of(lon: float, lat: float) -> int:
    return (math.floor(lat / CELL) + 9000) * _ROWS + (math.floor(lon / CELL) + 18000)


def cells_of(lon: Any, lat: Any) -> Any:
    """Vectorised ``cell_of`` over numpy arrays."""
    import numpy as np

    return (np.floor(lat / CELL).astype(np.int64) + 9000) * _ROWS + (np.floor(lon / CELL).astype(np.int64) + 18000)


def cell_box(cell: int) -> tuple[float, float, float, float]:
    row, col = divmod(cell, _ROWS)
    lat0 = (row - 9000) * CELL
    lon0 = (col - 18000) * CELL
    return (lon0, lat0, lon0 + CELL, lat0 + CELL)


def in_belgium(lon: float, lat: float) -> bool:
    x0, y0, x1, y1 = BELGIUM_BOUNDS
    return x0 <= lon <= x1 and y0 <= lat <= y1


@dataclass(frozen=True)
class Cover:
    """The grid cells of an area: wholly inside, and on its edge (to test point by point)."""

    inside: list[int]
    edge: list[int]


def cover(area: BaseGeometry) -> Cover:
    """Split the cells touching ``area`` into those wholly inside and those on its edge."""
    if area.is_empty:
        return Cover([], [])
    x0, y0, x1, y1 = area.bounds
    c0, r0 = math.floor(x0 / CELL), math.floor(y0 / CELL)
    c1, r1 = math.floor(x1 / CELL), math.floor(y1 / CELL)
    import numpy as np

    cols = np.arange(c0, c1 + 1)
    rows = np.arange(r0, r1 + 1)
    grid_c, grid_r = np.meshgrid(cols, rows)
    cc, rr = grid_c.ravel(), grid_r.ravel()
    boxes = shapely.box(cc * CELL, rr * CELL, (cc + 1) * CELL, (rr + 1) * CELL)
    prepared = area
    shapely.prepare(prepared)
    touching = shapely.intersects(prepared, boxes)
    inside = shapely.contains_properly(prepared, boxes)
    ids = (rr + 9000) * _ROWS + (cc + 18000)
    return Cover(inside=[int(i) for i in ids[inside]], edge=[int(i) for i in ids[touching & ~inside]])


def contains(area: BaseGeometry, lon: Any, lat: Any) -> Any:
    """Vectorised point-in-area test (points on the boundary count as inside)."""
    shapely.prepare(area)
    return shapely.intersects_xy(area, lon, lat)


def circle(lon: float, lat: float, radius_m: float, *, segments: int = 64) -> BaseGeometry:
    """A circle on the ground as a polygon in degrees (local equirectangular, fine below 100 km)."""
    if not in_belgium(lon, lat):
        raise RuleError(gettext_noop("The centre of the circle is not in Belgium."), field="center")
    if not (0 < radius_m <= MAX_RADIUS_M):
        raise RuleError(
            gettext_noop("The radius must be between 1 and %(max)s metres."),
            field="radius_m",
            params={"max": MAX_RADIUS_M},
        )
    dlat = math.degrees(radius_m / EARTH_M)
    dlon = dlat / math.cos(math.radians(lat))
    angles = [2 * math.pi * i / segments for i in range(segments)]
    ring = [(lon + dlon * math.cos(a), lat + dlat * math.sin(a)) for a in angles]
    return shapely.Polygon(ring)


def geometry_from_geojson(value: Mapping[str, Any]) -> BaseGeometry:
    """A Polygon or MultiPolygon from GeoJSON (a bare geometry, a Feature or a FeatureCollection).

    Refuses, naming the problem: other types, too many vertices, invalid rings
    (self-intersections), coordinates outside Belgium.
    """
    if not isinstance(value, Mapping):
        raise RuleError(gettext_noop("The area must be a GeoJSON object."), field="geometry")
    kind = value.get("type")
    if kind == "FeatureCollection":
        parts = [geometry_from_geojson(f) for f in value.get("features") or []]
        if not parts:
            raise RuleError(gettext_noop("The GeoJSON feature collection is empty."), field="geometry")
        return shapely.union_all(parts)
    if kind == "Feature":
        return geometry_from_geojson(value.get("geometry") or {})
    if kind not in ("Polygon", "MultiPolygon"):
        raise RuleError(
            gettext_noop("The area must be a GeoJSON Polygon or MultiPolygon, not %(kind)s."),
            field="geometry",
            params={"kind": str(kind)},
        )
    try:
        geometry = shape(value)
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.GEOSException):
        raise RuleError(gettext_noop("The GeoJSON coordinates are not a valid polygon."), field="geometry") from None
    if shapely.get_num_coordinates(geometry) > MAX_VERTICES:
        raise RuleError(
            gettext_noop("The area has more than %(max)s points; simplify it."),
            field="geometry",
            params={"max": MAX_VERTICES},
        )
    if geometry.is_empty or geometry.area == 0:
        raise RuleError(gettext_noop("The area is empty."), field="geometry")
    x0, y0, x1, y1 = geometry.bounds
    if not (in_belgium(x0, y0) and in_belgium(x1, y1)):
        raise RuleError(
            gettext_noop("The area lies (partly) outside Belgium; GeoJSON gives longitude first, then latitude."),
            field="geometry",
        )
    if not geometry.is_valid:
        raise RuleError(
            gettext_noop("The area's outline crosses itself: %(why)s."),
            field="geometry",
            params={"why": shapely.is_valid_reason(geometry)},
        )
    return geometry


def split(area: BaseGeometry, count: int, *, seed: int) -> list[BaseGeometry]:
    """Divide an area into ``count`` contiguous parts (Voronoi cells of seeded points inside it)."""
    if count <= 1:
        return [area]
    import numpy as np

    rng = np.random.default_rng(seed)
    points = random_points(area, count, rng)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(points), extend_to=area)
    pieces = [shapely.intersection(c, area) for c in cells.geoms]
    # voronoi_polygons does not keep the input order: match each part to its seed.
    ordered: list[BaseGeometry] = []
    for x, y in points:
        p = shapely.Point(x, y)
        ordered.append(next((piece for piece in pieces if piece.intersects(p)), shapely.Polygon()))
    return ordered


def random_points(area: BaseGeometry, count: int, rng: Any) -> Sequence[tuple[float, float]]:
    """``count`` uniformly random points inside ``area`` (rejection sampling in its bounding box)."""
    import numpy as np

    x0, y0, x1, y1 = area.bounds
    shapely.prepare(area)
    out_x: list[Any] = []
    out_y: list[Any] = []
    need = count
    while need > 0:
        n = max(64, int(need * 2.5))
        xs = rng.uniform(x0, x1, n)
        ys = rng.uniform(y0, y1, n)
        keep = shapely.intersects_xy(area, xs, ys)
        out_x.append(xs[keep][:need])
        out_y.append(ys[keep][:need])
        need -= int(min(keep.sum(), need))
    xs = np.concatenate(out_x)
    ys = np.concatenate(out_y)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


@dataclass(frozen=True)
class Area:
    """An area chosen by a person: a drawn polygon, a circle, municipalities or postal codes."""

    kind: str  # polygon | circle | municipalities | postcodes
    geometry: BaseGeometry | None = None
    codes: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        if self.kind in ("polygon", "circle") and self.geometry is not None:
            return {"type": self.kind, "geometry": shapely.geometry.mapping(self.geometry)}
        key = "nis_codes" if self.kind == "municipalities" else "postcodes"
        return {"type": self.kind, key: list(self.codes)}


MAX_CODES = 600


def area_from_json(value: Any) -> Area:
    """Parse ``{"type": "polygon", "geometry": GeoJSON}``, ``{"type": "circle", "center": [lon, lat],
    "radius_m": 500}``, ``{"type": "municipalities", "nis_codes": [...]}`` or ``{"type": "postcodes",
    "postcodes": [...]}``; refuse anything else naming the field."""
    if not isinstance(value, Mapping):
        raise RuleError(gettext_noop("The area must be an object with a type."), field="area")
    kind = value.get("type")
    if kind == "polygon":
        return Area("polygon", geometry_from_geojson(value.get("geometry") or {}))
    if kind == "circle":
        center = value.get("center")
        if not (isinstance(center, Sequence) and len(center) == 2 and all(isinstance(c, int | float) for c in center)):
            raise RuleError(gettext_noop("The centre must be [longitude, latitude]."), field="center")
        radius = value.get("radius_m")
        if not isinstance(radius, int | float) or isinstance(radius, bool):
            raise RuleError(gettext_noop("The radius must be a number of metres."), field="radius_m")
        return Area("circle", circle(float(center[0]), float(center[1]), float(radius)))
    if kind in ("municipalities", "postcodes"):
        key = "nis_codes" if kind == "municipalities" else "postcodes"
        width = 5 if kind == "municipalities" else 4
        raw = value.get(key)
        if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
            raise RuleError(gettext_noop("Give at least one code."), field=key)
        if len(raw) > MAX_CODES:
            raise RuleError(gettext_noop("Too many codes (at most %(max)s)."), field=key, params={"max": MAX_CODES})
        codes = []
        for code in raw:
            text = str(code).strip()
            if not (text.isdigit() and len(text) == width):
                raise RuleError(
                    gettext_noop("%(code)s is not a code of %(width)s digits."),
                    field=key,
                    params={"code": text[:20], "width": width},
                )
            codes.append(text)
        return Area(kind, codes=tuple(sorted(set(codes))))
    raise RuleError(
        gettext_noop("The area type must be polygon, circle, municipalities or postcodes."), field="area.type"
    )


def search_key(*names: str) -> str:
    """Street names in lower case without accents, joined by a space, for the autocomplete's prefix search."""
    import unicodedata

    parts = []
    for name in names:
        if not name:
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
        plain = plain.replace("ß", "ss")
        parts.append(" ".join(plain.lower().replace("'", " ").replace("-", " ").split()))
    return " ".join(parts)
