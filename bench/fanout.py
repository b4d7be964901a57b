"""Fan-out: write N deliveries to the outbox, then drain them through the loopback SMSC.

Prints name=value lines:
  outbox_write_s            seconds to validate and COPY N deliveries (one transaction)
  sms_per_s_1_worker        N / seconds until every delivery has its receipt, one `tocsin worker`
  sms_per_s_2_workers       the same with two workers (a second batch of N)
  worker_peak_rss_mb        the largest peak RSS (VmHWM) of any worker process

Runs in a scratch database on the embedded PostgreSQL (or DATABASE_URL's server) and drops it.

    .venv/bin/python bench/fanout.py --recipients 1000000
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import psycopg
from common import ROOT, peak_rss_mb, scratch_database, wait_drained


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    n = args.recipients

    with scratch_database() as (url, env):
        smsc = subprocess.Popen(
            [sys.executable, "-m", "tests.peers.smsc"], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=env
        )
        workers: list[subprocess.Popen[bytes]] = []
        try:
            port = int(smsc.stdout.readline().split("=")[1])  # type: ignore[union-attr]
            from tocsin.delivery import services
            from tocsin.delivery.domain import Channel, Priority
            from tocsin.organisations.models import Organisation

            org = Organisation.objects.create(name="Bench", kind="municipality", status="active")
            services.gateway_configure(
                name="loopback", kind="smpp", channel="sms", rate_per_s=1_000_000, concurrency=4,
                config={"host": "127.0.0.1", "port": port, "system_id": "tocsin", "password": "secret",
                        "source_addr": "Bench", "window": 100, "batch": 500},
            )  # fmt: skip

            def write() -> float:
                numbers = [(f"+3247{i:07d}", "nl") for i in range(n)]
                start = time.perf_counter()
                services.send_request_create(
                    organisation_id=org.pk, created_by_id=None, purpose="bench", priority=Priority.ALERT,
                    content={"nl": {"text": "Bench: dit is een test van Tocsin."}}, recipients={Channel.SMS: numbers},
                )  # fmt: skip
                return time.perf_counter() - start

            from django.db import connection

            write_s = write()
            print(f"recipients={n}")
            print(f"outbox_write_s={write_s:.2f}", flush=True)
            peak = 0.0
            for count in (1, 2):
                if count == 2:
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute("DELETE FROM delivery_delivery")
                    write()
                connection.close()
                workers = [
                    subprocess.Popen([sys.executable, "-m", "tocsin.cli", "worker"], cwd=ROOT, env=env)
                    for _ in range(count)
                ]
                seconds = wait_drained(url, args.timeout)
                peak = max([peak] + [peak_rss_mb(w.pid) for w in workers])
                label = "1_worker" if count == 1 else "2_workers"
                print(f"sms_per_s_{label}={n / seconds:.0f}", flush=True)
                for w in workers:
                    w.terminate()
                for w in workers:
                    w.wait(30)
            print(f"worker_peak_rss_mb={peak:.0f}")
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
            smsc.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
