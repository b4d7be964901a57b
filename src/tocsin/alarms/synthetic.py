"""Synthetic alarm systems, in a central's CSV layout: for the demo and the benchmark.

Sites are drawn from the address register; phones are written the way people type them (national
format, spaces), so an import parses every one; nobody real is named.
"""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta

from tocsin.alarms import domain


def systems_csv(count: int, *, arn: str, prefix: str, seed: int = 1) -> bytes:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [((seed % 1000) / 1000.0)])
        cursor.execute(
            "SELECT coalesce(nullif(street_nl, ''), nullif(street_fr, ''), street_de), house_number, box, postcode "
            "FROM geo_address ORDER BY random() LIMIT %s",
            [count],
        )
        sites = cursor.fetchall()
    if not sites:
        return domain.csv_header().encode()
    rng = random.Random(seed)  # noqa: S311 — synthetic data, not security
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(domain.CSV_COLUMNS)
    first = date(2010, 1, 1)
    for i in range(count):
        street, number, box, postcode = sites[i % len(sites)]
        goods = rng.random() < 0.9
        system_type, risk, nature = (
            ("goods", "burglary", rng.choice(["dwelling", "apartment", "shop", "office"]))
            if goods
            else ("personal_fixed", "hold_up", "shop")
        )
        mobile = f"04{rng.choice('789')}{rng.randrange(0, 9)} {rng.randrange(100000, 999999)}"
        values = {
            "user_number": f"{prefix}{i:07d}",
            "alarm_report_number": arn,
            "site_name": f"Site {i}",
            "site_street": street,
            "site_house_number": number,
            "site_box": box,
            "site_postcode": postcode,
            "site_phone": f"0{rng.choice('23459')} {rng.randrange(200, 399)} {rng.randrange(10, 99)} "
            f"{rng.randrange(10, 99)}",
            "user_name": f"User {prefix}{i}",
            "user_address": f"{street} {number}, {postcode}",
            "user_mobile": mobile,
            "user_email": f"user{i}.{prefix.lower()}@example.invalid",
            "property_nature": nature,
            "risk_nature": risk,
            "system_type": system_type,
            "in_building": "yes",
            "publicly_accessible": "no" if goods else "yes",
            "siren": "yes",
            "siren_alarm_s": str(rng.choice([90, 120, 180])),
            "siren_sabotage_s": str(rng.choice([0, 300, 480])),
            "light": "yes",
            "light_until_switch_off": "yes",
            "notification_system": "yes",
            "first_use": (first + timedelta(days=rng.randrange(0, 5000))).isoformat(),
            "installer": "Beveiliging NV",
            "access_code_handed": "yes",
            "visual_verification": "no" if goods else "yes",
            "components_safe": "yes",
            "client_informed_on": "2024-01-15",
            "contact1_name": f"Contact {i}",
            "contact1_phone": f"04{rng.choice('789')}{rng.randrange(0, 9)} {rng.randrange(100000, 999999)}",
        }
        writer.writerow([values.get(c, "") for c in domain.CSV_COLUMNS])
    return out.getvalue().encode()
