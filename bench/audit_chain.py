"""Audit log: append rate under the chain lock, and verify rate.

Prints name=value lines. Runs against the embedded PostgreSQL (or DATABASE_URL),
in a scratch database that it drops at the end.

    .venv/bin/python bench/audit_chain.py [--entries 5000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid

import psycopg


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL"):
        from tocsin.runtime import pg

        pg.start()
        base_url = pg.database_url()
    else:
        base_url = os.environ["DATABASE_URL"]
    scratch = f"bench_{uuid.uuid4().hex[:8]}"
    admin_url = base_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    os.environ["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/" + scratch
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tocsin.settings")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, transaction

        call_command("migrate", verbosity=0)
        from tocsin.audit.services import audit_record, audit_verify

        append_rates, verify_rates = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            for i in range(args.entries):
                with transaction.atomic():
                    audit_record(action="bench.event", organisation_id=1, data={"i": i})
            append_rates.append(args.entries / (time.perf_counter() - start))
            start = time.perf_counter()
            count, broken = audit_verify()
            assert broken is None
            verify_rates.append(count / (time.perf_counter() - start))
        print(f"audit_entries_per_run={args.entries}")
        print(f"audit_append_per_s_median={statistics.median(append_rates):.0f}")
        print(f"audit_verify_entries_per_s_median={statistics.median(verify_rates):.0f}")
        print(f"audit_verify_total_entries={count}")
        connection.close()
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
