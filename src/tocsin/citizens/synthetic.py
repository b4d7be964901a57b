"""Synthetic registrations for the demo: people at random addresses of the (synthetic) register.

Their only contact point is an address at ``example.invalid`` (RFC 2606): no
real person can ever receive anything sent to them.
"""

from __future__ import annotations

import random

from django.db import connection, transaction
from django.utils import timezone

from tocsin.citizens.domain import CONSENT_VERSION

LANGUAGE_BY_REGION = {
    "02000": ["nl"] * 9 + ["en"],
    "03000": ["fr"] * 9 + ["en"],
    "04000": ["fr"] * 6 + ["nl"] * 3 + ["en"],
}


def registrations_synthesise(*, count: int = 20_000, seed: int = 7) -> int:
    rng = random.Random(seed)  # noqa: S311 — reproducible demo data, not security
    now = timezone.now().isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id, a.postcode, a.nis_code, a.lon, a.lat, a.cell, m.region_id, a.street_nl, a.street_fr, "
            "a.house_number FROM geo_address a JOIN geo_municipality m ON m.nis_code = a.nis_code "
            "ORDER BY random() LIMIT %s",
            [count],
        )
        addresses = cursor.fetchall()
        cursor.execute("SELECT coalesce(max(id), 0) FROM citizens_registration")
        first = int(cursor.fetchone()[0]) + 1
        with cursor.cursor.copy(
            "COPY citizens_registration (id, public_id, name, language, status, deaf, opt_out_general, opt_out_bin, "
            "consent_version, consent_at, created_at, updated_at, referrer_nis) FROM STDIN"
        ) as copy:
            for i, row in enumerate(addresses):
                language = rng.choice(LANGUAGE_BY_REGION.get(row[6], ["nl"]))
                flags = (rng.random() < 0.01, rng.random() < 0.2, rng.random() < 0.1)
                name = f"Demo {first + i}"
                copy.write_row(
                    (first + i, _uuid(rng), name, language, "active", *flags, CONSENT_VERSION, now, now, now, "")
                )
        with cursor.cursor.copy(
            "COPY citizens_contactpoint (registration_id, kind, value, sms, voice, verified_at, created_at) FROM STDIN"
        ) as copy:
            for i in range(len(addresses)):
                value = f"demo-{first + i}@example.invalid"
                copy.write_row((first + i, "email", value, False, False, now, now))
        with cursor.cursor.copy(
            "COPY citizens_citizenaddress (registration_id, label, address_id, text, postcode, nis_code, lon, lat, "
            "cell) FROM STDIN"
        ) as copy:
            for i, (aid, postcode, nis, lon, lat, cell, _r, street_nl, street_fr, number) in enumerate(addresses):
                text = f"{street_nl or street_fr} {number}, {postcode}"
                copy.write_row((first + i, "home", aid, text, postcode, nis, lon, lat, cell))
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('citizens_registration', 'id'), "
            "(SELECT max(id) FROM citizens_registration))"
        )
        cursor.execute("ANALYZE citizens_registration; ANALYZE citizens_citizenaddress; ANALYZE citizens_contactpoint")
    return len(addresses)


def _uuid(rng: random.Random) -> str:
    import uuid

    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
