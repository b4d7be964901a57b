"""A storm at the alarm central (issue 9): 10,000 events from 2,000 systems in one minute, through the real
receiver, the case builder and the operators' console.

Sets up a scratch database with a synthetic register, one central with 2,000 registered systems, each
with a receiver account (two zones with detection codes), and an operator signed in with both factors.
Starts `tocsin receiver`, `tocsin cases` and `tocsin web` as their own processes, opens the operator's
live queue (the console's server-sent events, as the browser does) and then sends the storm: events at
an even pace from 100 panel connections (each its own loopback address, each waiting for its ACK before
its next event, as panels do), the accounts drawn at random. Meanwhile, an operator opens a random case
page three times a second.

Prints name=value lines:
  events, systems, seconds             the load
  acked                                events acknowledged by the receiver (each committed first)
  cases                                alarm cases at the end
  queue_update_p50_ms, queue_update_p99_ms
                                       event committed (its ACK received) → the live queue shows it: the first
                                       queue message whose ``through`` (the last signal read into the queue)
                                       covers it (target p99 ≤ 1,000)
  case_open_p50_ms, case_open_p99_ms   GET of a case page during the storm (target p99 ≤ 200)
  case_opens                           how many were timed

    .venv/bin/python bench/storm.py [--events 10000] [--systems 2000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime

from common import ROOT, free_port, percentile, scratch_database, wait_listening

CONNECTIONS = 100


# ------------------------------------------------------------------------------------------- set-up


def _setup(systems: int) -> tuple[int, int, str]:
    """(central id, operator id, the operator's session cookie)."""
    from django.db import connection
    from tests.conftest import portal_client
    from tests.organisations.factories import OrganisationFactory, UserFactory

    from tocsin.alarms import services
    from tocsin.alarms.models import AlarmSystem
    from tocsin.alarms.synthetic import systems_csv
    from tocsin.arc.models import ReceiverAccount, ZoneMap
    from tocsin.arc.registry import ensure_default_methods
    from tocsin.geo import services as geo
    from tocsin.geo import synthetic

    geo.municipalities_load()
    geo.boundaries_load()
    synthetic.addresses_synthesise(count=max(5 * systems, 5000), seed=3, progress=lambda done, _: None)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE geo_address")
    ensure_default_methods()
    registry = OrganisationFactory(kind="registry_admin", name="Meldpunt", nis_code="", sms_sender="")
    admin = services.as_member(UserFactory(organisation=registry, email="admin@meldpunt.be", roles=["admin"]))
    central = OrganisationFactory(kind="alarm_central", name="Centrale Storm", nis_code="", sms_sender="",
                                  status="active")  # fmt: skip
    services.arn_assign(actor=admin, organisation_id=central.pk, number="S001")
    operator = UserFactory(organisation=central, email="op@storm.be", roles=["arc_operator"])
    report = services.import_csv(actor=services.as_member(operator), data=systems_csv(systems, arn="S001",
                                                                                      prefix="S", seed=5))  # fmt: skip
    ids = list(AlarmSystem.objects.filter(central=central).order_by("pk").values_list("pk", flat=True))
    if len(ids) < systems:
        raise SystemExit(f"only {len(ids)} of {systems} systems imported: {report}")
    accounts = ReceiverAccount.objects.bulk_create(
        ReceiverAccount(central=central, account=f"{0x10000 + i:X}", system_id=pk) for i, pk in enumerate(ids)
    )
    ZoneMap.objects.bulk_create(
        ZoneMap(account=a, zone=f"{z:02d}", detection_code=f"D{i:05d}-{z:02d}", label=f"zone {z}")
        for i, a in enumerate(accounts)
        for z in (1, 2)
    )
    cookie = portal_client(operator).cookies["sessionid"].value
    return central.pk, operator.pk, cookie


# --------------------------------------------------------------------------------------------- load


def _frame(account: str, sequence: int, zone: int) -> bytes:
    from tocsin.protocols import sia_dc09

    stamp = datetime.now(UTC).replace(microsecond=0)
    return sia_dc09.build_frame("SIA-DCS", sequence, account, f"#{account}|Nri1/BA{zone:02d}", timestamp=stamp)


async def _connection(
    i: int, port: int, schedule: list[tuple[float, str, int]], start: float, acked: dict[tuple[str, str], float]
) -> None:
    """One panel connection: its events at their times, each waiting for its ACK."""
    from tocsin.protocols import sia_dc09

    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, local_addr=(f"127.0.{1 + i // 250}.{1 + i % 250}", 0)
    )
    frames = sia_dc09.FrameReader()
    try:
        for at, account, sequence in schedule:
            delay = start + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(_frame(account, sequence, 1 + sequence % 2))
            answered = False
            while not answered:
                data = await asyncio.wait_for(reader.read(4096), 30)
                if not data:
                    raise SystemExit(f"connection {i} closed")
                for item in frames.feed(data):
                    if isinstance(item, sia_dc09.Frame) and item.message.startswith(b'"ACK"%04d' % sequence):
                        acked[(account, f"{sequence:04d}")] = time.monotonic()
                        answered = True
    finally:
        writer.close()


async def _storm(port: int, events: int, accounts: list[str], seconds: float) -> tuple[dict[tuple[str, str], float],
                                                                                       float]:  # fmt: skip
    rng = random.Random(9)
    per_connection: list[list[tuple[float, str, int]]] = [[] for _ in range(CONNECTIONS)]
    sequences: dict[str, int] = {}
    owner = {a: n % CONNECTIONS for n, a in enumerate(accounts)}  # an account always on the same connection
    for k in range(events):
        account = rng.choice(accounts)
        sequences[account] = sequences.get(account, 0) + 1
        per_connection[owner[account]].append((k * seconds / events, account, sequences[account]))
    acked: dict[tuple[str, str], float] = {}
    start = time.monotonic() + 0.5
    await asyncio.gather(*(_connection(i, port, s, start, acked) for i, s in enumerate(per_connection) if s))
    return acked, start


# ------------------------------------------------------------------------------------------- console


class Queue(threading.Thread):
    """The operator's live queue: reads the console's server-sent events, notes when each message arrived
    and the last signal it covers (``through``)."""

    def __init__(self, port: int, cookie: str):
        super().__init__(daemon=True)
        self.port, self.cookie = port, cookie
        self.seen: list[tuple[float, int]] = []  # (arrival, through)
        self.stop = False
        self.error: str | None = None

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port)) as sock:
                sock.sendall(
                    f"GET /arc/console/events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sessionid={self.cookie}\r\n"
                    "Accept: text/event-stream\r\n\r\n".encode()
                )
                sock.settimeout(1.0)
                buffer = b""
                while not self.stop:
                    try:
                        chunk = sock.recv(65536)
                    except TimeoutError:
                        continue
                    if not chunk:
                        break
                    arrived = time.monotonic()
                    buffer += chunk
                    while b"\n\n" in buffer:
                        block, buffer = buffer.split(b"\n\n", 1)
                        for line in block.split(b"\n"):
                            if line.startswith(b"data:"):
                                through = _through(line[5:])
                                if through is not None:
                                    self.seen.append((arrived, through))
        except OSError as exc:
            self.error = str(exc)


def _through(data: bytes) -> int | None:
    """The last signal a queue message covers (the console puts it in its JSON as ``through``)."""
    try:
        payload = json.loads(data)
    except ValueError:
        return None
    value = payload.get("through") if isinstance(payload, dict) else None
    return int(value) if isinstance(value, int) else None


def _open_cases(url: str, port: int, cookie: str, until: float, central_id: int, timings: list[float]) -> None:
    import http.client

    import psycopg

    rng = random.Random(4)
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < until:
            time.sleep(1 / 3)
            row = conn.execute(
                "SELECT id FROM arc_alarmcase WHERE central_id = %s ORDER BY id DESC LIMIT 1", [central_id]
            ).fetchone()
            if row is None:
                continue
            case_id = rng.randint(max(1, row[0] - 500), row[0])
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            started = time.monotonic()
            client.request("GET", f"/arc/cases/{case_id}/", headers={"Cookie": f"sessionid={cookie}"})
            response = client.getresponse()
            response.read()
            if response.status == 200:
                timings.append((time.monotonic() - started) * 1000)
            elif response.status != 404:  # a case id of another run's numbering: skipped
                raise SystemExit(f"case page answered {response.status}")
            client.close()


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--systems", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    with scratch_database() as (url, env):
        print("setting up …", file=sys.stderr, flush=True)
        central_id, _, cookie = _setup(args.systems)
        from tocsin.arc.models import AlarmCase, ReceiverAccount, Signal

        accounts = list(ReceiverAccount.objects.filter(central_id=central_id).values_list("account", flat=True))
        receiver_port, web_port = free_port(), free_port()
        tocsin = [sys.executable, "-m", "tocsin.cli"]
        logs = {name: tempfile.TemporaryFile() for name in ("receiver", "cases", "web")}
        processes = {
            "receiver": subprocess.Popen(
                [*tocsin, "receiver", "--central", str(central_id), "--tcp", str(receiver_port)],
                cwd=ROOT,
                env=env,
                stdout=logs["receiver"],
                stderr=subprocess.STDOUT,
            ),
            "cases": subprocess.Popen(
                [*tocsin, "cases"], cwd=ROOT, env=env, stdout=logs["cases"], stderr=subprocess.STDOUT
            ),
            "web": subprocess.Popen(
                [*tocsin, "web", "--port", str(web_port)],
                cwd=ROOT,
                env=env,
                stdout=logs["web"],
                stderr=subprocess.STDOUT,
            ),
        }
        try:
            wait_listening(processes["receiver"], receiver_port, "tocsin receiver")
            wait_listening(processes["web"], web_port, "tocsin web")
            queue = Queue(web_port, cookie)
            queue.start()
            time.sleep(1.0)
            opens: list[float] = []
            opener = threading.Thread(target=_open_cases, args=(url, web_port, cookie, time.monotonic() + args.seconds,
                                                                central_id, opens), daemon=True)  # fmt: skip
            opener.start()
            print("storm …", file=sys.stderr, flush=True)
            acked, _ = asyncio.run(_storm(receiver_port, args.events, accounts, args.seconds))
            opener.join(args.seconds + 60)
            deadline = time.monotonic() + 30
            last = max(Signal.objects.values_list("id", flat=True))
            while (not queue.seen or queue.seen[-1][1] < last) and time.monotonic() < deadline:
                time.sleep(0.2)
            queue.stop = True
            if queue.error:
                raise SystemExit(f"the live queue failed: {queue.error}")
        except BaseException:
            for name, log in logs.items():
                log.seek(0)
                print(f"--- {name}:\n{log.read().decode(errors='replace')[-2000:]}", file=sys.stderr)
            raise
        finally:
            for process in processes.values():
                process.terminate()
            for process in processes.values():
                process.wait(10)
        # Each signal: when its ACK arrived (it was committed before) → the first queue message covering it.
        numbers = {(a, s): pk for pk, a, s in Signal.objects.values_list("id", "account__account", "sequence")}
        delays = []
        for key, ack_at in acked.items():
            pk = numbers.get(key)
            if pk is None:
                raise SystemExit(f"an acknowledged event is not stored: {key}")
            shown = next((arrived for arrived, through in queue.seen if through >= pk), None)
            if shown is None:
                raise SystemExit(f"signal {pk} never showed in the live queue")
            delays.append(max(0.0, shown - ack_at) * 1000)
        print(f"events={args.events}")
        print(f"systems={args.systems}")
        print(f"seconds={args.seconds:g}")
        print(f"acked={len(acked)}")
        print(f"cases={AlarmCase.objects.filter(central_id=central_id).count()}")
        print(f"queue_update_p50_ms={percentile(delays, 0.50):.0f}")
        print(f"queue_update_p99_ms={percentile(delays, 0.99):.0f}")
        print(f"case_open_p50_ms={percentile(opens, 0.50):.0f}")
        print(f"case_open_p99_ms={percentile(opens, 0.99):.0f}")
        print(f"case_opens={len(opens)}")


if __name__ == "__main__":
    main()
