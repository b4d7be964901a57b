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
import random
import statistics
import time

from common import scratch_database


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--addresses", type=int, default=300_000)
    parser.add_argument("--lookups", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=0, help="rows per written batch (default: the import's own)")
    parser.add_argument("--profile", action="store_true", help="profile the first import (pyinstrument, on stderr)")
    args = parser.parse_args()

    with scratch_database():
        from django.db import connection
        from tests.organisations.factories import OrganisationFactory, UserFactory

        from tocsin.alarms import selectors, services
        from tocsin.alarms.synthetic import systems_csv
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
        data = systems_csv(args.rows, arn=arn_a, prefix="A", seed=1)
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler()
            profiler.start()
        start, cpu = time.perf_counter(), time.process_time()
        batch = {"batch_size": args.batch} if args.batch else {}
        report = services.import_csv(actor=central_a, data=data, **batch)
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
        again = services.import_csv(actor=central_a, data=data, **batch)
        reimport_s = time.perf_counter() - start
        print(f"rows={args.rows}")
        print(f"created={counts.get('created', 0)}")
        print(f"refused={counts.get('refused', 0)}")
        print(f"import_s={import_s:.2f}")
        print(f"import_rows_per_s={args.rows / import_s:.0f}")
        print(f"import_python_cpu_s={import_cpu_s:.2f}")
        print(f"reimport_unchanged={again.counts.get('unchanged', 0)}")
        print(f"reimport_rows_per_s={args.rows / reimport_s:.0f}")

        services.import_csv(actor=central_b, data=systems_csv(args.rows, arn=arn_b, prefix="B", seed=2))
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
