"""The registry of alarm systems (issue 7): a central's bulk CSV import, and the police lookup.

Loads Belgium's municipalities, postcodes and outlines and a synthetic address register; writes a CSV of
N systems for one alarm central (sites drawn from the register; phones in national format, so each is
parsed; one contact person each) and imports it the way `tocsin alarms import` does, with full
validation (every rule of the form, the site matched in the register, the alarm-report number, duplicates)
and the versions and KB-4 records written alongside. Then a second central imports N more, and lookups by
user number run against the 2 N systems through the audited selector the API uses.

Prints name=value lines:
  rows                   rows in the CSV
  import_s               seconds for the first import (all new)
  import_rows_per_s      rows / import_s (target ≥ 5,000 at 100,000)
  import_python_cpu_s    CPU seconds of this process during the import (the rest is PostgreSQL's share)
  reimport_rows_per_s    the same file again: every row compared, nothing changed, nothing written
  systems                systems in the registry when the lookups run (2 N)
  lookup_p50_ms, lookup_p99_ms   1,000 lookups by user number (each audited), after 50 warm-up lookups
                                 (target p99 ≤ 10 at 200,000)

    .venv/bin/python bench/registry.py [--rows 100000] [--addresses 300000]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import statistics
import time
from datetime import date, timedelta

from common import scratch_database


def _csv(rows: int, arn: str, prefix: str, seed: int) -> bytes:
    from django.db import connection

    from tocsin.alarms import domain

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(nullif(street_nl, ''), nullif(street_fr, ''), street_de), house_number, box, postcode "
            "FROM geo_address ORDER BY random() LIMIT %s",
            [rows],
        )
        sites = cursor.fetchall()
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(domain.CSV_COLUMNS)
    first = date(2010, 1, 1)
    for i in range(rows):
        street, number, box, postcode = sites[i % len(sites)]
        kind = rng.random()
        system_type, risk, nature = (
            ("goods", "burglary", rng.choice(["dwelling", "apartment", "shop", "office"]))
            if kind < 0.9
            else ("personal_fixed", "hold_up", "shop")
        )
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
            "user_name": f"User {i}",
            "user_address": f"{street} {number}, {postcode}",
            "user_mobile": f"04{rng.choice('789')}{rng.randrange(0, 9)} {rng.randrange(100000, 999999)}",
            "user_email": f"user{i}@example.be",
            "property_nature": nature,
            "risk_nature": risk,
            "system_type": system_type,
            "in_building": "yes",
            "publicly_accessible": "yes" if system_type == "personal_fixed" else "no",
            "siren": "yes",
            "siren_alarm_s": str(rng.choice([90, 120, 180])),
            "siren_sabotage_s": str(rng.choice([0, 300, 480])),
            "light": "yes",
            "light_until_switch_off": "yes",
            "notification_system": "yes",
            "first_use": (first + timedelta(days=rng.randrange(0, 5000))).isoformat(),
            "installer": "Beveiliging NV",
            "access_code_handed": "yes",
            "visual_verification": "yes" if system_type == "personal_fixed" else "no",
            "components_safe": "yes",
            "client_informed_on": "2024-01-15",
            "contact1_name": f"Contact {i}",
            "contact1_phone": f"04{rng.choice('789')}{rng.randrange(0, 9)} {rng.randrange(100000, 999999)}",
        }
        writer.writerow([values.get(c, "") for c in domain.CSV_COLUMNS])
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--addresses", type=int, default=300_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--profile", action="store_true", help="profile the first import (pyinstrument, on stderr)")
    args = parser.parse_args()

    with scratch_database():
        from django.db import connection
        from tests.organisations.factories import OrganisationFactory, UserFactory

        from tocsin.alarms import selectors, services
        from tocsin.geo import services as geo
        from tocsin.geo import synthetic

        geo.municipalities_load()
        geo.boundaries_load()
        synthetic.addresses_synthesise(count=args.addresses, seed=3, progress=lambda done, _: None)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE geo_address")
        OrganisationFactory(kind="crisis_centre", name="NCCN", nis_code="", sms_sender="", status="active")
        registry = OrganisationFactory(kind="registry_admin", name="Meldpunt", nis_code="", sms_sender="")
        admin = services.as_member(UserFactory(organisation=registry, email="admin@meldpunt.be", roles=["admin"]))
        members = []
        for name, arn in (("Centrale A", "A001"), ("Centrale B", "B001")):
            org = OrganisationFactory(kind="alarm_central", name=name, nis_code="", sms_sender="", status="active")
            services.arn_assign(actor=admin, organisation_id=org.pk, number=arn)
            user = UserFactory(organisation=org, email=f"op@{arn.lower()}.be", roles=["arc_operator"])
            members.append((services.as_member(user), arn))

        (central_a, arn_a), (central_b, arn_b) = members
        data = _csv(args.rows, arn_a, "A", seed=1)
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
        start, cpu = time.perf_counter(), time.process_time()
        report = services.import_csv(actor=central_a, data=data)
        import_s, import_cpu_s = time.perf_counter() - start, time.process_time() - cpu
        if profiler is not None:
            profiler.stop()
            import sys

            print(profiler.output_text(unicode=False, color=False, show_all=False), file=sys.stderr)
        counts = report.counts
        if counts.get("created", 0) < args.rows * 0.99:
            refused = [r for r in report.rows if r.status == "refused"][:5]
            raise SystemExit(
                f"import refused rows: {counts} e.g. {[(r.line, [e.message for e in r.errors]) for r in refused]}"
            )
        start = time.perf_counter()
        again = services.import_csv(actor=central_a, data=data)
        reimport_s = time.perf_counter() - start
        print(f"rows={args.rows}")
        print(f"created={counts.get('created', 0)}")
        print(f"refused={counts.get('refused', 0)}")
        print(f"import_s={import_s:.2f}")
        print(f"import_rows_per_s={args.rows / import_s:.0f}")
        print(f"import_python_cpu_s={import_cpu_s:.2f}")
        print(f"reimport_unchanged={again.counts.get('unchanged', 0)}")
        print(f"reimport_rows_per_s={args.rows / reimport_s:.0f}")

        services.import_csv(actor=central_b, data=_csv(args.rows, arn_b, "B", seed=2))
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE alarms_alarmsystem")
            cursor.execute("SELECT count(*) FROM alarms_alarmsystem")
            print(f"systems={cursor.fetchone()[0]}")
        from tocsin.organisations.models import Organisation

        ec = OrganisationFactory(kind="emergency_centre", name="101", nis_code="", sms_sender="", status="active")
        dispatcher = services.as_member(UserFactory(organisation=ec, email="ops@101.be", roles=["ec_operator"]))
        assert Organisation.objects.filter(pk=ec.pk).exists()
        rng = random.Random(9)
        numbers = [f"{rng.choice('AB')}{rng.randrange(args.rows):07d}" for _ in range(args.lookups + 50)]
        times = []
        for i, number in enumerate(numbers):
            start = time.perf_counter()
            found = selectors.lookup(actor=dispatcher, user_number=number, reason=f"INC-{i}")
            elapsed = time.perf_counter() - start
            if len(found) != 1:
                raise SystemExit(f"lookup {number}: {len(found)} found")
            if i >= 50:
                times.append(elapsed * 1000)
        times.sort()
        print(f"lookup_p50_ms={statistics.median(times):.2f}")
        print(f"lookup_p99_ms={times[int(len(times) * 0.99) - 1]:.2f}")


if __name__ == "__main__":
    main()
