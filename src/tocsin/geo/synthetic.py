"""A synthetic address register for the demo and the benchmarks, shaped like Belgium.

Addresses cluster around a few village or town centres inside each
municipality's outline (``boundaries_load``), bigger places get more, street
names follow the official language of the place. Nothing here is real
personal data: the register is synthetic, reproducible from its seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from django.db import connection, transaction
from shapely.geometry import shape

from tocsin.geo import domain
from tocsin.geo.models import Municipality, PostalCode

STREETS = {
    "nl": [
        "Kerkstraat",
        "Stationsstraat",
        "Dorpstraat",
        "Molenstraat",
        "Schoolstraat",
        "Nieuwstraat",
        "Kapelstraat",
        "Beekstraat",
        "Hoogstraat",
        "Veldstraat",
        "Lindenlaan",
        "Kasteelstraat",
        "Bosstraat",
        "Meersstraat",
        "Kouter",
        "Markt",
        "Steenweg",
        "Heirbaan",
        "Populierenlaan",
        "Processiestraat",
    ],
    "fr": [
        "Rue de l'Église",
        "Rue de la Gare",
        "Rue du Moulin",
        "Rue de l'École",
        "Rue Haute",
        "Place communale",
        "Rue des Champs",
        "Avenue des Tilleuls",
        "Rue du Château",
        "Chaussée de Bruxelles",
        "Rue du Bois",
        "Rue de la Station",
        "Grand-Rue",
        "Rue Neuve",
        "Rue du Centre",
        "Rue des Écoles",
        "Rue de la Chapelle",
        "Avenue de la Libération",
        "Rue du Pont",
        "Place du Marché",
    ],
    "de": [
        "Kirchstraße",
        "Bahnhofstraße",
        "Mühlenweg",
        "Schulstraße",
        "Hauptstraße",
        "Dorfstraße",
        "Marktplatz",
        "Lindenallee",
        "Feldweg",
        "Burgstraße",
        "Waldstraße",
        "Neustraße",
    ],
}
# Places that are much denser than their area suggests.
CITIES = {"21004": 6, "11002": 8, "44021": 6, "52011": 5, "62063": 5, "24062": 3, "92094": 3, "31005": 3}


@dataclass(frozen=True)
class SyntheticAddress:
    source_id: str
    street_nl: str
    street_fr: str
    street_de: str
    house_number: str
    postcode: str
    nis_code: str
    lon: float
    lat: float


def _outlines() -> list[tuple[Municipality, Any, list[str]]]:
    codes: dict[str, list[str]] = {}
    for code, nis in PostalCode.objects.order_by("code").values_list("code", "municipality_id"):
        codes.setdefault(nis, []).append(code)
    out = []
    for m in Municipality.objects.exclude(boundary=None).order_by("nis_code"):
        geometry = shape(m.boundary)
        shapely.prepare(geometry)
        out.append((m, geometry, codes.get(m.nis_code) or ["0000"]))
    return out


def generate(count: int, *, seed: int = 1) -> Iterator[SyntheticAddress]:
    """``count`` addresses, deterministic for a given seed and set of outlines."""
    rng = np.random.default_rng(seed)
    places = _outlines()
    if not places:
        raise RuntimeError("No municipality outlines: run `tocsin geo load` first.")
    # Weight: area, a random spread (some places are denser), a boost for the big cities.
    weights = np.array([g.area * CITIES.get(m.nis_code, 1) for m, g, _ in places]) * rng.lognormal(0, 0.7, len(places))
    shares = rng.multinomial(count, weights / weights.sum())
    serial = 0
    for (m, geometry, postcodes), n in zip(places, shares, strict=True):
        if n == 0:
            continue
        languages = m.languages.split(",")
        centres = np.asarray(domain.random_points(geometry, int(rng.integers(2, 7)), rng))
        spread = rng.uniform(0.004, 0.012, len(centres))
        which = rng.integers(0, len(centres), n)
        lon = centres[which, 0] + rng.normal(0, 1, n) * spread[which] * 1.5
        lat = centres[which, 1] + rng.normal(0, 1, n) * spread[which]
        outside = ~shapely.intersects_xy(geometry, lon, lat)
        # Points that fell outside the outline go back to their centre, slightly jittered.
        lon[outside] = centres[which[outside], 0] + rng.normal(0, 0.0005, int(outside.sum()))
        lat[outside] = centres[which[outside], 1] + rng.normal(0, 0.0005, int(outside.sum()))
        street_of = rng.integers(0, 12, n)
        numbers: dict[tuple[int, int], int] = {}
        for i in range(n):
            key = (int(which[i]), int(street_of[i]))
            numbers[key] = numbers.get(key, 0) + 1
            s = (int(street_of[i]) + 3 * key[0]) % 20
            names = {"nl": "", "fr": "", "de": ""}
            for language in languages:
                names[language] = STREETS[language][s % len(STREETS[language])]
            serial += 1
            yield SyntheticAddress(
                source_id=f"synthetic:{seed}:{serial}",
                street_nl=names["nl"],
                street_fr=names["fr"],
                street_de=names["de"],
                house_number=str(numbers[key]),
                postcode=postcodes[int(which[i]) % len(postcodes)],
                nis_code=m.nis_code,
                lon=round(float(lon[i]), 6),
                lat=round(float(lat[i]), 6),
            )


_COLUMNS = (
    "source_id, street_nl, street_fr, street_de, house_number, box, postcode, nis_code, lon, lat, cell, search_key"
)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")


def addresses_synthesise(
    *, count: int = 200_000, seed: int = 1, progress: Callable[[int, int], None] | None = None
) -> int:
    """Replace the synthetic part of the register with ``count`` new addresses (real ones are kept)."""
    keys: dict[tuple[str, str, str], str] = {}
    addresses = generate(count, seed=seed)
    first = next(addresses, None)  # reads the outlines before COPY holds the connection
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM geo_address WHERE source_id LIKE 'synthetic:%%'")
        with cursor.cursor.copy(f"COPY geo_address ({_COLUMNS}) FROM STDIN") as copy:
            chunk: list[str] = []
            done = 0
            for a in itertools.chain([first] if first else [], addresses):
                names = (a.street_nl, a.street_fr, a.street_de)
                key = keys.get(names)
                if key is None:
                    key = keys[names] = domain.search_key(*names)
                chunk.append(
                    f"{a.source_id}\t{_escape(a.street_nl)}\t{_escape(a.street_fr)}\t{_escape(a.street_de)}\t"
                    f"{a.house_number}\t\t{a.postcode}\t{a.nis_code}\t{a.lon}\t{a.lat}\t"
                    f"{domain.cell_of(a.lon, a.lat)}\t{_escape(key)}\n"
                )
                if len(chunk) >= 20_000:
                    copy.write("".join(chunk))
                    done += len(chunk)
                    chunk.clear()
                    if progress:
                        progress(done, count)
            copy.write("".join(chunk))
            done += len(chunk)
            if progress:
                progress(done, count)
        cursor.execute("ANALYZE geo_address")
    return count
