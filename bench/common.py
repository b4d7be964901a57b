"""What the benchmarks share: a scratch database, Django set up on it, and waiting for the outbox."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def scratch_database() -> Iterator[tuple[str, dict[str, str]]]:
    """A new database on the embedded PostgreSQL (or DATABASE_URL's server), migrated, Django set up on
    it; yields its URL and the environment for child processes; dropped at the end."""
    sys.path.insert(0, str(ROOT))  # the test peers (tests.peers.*) for child processes and imports
    if not os.environ.get("DATABASE_URL"):
        sys.path.insert(0, str(ROOT / "src"))
        from tocsin.runtime import pg

        pg.start()
        base = pg.database_url()
    else:
        base = os.environ["DATABASE_URL"]
    scratch = f"bench_{uuid.uuid4().hex[:8]}"
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    url = base.rsplit("/", 1)[0] + "/" + scratch
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "tocsin.settings",
        "TOCSIN_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        yield url, env
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def wait_drained(
    url: str, timeout: float, states: tuple[str, ...] = ("queued", "claimed", "submitted"), poll: float = 0.5
) -> float:
    """Seconds until no delivery is in one of ``states`` (measured to within ``poll`` seconds)."""
    start = time.monotonic()
    left = -1
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() - start < timeout:
            row = conn.execute(
                "SELECT count(*) FROM delivery_delivery WHERE state = ANY(%s)", [list(states)]
            ).fetchone()
            left = row[0] if row else 0
            if left == 0:
                return time.monotonic() - start
            time.sleep(poll)  # a count over a million rows is not free: do not slow down what is measured
    raise SystemExit(f"not drained within {timeout:.0f} s ({left} left)")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    """A TCP port free on loopback now (for a child process to listen on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(process: subprocess.Popen[bytes], port: int, what: str, timeout: float = 90) -> None:
    """Until ``process`` accepts connections on ``port``; exits the benchmark if it dies or never listens."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"{what} did not listen on {port}") from None
            time.sleep(0.05)


def percentile(values: list[float], p: float) -> float:
    """The ``p`` quantile (0…1) of ``values``, nearest rank; NaN for none."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")
