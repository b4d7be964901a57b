"""`tocsin receiver`: SIA DC-09 over TCP and UDP, acknowledging only what PostgreSQL has committed.

One asyncio process (architecture: a signal receiver never waits on a web request). Each frame is
read with the pure codec (``tocsin.protocols.sia_dc09``), checked against the central's accounts,
then handed to the committer: one task that writes every frame waiting at that moment in one
transaction (group commit) and only then lets each connection send its ACK. A frame a panel re-sends
(its ACK was lost) has the same digest: it is acknowledged again and stored once.

Replies, per DC-09: a frame with a bad CRC or length gets no answer; an unknown account or a
timestamp outside the account's window gets NAK (with the receiver's time, never encrypted); a
message the receiver does not support, or whose content does not parse, gets DUH; everything stored
gets ACK (encrypted to an encrypted message).

Also: supervision of polling intervals (a fault when an account is late, cleared by its next frame),
a cap on connections per source address, idle timeouts, Prometheus metrics (docs/receiver.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from cryptography.exceptions import InvalidTag
from psycopg.rows import tuple_row

from tocsin.protocols import sia_dc09

log = logging.getLogger("tocsin.receiver")

IDLE_TIMEOUT_S = 120.0
ACCOUNTS_REFRESH_S = 10.0
SUPERVISION_CHECK_S = 10.0
MAX_CONNECTIONS_PER_SOURCE = 32
NOT_FRAMES = frozenset({"connections_refused", "faults_raised"})


@dataclass(frozen=True)
class Account:
    id: int
    central_id: int
    number: str
    key: bytes | None
    encryption_required: bool
    ahead_s: int
    behind_s: int
    poll_interval_s: int | None = None
    device_tz: str = "UTC"

    def panel_time(self, stamp: datetime) -> datetime:
        """DC-09 timestamps are UTC; a panel whose clock runs on local time is read in its zone."""
        if self.device_tz in ("", "UTC"):
            return stamp
        try:
            zone = ZoneInfo(self.device_tz)
        except (ZoneInfoNotFoundError, ValueError):
            return stamp
        return stamp.replace(tzinfo=zone).astimezone(UTC)


@dataclass
class Pending:
    row: tuple[Any, ...]
    done: asyncio.Future[None]


def _events(message: sia_dc09.Message) -> list[dict[str, Any]] | None:
    """The events of a frame's data, or None when its content does not parse (answered with DUH)."""
    if message.id == "NULL":
        return []
    if message.id == "SIA-DCS":
        content = sia_dc09.parse_sia_dcs(message.data)
        if isinstance(content, sia_dc09.FrameError):
            return None
        return [
            {"code": e.code, "zone": e.zone, "area": e.area, "user": e.user, "description": e.description or ""}
            for e in content.events
        ]
    if message.id == "ADM-CID":
        event = sia_dc09.parse_adm_cid(message.data)
        if isinstance(event, sia_dc09.FrameError):
            return None
        return [
            {"code": event.code, "zone": event.zone, "area": event.partition, "qualifier": event.qualifier,
             "restore": event.restore, "description": event.description or ""}
        ]  # fmt: skip
    return None


def digest(account_id: int, message: sia_dc09.Message) -> str:
    """What makes a re-sent frame the same frame: its type, sequence, data and the panel's timestamp."""
    panel_time = message.timestamp.isoformat() if message.timestamp else ""
    text = f"{account_id}|{message.id}|{message.sequence}|{message.data}|{message.extended}|{panel_time}"
    return hashlib.sha256(text.encode()).hexdigest()


class Committer:
    """Group commit: every frame waiting is written in one transaction, then all their ACKs may leave."""

    SQL = (
        "INSERT INTO arc_signal (account_id, central_id, received_at, message_id, encrypted, sequence, receiver, "
        "prefix, data, extended, panel_time, events, source, transport, digest) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (account_id, digest) DO NOTHING"
    )

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.commits = 0
        self.stored = 0
        self.commit_seconds = 0.0  # summed, for the metrics

    async def store(self, row: tuple[Any, ...]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.queue.put(Pending(row, done))
        await done  # raises if the commit failed: then no ACK leaves

    async def run(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            while not self.queue.empty() and len(batch) < 500:
                batch.append(self.queue.get_nowait())
            try:
                await self._write(batch)
            except Exception as exc:  # noqa: BLE001 — every waiting frame gets no ACK; the panel re-sends
                log.error("commit failed for %d frames: %s", len(batch), exc)
                self.conn = None
                for item in batch:
                    if not item.done.done():
                        item.done.set_exception(exc)
                continue
            for item in batch:
                if not item.done.done():
                    item.done.set_result(None)

    async def _write(self, batch: list[Pending]) -> None:
        if self.conn is None or self.conn.closed:
            self.conn = await psycopg.AsyncConnection.connect(self.dsn, row_factory=tuple_row)
        started = time.perf_counter()
        async with self.conn.transaction():
            async with self.conn.cursor() as cursor:
                await cursor.executemany(self.SQL, [item.row for item in batch])
                # A frame from an account in fault clears it (supervision: the panel is back).
                await cursor.execute(
                    "UPDATE arc_supervisionfault SET cleared_at = now() WHERE cleared_at IS NULL "
                    "AND account_id = ANY(%s)",
                    [sorted({item.row[0] for item in batch})],
                )
        self.commit_seconds += time.perf_counter() - started
        self.commits += 1
        self.stored += len(batch)


@dataclass
class Receiver:
    dsn: str
    central_id: int
    max_frame: int = sia_dc09.DEFAULT_MAX_FRAME
    accounts: dict[str, Account] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.committer = Committer(self.dsn)
        self._loaded_at = 0.0
        self.tasks: set[asyncio.Future[Any]] = set()
        self.last_seen: dict[int, datetime] = {}  # account id → its last stored frame (supervision)
        self.connections: dict[str, int] = {}  # source address → open TCP connections
        self.discovered_at: dict[str, float] = {}  # unknown account → when last recorded

    # --- accounts ---------------------------------------------------------------------------

    async def load_accounts(self) -> None:
        from tocsin.arc.services import unseal

        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT id, account, key_sealed, encryption_required, ahead_s, behind_s, poll_interval_s, device_tz "
                "FROM arc_receiveraccount WHERE central_id = %s AND enabled",
                [self.central_id],
            )
            rows = await cur.fetchall()
            if not self.last_seen:
                cur = await conn.execute(
                    "SELECT account_id, max(received_at) FROM arc_signal WHERE central_id = %s GROUP BY account_id",
                    [self.central_id],
                )
                self.last_seen.update({a: t for a, t in await cur.fetchall()})
        accounts = {}
        for id_, number, sealed, required, ahead, behind, poll, tz in rows:
            try:
                key = unseal(bytes(sealed), f"{self.central_id}:{number}") if sealed else None
            except InvalidTag:  # the platform secret changed: this account's encrypted frames get NAK
                log.error("account %s: its sealed key does not open with this platform secret", number)
                key = None
            accounts[number] = Account(id_, self.central_id, number, key, required, ahead, behind, poll, tz)
        self.accounts = accounts
        self._loaded_at = time.monotonic()

    async def _account(self, number: str | None) -> Account | None:
        if number is None:
            return None
        number = number.upper()
        if number not in self.accounts and time.monotonic() - self._loaded_at > 1.0:
            await self.load_accounts()  # a new account is taken at once, at most once a second
        return self.accounts.get(number)

    async def _discovered(self, number: str, source: str) -> None:
        """Record an unknown account, at most once a minute each (a flood of them costs no database)."""
        number = number.upper()[:16]
        last = self.discovered_at.get(number)
        if last is not None and time.monotonic() - last < 60:
            return
        if len(self.discovered_at) > 10_000:
            self.discovered_at.clear()
        self.discovered_at[number] = time.monotonic()
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO arc_discoveredaccount (central_id, account, first_seen, last_seen, frames, source) "
                "VALUES (%s, %s, now(), now(), 1, %s) ON CONFLICT (central_id, account) DO UPDATE SET "
                "last_seen = now(), frames = arc_discoveredaccount.frames + 1, source = EXCLUDED.source",
                [self.central_id, number.upper()[:16], source[:64]],
            )

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    # --- one frame --------------------------------------------------------------------------

    async def handle(self, item: sia_dc09.Frame | sia_dc09.FrameError, *, source: str, transport: str) -> bytes | None:
        """The reply to one frame (None: no answer), after storing it when it is an event."""
        now = datetime.now(UTC)
        if isinstance(item, sia_dc09.FrameError):
            self._count(f"error_{item.reason}")
            return None  # bad CRC, length or framing: no answer (the panel re-sends)
        seen: dict[str, str | None] = {}

        def key_for(number: str | None) -> bytes | None:
            seen["account"] = number
            known = self.accounts.get((number or "").upper())
            return known.key if known else None

        message = sia_dc09.parse_message(item, key=key_for)
        number = message.account if isinstance(message, sia_dc09.Message) else seen.get("account")
        if isinstance(message, sia_dc09.FrameError) and number is None:
            # A frame whose message does not read as far as its account: malformed, like a bad CRC.
            self._count(f"error_{message.reason}")
            return sia_dc09.nak(now) if message.reason == "timestamp" else None
        account = self.accounts.get((number or "").upper())
        if account is None:
            account = await self._account(number)  # perhaps added since the last refresh
            if account is not None:
                message = sia_dc09.parse_message(item, key=key_for)
        if account is None:
            self._count("nak_unknown_account")
            if number:
                await self._discovered(number, source)
            return sia_dc09.nak(now)
        if isinstance(message, sia_dc09.FrameError):
            self._count(f"error_{message.reason}")
            if message.reason in ("decrypt", "no_key", "timestamp"):
                return sia_dc09.nak(now)
            return None
        if account.encryption_required and not message.encrypted:
            self._count("nak_plain_refused")
            return sia_dc09.nak(now)
        panel_time = account.panel_time(message.timestamp) if message.timestamp is not None else None
        if panel_time is not None and not sia_dc09.timestamp_ok(
            panel_time, now, ahead_s=account.ahead_s, behind_s=account.behind_s
        ):
            self._count("nak_timestamp")
            return sia_dc09.nak(now)
        events = _events(message) if message.supported else None
        if events is None or message.id not in ("SIA-DCS", "ADM-CID", "NULL"):
            self._count("duh")
            return sia_dc09.duh(message, now=now)
        row = (
            account.id, account.central_id, now, message.id, message.encrypted, message.sequence,
            message.receiver or "", message.prefix or "", message.data, json.dumps([list(x) for x in message.extended]),
            panel_time, json.dumps(events), source[:64], transport, digest(account.id, message),
        )  # fmt: skip
        await self.committer.store(row)
        self.last_seen[account.id] = now
        self._count("ack")
        return sia_dc09.ack(message, key=account.key, now=now)

    # --- transports ----------------------------------------------------------------------------

    async def on_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        source = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if self.connections.get(address, 0) >= MAX_CONNECTIONS_PER_SOURCE:
            self._count("connections_refused")  # one address may not hold every connection
            writer.close()
            return
        self.connections[address] = self.connections.get(address, 0) + 1
        frames = sia_dc09.FrameReader(max_frame=self.max_frame)
        try:
            while True:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT_S):  # no task per read, unlike wait_for
                        data = await reader.read(4096)
                except TimeoutError:
                    break
                if not data:
                    break
                for item in frames.feed(data):
                    reply = await self.handle(item, source=source, transport="tcp")
                    if reply is not None:
                        writer.write(reply)
                        await writer.drain()
        except (ConnectionError, OSError):
            pass
        except Exception:  # one panel's trouble never stops the others
            log.exception("connection from %s", source)
        finally:
            self.connections[address] -= 1
            if not self.connections[address]:
                del self.connections[address]
            writer.close()

    def datagram_protocol(self) -> asyncio.DatagramProtocol:
        receiver = self

        class Protocol(asyncio.DatagramProtocol):
            transport: asyncio.DatagramTransport

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport  # type: ignore[assignment]

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                task = asyncio.ensure_future(self._answer(data, addr))
                receiver.tasks.add(task)
                task.add_done_callback(receiver.tasks.discard)

            async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
                try:
                    item = sia_dc09.parse_datagram(data, max_frame=receiver.max_frame)
                    reply = await receiver.handle(item, source=f"{addr[0]}:{addr[1]}", transport="udp")
                except Exception:
                    log.exception("datagram from %s", addr)
                    return
                if reply is not None:
                    self.transport.sendto(reply, addr)

        return Protocol()

    async def serve(self, *, host: str, tcp_ports: Iterable[int], udp_ports: Iterable[int]) -> list[Any]:
        """Start listening; returns the servers and transports (their sockets tell the ports bound)."""
        await self.load_accounts()
        self.tasks.add(asyncio.ensure_future(self.committer.run()))
        loop = asyncio.get_running_loop()
        servers: list[Any] = []
        for port in tcp_ports:
            servers.append(await asyncio.start_server(self.on_tcp, host, port))
        for port in udp_ports:
            transport, _ = await loop.create_datagram_endpoint(self.datagram_protocol, local_addr=(host, port))
            servers.append(transport)
        return servers

    # --- supervision and metrics ---------------------------------------------------------------------

    async def supervise(self, now: datetime | None = None) -> int:
        """Raise a fault for every supervised account silent past its polling interval ("late to test");
        returns how many were raised. The account's next frame clears it (in the committer)."""
        now = now or datetime.now(UTC)
        late = []
        for account in self.accounts.values():
            if not account.poll_interval_s:
                continue
            seen = self.last_seen.get(account.id)
            if seen is None or (now - seen).total_seconds() > account.poll_interval_s:
                late.append((account.id, now, seen))
        if not late:
            return 0
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            raised = 0
            for row in late:
                result = await conn.execute(
                    "INSERT INTO arc_supervisionfault (account_id, raised_at, last_seen) VALUES (%s, %s, %s) "
                    "ON CONFLICT (account_id) WHERE cleared_at IS NULL DO NOTHING",
                    row,
                )
                raised += result.rowcount
        self.counts["faults_raised"] = self.counts.get("faults_raised", 0) + raised
        return raised

    def metrics(self) -> str:
        """Prometheus text: frames by reply, stored events, commits and their time, open connections."""
        lines = [
            "# TYPE tocsin_receiver_frames_total counter",
            *(
                f'tocsin_receiver_frames_total{{outcome="{k}"}} {v}'
                for k, v in sorted(self.counts.items())
                if k not in NOT_FRAMES
            ),
            "# TYPE tocsin_receiver_connections_refused_total counter",
            f"tocsin_receiver_connections_refused_total {self.counts.get('connections_refused', 0)}",
            "# TYPE tocsin_receiver_faults_raised_total counter",
            f"tocsin_receiver_faults_raised_total {self.counts.get('faults_raised', 0)}",
            "# TYPE tocsin_receiver_events_stored_total counter",
            f"tocsin_receiver_events_stored_total {self.committer.stored}",
            "# TYPE tocsin_receiver_commits_total counter",
            f"tocsin_receiver_commits_total {self.committer.commits}",
            "# TYPE tocsin_receiver_commit_seconds_total counter",
            f"tocsin_receiver_commit_seconds_total {self.committer.commit_seconds:.6f}",
            "# TYPE tocsin_receiver_connections gauge",
            f"tocsin_receiver_connections {sum(self.connections.values())}",
            "# TYPE tocsin_receiver_accounts gauge",
            f"tocsin_receiver_accounts {len(self.accounts)}",
        ]
        return "\n".join(lines) + "\n"

    async def on_metrics(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A minimal HTTP answer to ``GET /metrics`` (anything else: 404)."""
        try:
            line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)).strip():
                pass
            if line.split()[1:2] == [b"/metrics"]:
                body = self.metrics().encode()
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n"
            else:
                body, head = b"not found\n", b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
            writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()


async def run(
    dsn: str,
    *,
    central_id: int,
    host: str,
    tcp_ports: list[int],
    udp_ports: list[int],
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
) -> None:
    receiver = Receiver(dsn=dsn, central_id=central_id)
    await receiver.serve(host=host, tcp_ports=tcp_ports, udp_ports=udp_ports)
    if metrics_port is not None:
        await asyncio.start_server(receiver.on_metrics, metrics_host, metrics_port)
    log.info("receiver for central %s on %s tcp=%s udp=%s", central_id, host, tcp_ports, udp_ports)
    last_refresh = time.monotonic()
    while True:
        await asyncio.sleep(SUPERVISION_CHECK_S)
        try:
            if time.monotonic() - last_refresh >= ACCOUNTS_REFRESH_S:
                await receiver.load_accounts()
                last_refresh = time.monotonic()
            await receiver.supervise()
        except Exception as exc:  # noqa: BLE001 — the database away a moment: frames keep being answered
            log.warning("accounts or supervision not refreshed: %s", exc)
