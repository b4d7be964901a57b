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
from collections import deque
from collections.abc import Callable, Iterable
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
SUPERVISION_GRACE_S = 20  # beyond the polling interval: covers another receiver's frames not yet shared
MAX_CONNECTIONS_PER_SOURCE = 32
NOT_FRAMES = frozenset({"connections_refused", "faults_raised", "closed_idle"})


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
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return stamp
        return stamp.replace(tzinfo=zone).astimezone(UTC)


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


Answer = Callable[[bytes | None], None]  # takes the reply to one frame (None: no answer)


@dataclass(frozen=True, slots=True)
class Store:
    """A frame to commit before its ACK leaves."""

    row: tuple[Any, ...]
    account: Account
    message: sia_dc09.Message
    now: datetime


LOOKUP = object()  # the frame names an account not loaded yet: look it up in the database first


class Committer:
    """Group commit: every frame waiting is written in one transaction, then all their ACKs may leave."""

    SQL = (
        "INSERT INTO arc_signal (account_id, central_id, received_at, message_id, encrypted, sequence, receiver, "
        "prefix, data, extended, panel_time, events, source, transport, digest) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
        "ON CONFLICT (account_id, digest) DO NOTHING"
    )
    BATCH = 500

    def __init__(self, dsn: str):
        self.dsn = dsn
        self.pending: list[tuple[tuple[Any, ...], Callable[[BaseException | None], None]]] = []
        self.wake = asyncio.Event()
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.open_faults: set[int] = set()  # accounts with an open supervision fault: their next frame clears it
        self.commits = 0
        self.stored = 0
        self.commit_seconds = 0.0  # summed, for the metrics

    def submit(self, row: tuple[Any, ...], done: Callable[[BaseException | None], None]) -> None:
        """Queue a row; ``done`` is called once it is committed (None) or could not be (the error)."""
        self.pending.append((row, done))
        self.wake.set()

    async def store(self, row: tuple[Any, ...]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(exc: BaseException | None) -> None:
            if not done.done():
                done.set_exception(exc) if exc is not None else done.set_result(None)

        self.submit(row, settle)
        await done  # raises if the commit failed: then no ACK leaves

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending:
                batch = self.pending[: self.BATCH]
                del self.pending[: self.BATCH]
                try:
                    await self._write([row for row, _ in batch])
                except Exception as exc:  # noqa: BLE001 — every waiting frame gets no ACK; the panel re-sends
                    log.error("commit failed for %d frames: %s", len(batch), exc)
                    self.conn = None
                    for _, done in batch:
                        done(exc)
                    continue
                for _, done in batch:
                    done(None)

    async def _write(self, rows: list[tuple[Any, ...]]) -> None:
        if self.conn is None or self.conn.closed:
            self.conn = await psycopg.AsyncConnection.connect(self.dsn, row_factory=tuple_row)
        started = time.perf_counter()
        back = self.open_faults.intersection(row[0] for row in rows) if self.open_faults else ()
        async with self.conn.transaction():
            async with self.conn.cursor() as cursor:
                await cursor.executemany(self.SQL, rows)
                if back:  # a frame from an account in fault clears it (supervision: the panel is back)
                    await cursor.execute(
                        "UPDATE arc_supervisionfault SET cleared_at = now() WHERE cleared_at IS NULL "
                        "AND account_id = ANY(%s)",
                        [sorted(back)],
                    )
        self.open_faults.difference_update(back)
        self.commit_seconds += time.perf_counter() - started
        self.commits += 1
        self.stored += len(rows)


@dataclass
class Receiver:
    dsn: str
    central_id: int
    max_frame: int = sia_dc09.DEFAULT_MAX_FRAME
    discover: bool = True  # record unknown accounts for the central to claim (else only NAK and count)
    accounts: dict[str, Account] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.committer = Committer(self.dsn)
        self._loaded_at = 0.0
        self.tasks: set[asyncio.Future[Any]] = set()
        self.seen: dict[int, datetime] = {}  # account id → its last stored frame, not yet written to the account
        self.connections: dict[str, int] = {}  # source address → open TCP connections
        self.panels: set[PanelConnection] = set()
        self.discovered_at: dict[str, float] = {}  # unknown account → when last recorded

    # --- accounts ---------------------------------------------------------------------------

    async def load_accounts(self) -> None:
        """The central's enabled accounts and their open faults (raised by this receiver or another)."""
        from tocsin.arc.services import unseal

        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT id, account, key_sealed, encryption_required, ahead_s, behind_s, poll_interval_s, device_tz "
                "FROM arc_receiveraccount WHERE central_id = %s AND enabled",
                [self.central_id],
            )
            rows = await cur.fetchall()
            cur = await conn.execute(
                "SELECT f.account_id FROM arc_supervisionfault f JOIN arc_receiveraccount a ON a.id = f.account_id "
                "WHERE a.central_id = %s AND f.cleared_at IS NULL",
                [self.central_id],
            )
            self.committer.open_faults = {a for (a,) in await cur.fetchall()}
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
        if not self.discover or (last is not None and time.monotonic() - last < 60):
            return
        if len(self.discovered_at) > 10_000:
            self.discovered_at.clear()
        self.discovered_at[number] = time.monotonic()
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            await conn.execute(
                "INSERT INTO arc_discoveredaccount (central_id, account, first_seen, last_seen, frames, source) "
                "VALUES (%s, %s, now(), now(), 1, %s) ON CONFLICT (central_id, account) DO UPDATE SET "
                "last_seen = now(), frames = arc_discoveredaccount.frames + 1, source = EXCLUDED.source",
                [self.central_id, number, source[:64]],
            )

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1

    # --- one frame --------------------------------------------------------------------------

    def check(self, item: sia_dc09.Frame | sia_dc09.FrameError, *, source: str, transport: str) -> Any:
        """What to do with one frame, without waiting: a reply (bytes, or None for no answer), a ``Store``
        (commit, then ACK), or ``LOOKUP`` (an account not loaded: ``handle`` looks it up)."""
        now = datetime.now(UTC)
        if isinstance(item, sia_dc09.FrameError):
            self._count(f"error_{item.reason}")
            return None  # bad CRC, length or framing: no answer (the panel re-sends)
        seen: list[str | None] = [None]
        accounts = self.accounts

        def key_for(number: str | None) -> bytes | None:
            seen[0] = number
            known = accounts.get((number or "").upper())
            return known.key if known else None

        message = sia_dc09.parse_message(item, key=key_for)
        number = message.account if isinstance(message, sia_dc09.Message) else seen[0]
        if isinstance(message, sia_dc09.FrameError) and number is None:
            # A frame whose message does not read as far as its account: malformed, like a bad CRC.
            self._count(f"error_{message.reason}")
            return sia_dc09.nak(now) if message.reason == "timestamp" else None
        account = accounts.get((number or "").upper())
        if account is None:
            return LOOKUP
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
        return Store(row, account, message, now)

    def _acked(self, store: Store) -> bytes:
        self.seen[store.account.id] = store.now
        self._count("ack")
        return sia_dc09.ack(store.message, key=store.account.key, now=store.now)

    def dispatch(
        self, item: sia_dc09.Frame | sia_dc09.FrameError, *, source: str, transport: str, answer: Answer
    ) -> None:
        """Answer one frame: at once when no commit is needed, else when its commit is done; a frame from an
        account not loaded goes the slow way (``handle``)."""
        outcome = self.check(item, source=source, transport=transport)
        if isinstance(outcome, Store):
            self.committer.submit(outcome.row, lambda exc: answer(None if exc is not None else self._acked(outcome)))
        elif outcome is LOOKUP:
            task = asyncio.ensure_future(self._answer_later(item, source, transport, answer))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        else:
            answer(outcome)

    async def _answer_later(
        self, item: sia_dc09.Frame | sia_dc09.FrameError, source: str, transport: str, answer: Answer
    ) -> None:
        try:
            reply = await self.handle(item, source=source, transport=transport)
        except Exception:  # the database away: no answer, the panel re-sends
            log.exception("frame from %s", source)
            reply = None
        answer(reply)

    async def handle(self, item: sia_dc09.Frame | sia_dc09.FrameError, *, source: str, transport: str) -> bytes | None:
        """The reply to one frame (None: no answer), after storing it when it is an event."""
        outcome = self.check(item, source=source, transport=transport)
        if outcome is LOOKUP:
            assert isinstance(item, sia_dc09.Frame)
            number = sia_dc09.account_of(item)
            if await self._account(number) is not None:  # added since the last refresh
                outcome = self.check(item, source=source, transport=transport)
            if outcome is LOOKUP:
                self._count("nak_unknown_account")
                if number:
                    await self._discovered(number, source)
                return sia_dc09.nak(datetime.now(UTC))
        if isinstance(outcome, Store):
            await self.committer.store(outcome.row)
            return self._acked(outcome)
        return outcome

    # --- transports ----------------------------------------------------------------------------

    def datagram_protocol(self) -> asyncio.DatagramProtocol:
        receiver = self

        class Protocol(asyncio.DatagramProtocol):
            transport: asyncio.DatagramTransport

            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport  # type: ignore[assignment]

            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                def answer(reply: bytes | None) -> None:
                    if reply is not None and not self.transport.is_closing():
                        self.transport.sendto(reply, addr)

                try:
                    item = sia_dc09.parse_datagram(data, max_frame=receiver.max_frame)
                    receiver.dispatch(item, source=f"{addr[0]}:{addr[1]}", transport="udp", answer=answer)
                except Exception:  # one datagram's trouble never stops the others
                    log.exception("datagram from %s", addr)

        return Protocol()

    async def serve(
        self, *, host: str, tcp_ports: Iterable[int], udp_ports: Iterable[int], reuse_port: bool = False
    ) -> list[Any]:
        """Start listening; returns the servers and transports (their sockets tell the ports bound)."""
        await self.load_accounts()
        self.tasks.add(asyncio.ensure_future(self.committer.run()))
        self.tasks.add(asyncio.ensure_future(self._close_idle()))
        loop = asyncio.get_running_loop()
        servers: list[Any] = []
        for port in tcp_ports:
            servers.append(await loop.create_server(lambda: PanelConnection(self), host, port, reuse_port=reuse_port))
        for port in udp_ports:
            transport, _ = await loop.create_datagram_endpoint(
                self.datagram_protocol, local_addr=(host, port), reuse_port=reuse_port
            )
            servers.append(transport)
        return servers

    async def _close_idle(self) -> None:
        """Close every TCP connection silent for ``IDLE_TIMEOUT_S`` (one sweep, not a timer per read)."""
        while True:
            await asyncio.sleep(min(IDLE_TIMEOUT_S / 4, 10.0))
            now = time.monotonic()
            for panel in [p for p in self.panels if now - p.last_read > IDLE_TIMEOUT_S]:
                panel.close("idle")

    # --- supervision and metrics ---------------------------------------------------------------------

    async def share_seen(self) -> None:
        """Write the last frame of every account heard since the last call onto the account, and clear the
        faults those frames answer (raised by this receiver or by another one watching the same panels)."""
        if not self.seen:
            return
        seen, self.seen = self.seen, {}
        try:
            async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                ids, times = list(seen), list(seen.values())
                await conn.execute(
                    "UPDATE arc_receiveraccount a SET last_seen = v.t FROM unnest(%s::bigint[], %s::timestamptz[]) "
                    "AS v(id, t) WHERE a.id = v.id AND (a.last_seen IS NULL OR a.last_seen < v.t)",
                    [ids, times],
                )
                await conn.execute(
                    "UPDATE arc_supervisionfault f SET cleared_at = now() FROM arc_receiveraccount a "
                    "WHERE f.account_id = a.id AND f.cleared_at IS NULL AND a.id = ANY(%s) "
                    "AND a.last_seen > coalesce(f.last_seen, '-infinity'::timestamptz)",
                    [ids],
                )
        except BaseException:
            for account, stamp in seen.items():  # kept for the next try
                if self.seen.get(account, stamp) <= stamp:
                    self.seen[account] = stamp
            raise

    async def supervise(self, now: datetime | None = None) -> int:
        """Raise a fault for every supervised account silent past its polling interval plus a grace
        ("late to test"); returns how many were raised. The account's next frame clears it.

        The check reads the accounts' ``last_seen``, which every copy of the receiver writes (``share_seen``),
        so several receivers taking the same panels (a panel's primary and backup paths) agree; the grace
        covers the few seconds before another copy's frames are written there. Two copies raising the
        same fault at once make one fault (the open-fault constraint).
        """
        await self.share_seen()
        now = now or datetime.now(UTC)
        async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
            cur = await conn.execute(
                "INSERT INTO arc_supervisionfault (account_id, raised_at, last_seen) "
                "SELECT a.id, %(now)s, a.last_seen FROM arc_receiveraccount a "
                "WHERE a.central_id = %(central)s AND a.enabled AND a.poll_interval_s IS NOT NULL "
                "AND coalesce(a.last_seen, a.updated_at) "
                "    < %(now)s - make_interval(secs => a.poll_interval_s + %(grace)s) "
                "ON CONFLICT (account_id) WHERE cleared_at IS NULL DO NOTHING RETURNING account_id",
                {"now": now, "central": self.central_id, "grace": SUPERVISION_GRACE_S},
            )
            raised = [a for (a,) in await cur.fetchall()]
        self.committer.open_faults.update(raised)
        self.counts["faults_raised"] = self.counts.get("faults_raised", 0) + len(raised)
        return len(raised)

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
            "# TYPE tocsin_receiver_connections_closed_idle_total counter",
            f"tocsin_receiver_connections_closed_idle_total {self.counts.get('closed_idle', 0)}",
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


class PanelConnection(asyncio.Protocol):
    """One panel's TCP connection. Frames are answered in the order they came, each as soon as it may
    be (after its commit for an event); a panel that sends faster than it reads is paused."""

    MAX_WAITING = 64  # frames waiting for their answer before reading pauses

    def __init__(self, receiver: Receiver):
        self.receiver = receiver
        self.transport: asyncio.Transport | None = None
        self.frames = sia_dc09.FrameReader(max_frame=receiver.max_frame)
        self.waiting: deque[list[Any]] = deque()  # [ready, reply] in arrival order
        self.last_read = time.monotonic()
        self.address = self.source = ""
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) else str(peer)
        self.source = (f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer))[:64]
        connections = self.receiver.connections
        if connections.get(self.address, 0) >= MAX_CONNECTIONS_PER_SOURCE:
            self.receiver._count("connections_refused")  # one address may not hold every connection
            transport.close()
            return
        self.transport = transport  # type: ignore[assignment]
        connections[self.address] = connections.get(self.address, 0) + 1
        self.receiver.panels.add(self)

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        self.last_read = time.monotonic()
        for item in self.frames.feed(data):
            slot: list[Any] = [False, None]
            self.waiting.append(slot)
            try:
                self.receiver.dispatch(item, source=self.source, transport="tcp", answer=self._answer(slot))
            except Exception:  # one panel's trouble never stops the others
                log.exception("frame from %s", self.source)
                self._answer(slot)(None)
        if len(self.waiting) > self.MAX_WAITING and not self.paused:
            self.paused = True
            self.transport.pause_reading()

    def _answer(self, slot: list[Any]) -> Answer:
        def answer(reply: bytes | None) -> None:
            slot[0], slot[1] = True, reply
            waiting = self.waiting
            while waiting and waiting[0][0]:
                reply_ = waiting.popleft()[1]
                if reply_ is not None and self.transport is not None and not self.transport.is_closing():
                    self.transport.write(reply_)
            if self.paused and len(waiting) < self.MAX_WAITING // 4 and self.transport is not None:
                self.paused = False
                self.transport.resume_reading()

        return answer

    def close(self, why: str) -> None:
        if self.transport is not None:
            self.receiver._count(f"closed_{why}")
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is None:
            return  # refused at once: never counted
        self.transport = None
        self.receiver.panels.discard(self)
        connections = self.receiver.connections
        connections[self.address] -= 1
        if not connections[self.address]:
            del connections[self.address]


async def run(
    dsn: str,
    *,
    central_id: int,
    host: str,
    tcp_ports: list[int],
    udp_ports: list[int],
    metrics_port: int | None = None,
    metrics_host: str = "127.0.0.1",
    discover: bool = True,
    reuse_port: bool = False,
) -> None:
    receiver = Receiver(dsn=dsn, central_id=central_id, discover=discover)
    await receiver.serve(host=host, tcp_ports=tcp_ports, udp_ports=udp_ports, reuse_port=reuse_port)
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
