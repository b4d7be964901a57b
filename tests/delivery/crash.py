"""Kill -9 a worker in the middle of a send, start another, and count what was lost or sent twice.

Used by tests/delivery/test_crash.py (a small send) and bench/crash.py (100,000 recipients).
The worker is a real `tocsin worker` process; the SMSC is the loopback SMPP peer, which keeps every
submit_sm it accepted, so duplicates are counted where they would reach handsets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.peers.smsc import Behaviour, SmscThread

ROOT = Path(__file__).resolve().parents[2]
WINDOW, BATCH, CONCURRENCY = 50, 500, 2


@dataclass
class CrashReport:
    recipients: int
    sent_before_kill: int
    lost: int  # deliveries that never reached the SMSC, or did not end delivered
    duplicates: int  # extra copies the SMSC accepted
    unflagged_duplicates: int  # duplicates whose delivery is not marked possible_duplicate
    flagged: int  # deliveries marked possible_duplicate
    bound: int  # the most that can be in flight when a worker dies: connections x batch
    seconds: float


def _count(url: str, states: tuple[str, ...]) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM delivery_delivery WHERE state = ANY(%s)", [list(states)]).fetchone()
    return int(row[0]) if row else 0


def _summary(url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT state, possible_duplicate, count(*), max(attempts), min(error), max(lease_until)"
            " FROM delivery_delivery GROUP BY 1, 2"
        ).fetchall()


def _worker(url: str, lease_s: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url, "TOCSIN_LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "tocsin.cli", "worker", "--lease", str(lease_s)]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(url: str, *, organisation_id: int, recipients: int, kill_at: float = 0.3, lease_s: float = 5.0,
        timeout: float = 600) -> CrashReport:  # fmt: skip
    """Django must be set up on the database at ``url`` (the test database, or a bench scratch one)."""
    from tocsin.delivery import services
    from tocsin.delivery.domain import Channel, Priority

    numbers = [f"+3247{i:07d}" for i in range(recipients)]
    start = time.monotonic()
    with SmscThread(Behaviour(fail_suffix="", undeliverable_suffix="")) as smsc:  # every number deliverable
        services.gateway_configure(
            name="crash-smsc", kind="smpp", channel="sms", rate_per_s=1_000_000, concurrency=CONCURRENCY,
            config={"host": "127.0.0.1", "port": smsc.port, "system_id": "tocsin", "password": "secret",
                    "source_addr": "Crash", "window": WINDOW, "batch": BATCH},
        )  # fmt: skip
        services.send_request_create(
            organisation_id=organisation_id, created_by_id=None, purpose="crash", priority=Priority.ALERT,
            content={"nl": {"text": "Test: een worker valt weg."}},
            recipients={Channel.SMS: [(n, "nl") for n in numbers]},
        )  # fmt: skip
        first = _worker(url, lease_s)
        try:
            while len(smsc.received) < recipients * kill_at:
                if time.monotonic() - start > timeout or first.poll() is not None:
                    raise RuntimeError("the first worker did not get going")
                time.sleep(0.01)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        sent_before_kill = len(smsc.received)
        second = _worker(url, lease_s)
        try:
            while _count(url, ("queued", "claimed", "submitted")):
                if time.monotonic() - start > timeout:
                    raise RuntimeError(f"not drained in time: {_summary(url)}")
                time.sleep(0.2)
        finally:
            second.terminate()
            second.wait(30)
        destinations = [r.destination.lstrip("+") for r in smsc.received]  # SMPP carries no "+" (TON says it)
    seen: dict[str, int] = {}
    for d in destinations:
        seen[d] = seen.get(d, 0) + 1
    twice = {d for d, n in seen.items() if n > 1}
    with psycopg.connect(url, autocommit=True) as conn:
        flagged_rows = {
            r[0].lstrip("+") for r in conn.execute("SELECT recipient FROM delivery_delivery WHERE possible_duplicate")
        }
        delivered = conn.execute("SELECT count(*) FROM delivery_delivery WHERE state = 'delivered'").fetchone()
    never = len({n.lstrip("+") for n in numbers} - set(seen))
    return CrashReport(
        recipients=recipients,
        sent_before_kill=sent_before_kill,
        lost=max(never, recipients - int(delivered[0] if delivered else 0)),
        duplicates=len(destinations) - len(seen),
        unflagged_duplicates=len(twice - flagged_rows),
        flagged=len(flagged_rows),
        bound=CONCURRENCY * BATCH,
        seconds=time.monotonic() - start,
    )
