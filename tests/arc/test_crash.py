"""The receiver killed with SIGKILL under load (issue 8): every event a panel got an ACK for is in the
database exactly once, and nothing is stored twice (invariants 1 and 2).

A real `tocsin receiver` process takes SIA DC-09 frames over TCP from simulated panels (threads, one TCP
connection each, plain and encrypted accounts). Each panel behaves like a real one: it sends a frame,
waits for its ACK, then sends the next; when the connection breaks before the ACK it reconnects and
sends the same frame again. After about a second of load (or 40 % of the events) the receiver is killed
with SIGKILL, the committed rows and the ACKs received are compared at that moment, and a new receiver is
started on the same port; the panels reconnect, re-send what was not acknowledged, and go on to the end.

A frame committed whose ACK died with the process ("stored without an ACK") is allowed: the panel sends it
again, the new receiver acknowledges it, and it must still be stored once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.conftest import database_url_for_tests
from tocsin.alarms.services import as_member
from tocsin.arc import services
from tocsin.protocols import sia_dc09

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
KEY = "ABCDEFGHIJKLMNOP"
ACCOUNTS = {"1234": None, "2345": None, "3456": None, "5678": KEY}  # one encrypted (and required to be)
PANELS = 8  # two per account
EVENTS = 250  # per panel
LOAD_BEFORE_KILL_S = 1.0
KILL_BY = 0.4  # killed at the latest when this share of all events is acknowledged
DEADLINE_S = 25.0


@dataclass
class Panel:
    """One simulated panel: its events in order, and what happened to them."""

    index: int
    account: str
    key: bytes | None
    port: int
    deadline: float
    acked: list[tuple[str, str]] = field(default_factory=list)  # (sequence, data), in order
    attempted: set[tuple[str, str]] = field(default_factory=set)
    resent: int = 0
    errors: list[str] = field(default_factory=list)

    def event(self, n: int) -> tuple[str, str]:
        sequence = f"{(self.index % 2) * 5000 + n:04d}"  # unique per account: two panels share one
        return sequence, f"#{self.account}|Nri{self.index + 1}/BA{n:04d}"

    def _connect(self) -> socket.socket:
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", self.port), timeout=1.0)
                sock.settimeout(2.0)
                return sock
            except OSError:
                if time.monotonic() > self.deadline:
                    raise
                time.sleep(0.02)  # the receiver is down: try again, as a panel does

    def _ack(self, sock: socket.socket, reader: sia_dc09.FrameReader, sequence: str) -> bool:
        while True:
            data = sock.recv(4096)
            if not data:
                return False  # the receiver went away before answering
            for item in reader.feed(data):
                if not isinstance(item, sia_dc09.Frame):
                    continue
                message = sia_dc09.parse_message(item, key=self.key)
                if isinstance(message, sia_dc09.Message) and message.id == "ACK" and message.sequence == sequence:
                    return True
                self.errors.append(f"unexpected reply {message!r}")
                return False

    def run(self) -> None:
        sock: socket.socket | None = None
        reader = sia_dc09.FrameReader()
        try:
            for n in range(EVENTS):
                sequence, data = self.event(n)
                now = datetime.now(UTC).replace(microsecond=0)
                frame = sia_dc09.build_frame("SIA-DCS", sequence, self.account, data, timestamp=now, key=self.key)
                tries = 0
                while True:  # the same bytes until an ACK comes back
                    if time.monotonic() > self.deadline:
                        self.errors.append(f"deadline passed at event {n}")
                        return
                    if sock is None:
                        sock, reader = self._connect(), sia_dc09.FrameReader()
                    tries += 1
                    self.attempted.add((sequence, data))
                    try:
                        sock.sendall(frame)
                        if self._ack(sock, reader, sequence):
                            break
                    except OSError:  # reset, refused, or no answer in time
                        pass
                    sock.close()
                    sock = None
                self.resent += tries - 1
                self.acked.append((sequence, data))
        except Exception as exc:  # noqa: BLE001 — reported by the test
            self.errors.append(repr(exc))
        finally:
            if sock is not None:
                sock.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(central_id: int, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_tests(),
        "DJANGO_SETTINGS_MODULE": "tocsin.settings",
        "TOCSIN_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "tocsin.cli", "receiver", "--central", str(central_id), "--tcp", str(port)]
    with log.open("ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:  # until it accepts connections
        if process.poll() is not None:
            raise RuntimeError(f"the receiver exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the receiver did not listen on {port}: {log.read_text()[-2000:]}") from None
            time.sleep(0.05)


def _stored(url: str) -> dict[tuple[str, str, str], int]:
    """(account, sequence, data) → how many rows hold that event."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT a.account, s.sequence, s.data, count(*) FROM arc_signal s"
            " JOIN arc_receiveraccount a ON a.id = s.account_id GROUP BY 1, 2, 3"
        ).fetchall()
    return {(account, sequence, data): int(n) for account, sequence, data, n in rows}


def _acked(panels: list[Panel]) -> set[tuple[str, str, str]]:
    return {(p.account, *event) for p in panels for event in list(p.acked)}


def test_kb_13_kill_9_under_load_every_acked_event_stored_exactly_once(central_op, central, tmp_path):
    actor = as_member(central_op)
    for number, key in ACCOUNTS.items():
        services.account_set(actor=actor, account=number, key=key or "", encryption_required=key is not None)
    url = database_url_for_tests()
    port = _free_port()
    log = tmp_path / "receiver.log"
    start = time.monotonic()
    first = _start(central.pk, port, log)
    numbers = list(ACCOUNTS)
    panels = [
        Panel(
            index=i,
            account=numbers[i // 2],
            key=sia_dc09.parse_key(ACCOUNTS[numbers[i // 2]]) if ACCOUNTS[numbers[i // 2]] else None,
            port=port,
            deadline=start + DEADLINE_S,
        )
        for i in range(PANELS)
    ]
    threads = [threading.Thread(target=p.run, daemon=True) for p in panels]
    second = None
    try:
        for t in threads:
            t.start()
        loaded = time.monotonic()
        while time.monotonic() - loaded < LOAD_BEFORE_KILL_S and len(_acked(panels)) < KILL_BY * PANELS * EVENTS:
            time.sleep(0.01)  # about a second of load, or less on a fast machine: it must die mid-way
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        time.sleep(0.3)  # ACKs already on the wire reach the panels; commits already sent finish
        acked_at_kill = _acked(panels)
        stored_at_kill = _stored(url)
        second = _start(central.pk, port, log)
        for t in threads:
            t.join(max(0.1, start + DEADLINE_S + 2 - time.monotonic()))
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(10)

    errors = [f"panel {p.index}: {e}" for p in panels for e in p.errors]
    assert not errors, errors[:5]
    assert not any(t.is_alive() for t in threads)
    total = PANELS * EVENTS
    acked = _acked(panels)
    stored = _stored(url)
    attempted = {(p.account, *event) for p in panels for event in p.attempted}
    without_ack = set(stored_at_kill) - acked_at_kill  # committed, but the ACK died with the process
    print(
        f"\nevents={total} acked_at_kill={len(acked_at_kill)} stored_at_kill={len(stored_at_kill)}"
        f" stored_without_ack_at_kill={len(without_ack)} resent={sum(p.resent for p in panels)}"
        f" acked={len(acked)} stored={len(stored)} seconds={time.monotonic() - start:.1f}"
    )
    # It really died under load, with work on both sides of the kill.
    assert 0 < len(acked_at_kill) < total
    # Durable before acknowledged: at the moment of the kill, every ACK a panel held was committed.
    assert acked_at_kill <= set(stored_at_kill)
    # Every panel got to its last event, each acknowledged once.
    assert len(acked) == total
    # Every acknowledged event is stored exactly once; nothing else is stored, nothing twice.
    assert set(stored) == acked
    assert all(n == 1 for n in stored.values()), {k: n for k, n in stored.items() if n > 1}
    assert set(stored) <= attempted
    # What was committed without its ACK was sent again by its panel and is still there once.
    assert all(stored[event] == 1 for event in without_ack)
