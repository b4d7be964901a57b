"""Reads for geography: municipalities, postal codes, the address register, and areas.

``area_filter`` turns an area into an SQL condition over any table that has
the place columns (``lon``, ``lat``, ``cell``, a NIS-code column and
``postcode``): the register's addresses here, citizens' addresses in
``citizens.selectors``. Whole grid cells inside the area are matched by index;
the points in the cells on its edge are tested one by one (vectorised).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection

from tocsin.geo import domain
from tocsin.geo.domain import Area
from tocsin.geo.models import Address, Municipality, PostalCode
from tocsin.organisations.domain import RuleError, gettext_noop


@dataclass(frozen=True)
class Filter:
    sql: str
    params: list[Any]


@dataclass(frozen=True)
class Place:
    table: str  # a trusted identifier, never user input
    id_col: str = "id"
    nis_col: str = "nis_code"


REGISTER = Place("geo_address")


def _check_codes(area: Area) -> None:
    if area.kind == "municipalities":
        known = set(Municipality.objects.filter(nis_code__in=area.codes).values_list("nis_code", flat=True))
        field = "nis_codes"
        message = gettext_noop("Unknown municipality NIS code: %(codes)s.")
    else:
        known = set(PostalCode.objects.filter(code__in=area.codes).values_list("code", flat=True))
        field = "postcodes"
        message = gettext_noop("Unknown postal code: %(codes)s.")
    unknown = [c for c in area.codes if c not in known]
    if unknown:
        raise RuleError(message, field=field, params={"codes": ", ".join(unknown[:10])})


def area_filter(area: Area, place: Place = REGISTER, *, alias: str = "") -> Filter:
    """An SQL condition (with parameters) selecting the rows of ``place`` inside ``area``."""
    col = f"{alias}." if alias else ""
    if area.kind == "municipalities":
        _check_codes(area)
        return Filter(f"{col}{place.nis_col} = ANY(%s)", [list(area.codes)])
    if area.kind == "postcodes":
        _check_codes(area)
        return Filter(f"{col}postcode = ANY(%s)", [list(area.codes)])
    assert area.geometry is not None
    cover = domain.cover(area.geometry)
    edge_ids: list[int] = []
    if cover.edge:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {place.id_col}, lon, lat FROM {place.table} WHERE cell = ANY(%s)",  # noqa: S608
                [cover.edge],
            )
            rows = cursor.fetchall()
        if rows:
            data = np.asarray(rows, dtype=np.float64)
            hit = domain.contains(area.geometry, data[:, 1], data[:, 2])
            edge_ids = data[hit, 0].astype(np.int64).tolist()
    # Typed arrays: psycopg sends small ints as integer[], and `bigint = ANY(integer[])` is not hashed, so
    # rechecking a lossy bitmap page compared every row with every edge id (115 s at 5 M addresses, bench/geo.py).
    return Filter(
        f"({col}cell = ANY(%s::integer[]) OR {col}{place.id_col} = ANY(%s::bigint[]))", [cover.inside, edge_ids]
    )


def area_address_count(area: Area) -> int:
    where = area_filter(area)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM geo_address WHERE {where.sql}", where.params)  # noqa: S608
        return int(cursor.fetchone()[0])


def address_search(query: str, *, limit: int = 10) -> list[Address]:
    """Autocomplete over the register: ``Kerkstraat 12 9000``, ``rue de la Loi 16, 1000 Bruxelles``.

    A four-digit token is the postal code, a token starting with a digit the
    house number, the rest the start of the street name (accents and case ignored).
    """
    postcode = ""
    number = ""
    words: list[str] = []
    for token in query.replace(",", " ").split():
        if len(token) == 4 and token.isdigit() and not postcode and (number or words):
            postcode = token
        elif token[0].isdigit() and not number:
            number = token.upper()
        else:
            words.append(token)
    key = domain.search_key(" ".join(words)) if words else ""
    if len(key) < 3 and not postcode:
        return []  # a two-letter prefix matches half the register
    rows = Address.objects.all()
    if postcode:
        rows = rows.filter(postcode=postcode)
        if key:
            rows = rows.filter(search_key__contains=key)
    else:
        rows = rows.filter(search_key__startswith=key)
    if number:
        rows = rows.filter(house_number__iexact=number)
    # Ordered by the indexed key first, so PostgreSQL stops after `limit` rows instead of sorting every match.
    return list(rows.order_by("search_key", "postcode", "house_number", "box")[:limit])


def municipalities_touched(area: Area) -> list[str]:
    """The NIS codes of the municipalities an area lies in, wholly or partly (for a cell broadcast centre's
    coverage, and the official languages of an area)."""
    if area.kind == "municipalities":
        return sorted(area.codes)
    if area.kind == "postcodes":
        rows = PostalCode.objects.filter(code__in=area.codes).values_list("municipality_id", flat=True)
        return sorted(set(rows))
    if area.geometry is None:
        return []
    from shapely import prepared
    from shapely.geometry import shape

    target = prepared.prep(area.geometry)
    minx, miny, maxx, maxy = area.geometry.bounds
    touched = []
    outlines = Municipality.objects.exclude(boundary=None).values_list("nis_code", "boundary")
    for nis_code, boundary in outlines.iterator(chunk_size=100):
        outline = shape(boundary)
        bx0, by0, bx1, by1 = outline.bounds
        if bx0 <= maxx and bx1 >= minx and by0 <= maxy and by1 >= miny and target.intersects(outline):
            touched.append(nis_code)
    return touched
