"""An alert to N registered citizens in a drawn area, launched through the API (issue 5).

Builds N registrations (one verified mobile each) at random points inside a drawn polygon around Gent,
plus as many again outside it; starts a real SMSC peer, `tocsin web` and one `tocsin worker`; composes the
alert over HTTP, previews it, and launches it.

Prints name=value lines:
  recipients           people the preview counted (= N)
  launch_commit_s      the launch call (resolve the area, write N deliveries, commit), as the client sees it
  time_to_first_sms_s  from sending the launch call to the first submit_sm the SMSC accepts (target ≤ 2 s)
  all_submitted_s      from sending the launch call until no delivery is queued or claimed
  preview_s            the preview call (the same resolution, no writes)
  billing_charge_s     `tocsin billing charge` once the send is over: the units charged to the entity (issue 6)
  billing_reconcile_s  `tocsin billing reconcile`: units billed = units submitted, or a non-zero exit

    .venv/bin/python bench/alert.py [--citizens 100000]
"""

from __future__ import annotations

import argparse
import math
import random
import socket
import subprocess
import sys
import time
import uuid

import httpx
from common import ROOT, scratch_database, wait_drained

GENT = (3.7250, 51.0500)
RADIUS_M = 6000


def _polygon(lon: float, lat: float, radius_m: float, sides: int = 24) -> dict:
    dlat = math.degrees(radius_m / 6_371_000)
    dlon = dlat / math.cos(math.radians(lat))
    ring = [
        [lon + dlon * math.cos(2 * math.pi * i / sides), lat + dlat * math.sin(2 * math.pi * i / sides)]
        for i in range(sides)
    ]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _citizens(n: int) -> None:
    """N inside the area, N outside (farther than 1.5 radius), one verified mobile each, with COPY."""
    from django.db import connection
    from django.utils import timezone

    from tocsin.geo.domain import cell_of

    rng = random.Random(5)
    now = timezone.now().isoformat()
    lon0, lat0 = GENT
    dlat = math.degrees(RADIUS_M / 6_371_000)
    dlon = dlat / math.cos(math.radians(lat0))
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            "COPY citizens_registration (id, public_id, name, language, status, deaf, opt_out_general, opt_out_bin,"
            " consent_version, consent_at, created_at, updated_at, referrer_nis) FROM STDIN"
        ) as copy:
            for i in range(1, 2 * n + 1):
                language = "nl" if rng.random() < 0.85 else rng.choice(["fr", "en"])
                copy.write_row((i, str(uuid.UUID(int=rng.getrandbits(128), version=4)), f"B{i}", language, "active",
                                False, False, False, "2026-11", now, now, now, ""))  # fmt: skip
        with cursor.cursor.copy(
            "COPY citizens_contactpoint (registration_id, kind, value, sms, voice, verified_at, created_at) FROM STDIN"
        ) as copy:
            for i in range(1, 2 * n + 1):
                copy.write_row((i, "mobile", f"+3247{i:07d}", True, False, now, now))
        with cursor.cursor.copy(
            "COPY citizens_citizenaddress (registration_id, label, text, postcode, nis_code, lon, lat, cell) FROM STDIN"
        ) as copy:
            for i in range(1, 2 * n + 1):
                angle = rng.uniform(0, 2 * math.pi)
                r = math.sqrt(rng.random()) * 0.95 if i <= n else rng.uniform(1.5, 6.0)
                lon, lat = lon0 + dlon * r * math.cos(angle), lat0 + dlat * r * math.sin(angle)
                copy.write_row((i, "home", "bench", "9000", "44021", lon, lat, cell_of(lon, lat)))
        cursor.execute("SELECT setval('citizens_registration_id_seq', %s)", [2 * n])
        cursor.execute("ANALYZE citizens_registration; ANALYZE citizens_contactpoint; ANALYZE citizens_citizenaddress")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--citizens", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    n = args.citizens

    with scratch_database() as (url, env):
        from django.db import connection
        from tests.organisations.factories import UserFactory

        from tocsin.delivery import services as delivery
        from tocsin.organisations.models import Organisation
        from tocsin.organisations.services import api_token_create

        Organisation.objects.create(name="Crisis centre", kind="crisis_centre", status="active")
        org = Organisation.objects.create(name="Stad Gent", kind="municipality", status="active", nis_code="44021")
        operator = UserFactory(organisation=org, email="operator@gent.bench", roles=["operator"])
        from django_otp.plugins.otp_totp.models import TOTPDevice

        TOTPDevice.objects.create(user=operator, name="bench", confirmed=True)  # operators need 2FA for the API
        _token, secret = api_token_create(actor=operator, name="bench")
        _citizens(n)
        smsc = subprocess.Popen([sys.executable, "-m", "tests.peers.smsc"], cwd=ROOT, stdout=subprocess.PIPE,
                                text=True, env=env)  # fmt: skip
        port = int(smsc.stdout.readline().split("=")[1])  # type: ignore[union-attr]
        delivery.gateway_configure(
            name="loopback", kind="smpp", channel="sms", rate_per_s=1_000_000, concurrency=4,
            config={"host": "127.0.0.1", "port": port, "system_id": "tocsin", "password": "secret",
                    "source_addr": "Gent", "window": 100, "batch": 500},
        )  # fmt: skip
        connection.close()
        web_port = _free_port()
        web = subprocess.Popen([sys.executable, "-m", "tocsin.cli", "web", "--port", str(web_port)], cwd=ROOT,
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        worker = subprocess.Popen([sys.executable, "-m", "tocsin.cli", "worker"], cwd=ROOT, env=env)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{web_port}/api/v1", timeout=300,
                                  headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
            for _ in range(100):
                try:
                    client.get("/alerts")
                    break
                except httpx.TransportError:
                    time.sleep(0.2)
            time.sleep(2)  # the worker is listening too
            body = {
                "event": "Overstroming", "channels": ["sms"], "severity": "Extreme",
                "texts": {"nl": {"headline": "Hoogwater", "sms": "Hoogwater in Gent: blijf binnen."},
                          "fr": {"headline": "Crue", "sms": "Crue à Gand : restez à l'intérieur."},
                          "en": {"headline": "Flood", "sms": "Flood in Ghent: stay inside."}},
                "targets": {"areas": [{"type": "polygon", "geometry": _polygon(*GENT, RADIUS_M)}]},
            }  # fmt: skip
            created = client.post("/alerts", json=body)
            assert created.status_code == 201, created.text
            alert = created.json()
            start = time.perf_counter()
            preview = client.get(f"/alerts/{alert['id']}/preview").json()
            preview_s = time.perf_counter() - start
            sent_at = time.time()
            start = time.perf_counter()
            launched = client.post(f"/alerts/{alert['id']}/launch", json={"confirmation": str(preview["total"])})
            launch_s = time.perf_counter() - start
            assert launched.status_code == 200, launched.text
            first = float(smsc.stdout.readline().split("=")[1])  # type: ignore[union-attr]
            all_s = wait_drained(url, args.timeout, states=("queued", "claimed"), poll=0.05) + launch_s
            print(f"recipients={preview['total']}")
            print(f"preview_s={preview_s:.2f}")
            print(f"launch_commit_s={launch_s:.2f}")
            print(f"time_to_first_sms_s={first - sent_at:.2f}")
            print(f"all_submitted_s={all_s:.1f}", flush=True)
            # Billing (issue 6): charge the send's units and reconcile them, the worker stopped first so that
            # its own once-a-minute charging does not take part.
            worker.terminate()
            worker.wait(30)
            for name, command in (("billing_charge_s", "charge"), ("billing_reconcile_s", "reconcile")):
                start = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "tocsin.cli", "billing", command], cwd=ROOT, env=env,
                                      capture_output=True, text=True)  # fmt: skip
                print(f"{name}={time.perf_counter() - start:.2f}")
                assert done.returncode == 0, done.stderr
                if command == "charge":  # "charged N units"
                    print(f"billing_units_charged={done.stdout.split()[1]}", flush=True)
        finally:
            for process in (worker, web, smsc):
                process.terminate()
            for process in (worker, web, smsc):
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
