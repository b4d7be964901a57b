"""The dispatcher inside every `tocsin worker`: claims deliveries and hands them to gateways.

Per gateway, each worker runs a few *runners*. A runner first takes one of the
gateway's connection slots (a session-level advisory lock: it frees itself if
the worker dies), so ``concurrency`` holds across all workers together; then it
loops: take tokens from the gateway's bucket (``rate_per_s`` across all
workers), claim that many rows, send, record. A NOTIFY on the outbox wakes idle
runners at once; a reaper returns expired leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import socket
import time
from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from tocsin.delivery import outbox
from tocsin.delivery.channels.base import Channel, GatewayInfo, Outgoing, channel_for
from tocsin.delivery.services import NOTIFY_CHANNEL, PROGRESS_CHANNEL

logger = logging.getLogger("tocsin.delivery")
STOP_GRACE_S = 120.0  # a stopping worker lets its calls end (a call lasts a minute or two)
_SLOT_LOCK_SPACE = 0x70C5  # first key of the two-key advisory lock: "a gateway slot"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Dispatcher:
    def __init__(
        self,
        dsn: str,
        *,
        worker: str | None = None,
        runners_per_gateway: int = 2,
        lease_s: float = 60.0,
        idle_s: float = 1.0,
        gateway_ids: Iterable[int] | None = None,
    ):
        self.dsn = dsn
        self.worker = worker or worker_name()
        self.runners_per_gateway = runners_per_gateway
        self.lease_s = lease_s
        self.idle_s = idle_s
        self.gateway_ids = set(gateway_ids) if gateway_ids else None
        self.wake = asyncio.Event()
        self.stop = asyncio.Event()
        self.stop_event_never = asyncio.Event()  # for waits that only a call's end may cut short
        self.content: dict[int, dict[str, Any]] = {}
        # Send requests this worker touched lately (request id -> monotonic time): their progress is
        # announced once a second, not once per batch, and for a while after (receipts come later).
        self.recent: dict[int, float] = {}
        self.recent_s = 600.0

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.dsn, autocommit=True, row_factory=tuple_row)

    async def run(self) -> None:
        conn = await self._connect()
        cur = await conn.execute(
            "SELECT id, name, kind, config, rate_per_s, concurrency FROM delivery_gateway"
            " WHERE enabled AND channel IN ('sms', 'email', 'voice')"  # area broadcasts go by job (alerts.tasks)
        )
        gateways = [GatewayInfo(*row) for row in await cur.fetchall()]
        await conn.close()
        if self.gateway_ids is not None:
            gateways = [g for g in gateways if g.id in self.gateway_ids]
        # What the process holds now (Django, modules, settings) lives as long as it does: keep it out of the
        # full garbage collections, which otherwise walk it all and stall every call's audio (~120 ms seen
        # with 1,000 calls up; bench/README.md, Voice).
        gc.freeze()
        tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._reaper())]
        for gateway in gateways:
            if gateway.kind == "sip":  # calls: one runner, one slot per call in flight
                tasks.append(asyncio.create_task(self._runner(gateway)))
                continue
            for _ in range(min(self.runners_per_gateway, gateway.concurrency)):
                tasks.append(asyncio.create_task(self._runner(gateway)))
        logger.info("dispatcher %s: %d gateways, %d runners", self.worker, len(gateways), len(tasks) - 2)
        await self.stop.wait()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        while not self.stop.is_set():
            try:
                conn = await self._connect()
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                async for _notice in conn.notifies():
                    self.wake.set()
            except psycopg.OperationalError as exc:
                logger.warning("outbox LISTEN lost (%s); again in 2 s", exc)
                await asyncio.sleep(2)

    async def _reaper(self) -> None:
        conn = await self._connect()
        try:
            ticks = 0
            every = max(1, int(min(5.0, self.lease_s / 2)))
            while not self.stop.is_set():
                with contextlib.suppress(psycopg.OperationalError):
                    await outbox.apply_pending_receipts(conn)
                    await self._announce_progress(conn)
                    if ticks % every == 0:
                        expired = await outbox.expire(conn)
                        if expired:
                            logger.warning("%d deliveries expired before they could be sent", expired)
                        returned = await outbox.reap(conn)
                        if returned:
                            logger.warning("%d deliveries came back from expired leases", returned)
                            self.wake.set()
                ticks += 1
                await asyncio.sleep(1.0)
        finally:
            await conn.close()

    async def _announce_progress(self, conn: psycopg.AsyncConnection[Any]) -> None:
        now = asyncio.get_running_loop().time()
        for request_id in [r for r, seen in self.recent.items() if now - seen > self.recent_s]:
            del self.recent[request_id]
        if self.recent:
            await conn.execute(
                "SELECT pg_notify(%s, r::text) FROM unnest(%s::bigint[]) r", [PROGRESS_CHANNEL, list(self.recent)]
            )

    async def _take_slot(self, conn: psycopg.AsyncConnection[Any], gateway: GatewayInfo) -> int | None:
        for slot in range(gateway.concurrency):
            cur = await conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s)", [_SLOT_LOCK_SPACE, gateway.id * 1000 + slot]
            )
            row = await cur.fetchone()
            if row and row[0]:
                return slot
        return None

    async def _set_health(self, conn: psycopg.AsyncConnection[Any], gateway: GatewayInfo, channel: Channel) -> None:
        with contextlib.suppress(psycopg.Error):
            await conn.execute(
                "UPDATE delivery_gateway SET health = %s, health_detail = %s, health_at = now() WHERE id = %s",
                [channel.health.state, channel.health.detail[:500], gateway.id],
            )

    async def _runner(self, gateway: GatewayInfo) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            conn = await self._connect()
            side = await self._connect()  # receipts and replies arrive while the pump uses conn
            channel: Channel | None = None
            try:
                if gateway.kind == "sip":
                    channel = self._channel(gateway, side)
                    await self._calls(conn, gateway, channel)
                    continue
                slot = await self._take_slot(conn, gateway)
                if slot is None:
                    await asyncio.sleep(5)  # all slots taken by other runners: stand by
                    continue

                channel = self._channel(gateway, side)
                await channel.open()
                await self._set_health(conn, gateway, channel)
                backoff = 1.0
                await self._pump(conn, gateway, channel)
            except Exception as exc:
                # Whatever went wrong, this runner lives on: its claims come back with their leases.
                if isinstance(exc, (ConnectionError, OSError, TimeoutError, psycopg.Error)):
                    logger.warning("gateway %s: %s; again in %.0f s", gateway.name, exc, backoff)
                else:  # a defect, not the network: keep the traceback for whoever reads the log
                    logger.exception("gateway %s: unexpected error; again in %.0f s", gateway.name, backoff)
                    if channel is not None:
                        channel.health.state = "degraded"
                        channel.health.detail = f"internal error: {type(exc).__name__}"
                if channel is not None:
                    await self._set_health(conn, gateway, channel)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60)
            finally:
                if channel is not None:
                    with contextlib.suppress(ConnectionError, OSError, TimeoutError, psycopg.Error):
                        await channel.close()
                await side.close()
                await conn.close()  # also frees the slot's advisory lock

    @staticmethod
    def _channel(gateway: GatewayInfo, side: psycopg.AsyncConnection[Any]) -> Channel:
        """The gateway's channel, writing receipts and replies over the side connection."""

        async def on_receipts(items: list[tuple[str, str, str]]) -> None:
            await outbox.receipts(side, gateway_id=gateway.id, items=items)

        async def on_inbound(sender: str, recipient: str, text: str) -> None:
            await side.execute(
                "INSERT INTO delivery_inboundmessage (gateway_id, sender, recipient, text, received_at)"
                " VALUES (%s, %s, %s, %s, now())",
                [gateway.id, sender, recipient, text],
            )

        return channel_for(gateway, on_receipts=on_receipts, on_inbound=on_inbound)

    async def _pump(self, conn: psycopg.AsyncConnection[Any], gateway: GatewayInfo, channel: Channel) -> None:
        batch_size = channel.batch_size
        while not self.stop.is_set():
            tokens = await outbox.take_tokens(conn, gateway_id=gateway.id, want=batch_size)
            if tokens == 0:
                await asyncio.sleep(min(0.2, batch_size / max(gateway.rate_per_s, 1.0)))
                continue
            claimed = await outbox.claim(
                conn, gateway_id=gateway.id, worker=self.worker, limit=tokens, lease_s=self.lease_s
            )
            if len(claimed) < tokens:
                await outbox.give_back(conn, gateway_id=gateway.id, tokens=tokens - len(claimed))
            if not claimed:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.idle_s)
                continue
            now = asyncio.get_running_loop().time()
            for request_id in {c.request_id for c in claimed}:
                self.recent[request_id] = now
            items = await self._outgoing(conn, claimed)
            try:
                results = await channel.send(items)
            except ConnectionError as exc:
                # Refused before anything went out: straight back to the queue, then reconnect.
                failed = [outbox.Result(i.delivery_id, "retry", error=f"gateway: {exc}") for i in items]
                await outbox.record(conn, worker=self.worker, gateway_id=gateway.id, results=failed)
                raise
            await outbox.record(conn, worker=self.worker, gateway_id=gateway.id, results=results)
            if channel.health.state == "down":
                raise ConnectionError(channel.health.detail)  # e.g. credentials refused: back off, reconnect

    async def _calls(self, conn: psycopg.AsyncConnection[Any], gateway: GatewayInfo, channel: Channel) -> None:
        """A voice trunk: each call in flight holds one of the trunk's slots (a session advisory lock on
        ``conn``, freed when the call ends or this worker dies), so ``concurrency`` is the trunk's limit of
        simultaneous calls across all workers; ``rate_per_s`` paces the INVITEs (bursts lose them)."""
        from tocsin.delivery.channels.voice import VoiceChannel, result_of
        from tocsin.delivery.speech import SpeechStore

        assert isinstance(channel, VoiceChannel)
        store = SpeechStore(self.dsn)
        channel.speech = _Speech(store, self.content)
        channel.worker = self.worker
        await channel.open()
        await self._set_health(conn, gateway, channel)
        limit = min(gateway.concurrency, channel.config.calls_per_worker)
        held: set[int] = set()
        in_flight: dict[asyncio.Task[Any], tuple[Outgoing, int]] = {}
        finished: list[tuple[Outgoing, int, Any]] = []
        ended = asyncio.Event()
        next_invite = 0.0  # when this worker's next INVITE may go (loop time)

        async def one(item: Outgoing, slot: int, delay: float) -> None:
            await asyncio.sleep(delay)  # INVITEs spread over the second: bursts lose them on the way
            report = await channel.call(item)
            finished.append((item, slot, report))
            ended.set()

        async def settle() -> None:
            """Write what ended (results, attempts) and free those calls' slots."""
            ended.clear()
            done = finished[:]
            del finished[:]
            if not done:
                return
            results = [result_of(i.delivery_id, i.attempt, r, channel.config.retry_after_s) for i, _s, r in done]
            logs = [_attempt_log(i, r) for i, _s, r in done]
            await outbox.record(conn, worker=self.worker, gateway_id=gateway.id, results=results, attempts=logs)
            slots = [s for _i, s, _r in done]
            await conn.execute(
                "SELECT pg_advisory_unlock(%s, k) FROM unnest(%s::int[]) k",
                [_SLOT_LOCK_SPACE, [gateway.id * 1000 + s for s in slots]],
            )
            held.difference_update(slots)
            refused = [r.detail for _i, _s, r in done if r.auth_failed]
            if refused:  # the trunk refused us, or speech failed: every call would, until someone fixes it
                channel.health.state, channel.health.detail = "down", refused[0]
                await self._set_health(conn, gateway, channel)

        try:
            while not self.stop.is_set():
                await settle()
                for task in [t for t in in_flight if t.done()]:
                    del in_flight[task]
                    if not task.cancelled() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
                if channel.health.state == "down":
                    if not in_flight:  # reconnect (with back-off) once the calls in progress have ended
                        raise ConnectionError(channel.health.detail)
                    await _wait_any(ended, self.stop_event_never, 0.5)
                    continue
                free = limit - len(held)
                slots = await self._take_slots(conn, gateway, free, held) if free > 0 else []
                if not slots:
                    await _wait_any(ended, self.wake, 0.5)
                    continue
                tokens = await outbox.take_tokens(conn, gateway_id=gateway.id, want=len(slots))
                claimed = []
                if tokens:
                    claimed = await outbox.claim(conn, gateway_id=gateway.id, worker=self.worker, limit=tokens,
                                                 lease_s=channel.config.lease_s)  # fmt: skip
                    if len(claimed) < tokens:
                        await outbox.give_back(conn, gateway_id=gateway.id, tokens=tokens - len(claimed))
                unused = slots[len(claimed) :]
                if unused:
                    await conn.execute(
                        "SELECT pg_advisory_unlock(%s, k) FROM unnest(%s::int[]) k",
                        [_SLOT_LOCK_SPACE, [gateway.id * 1000 + s for s in unused]],
                    )
                if not claimed:
                    self.wake.clear()
                    await _wait_any(ended, self.wake, self.idle_s if tokens else 0.1)
                    continue
                now = asyncio.get_running_loop().time()
                for request_id in {c.request_id for c in claimed}:
                    self.recent[request_id] = now
                items = await self._outgoing(conn, claimed)
                gap, now = 1 / max(gateway.rate_per_s, 1.0), asyncio.get_running_loop().time()
                for item, slot in zip(items, slots, strict=False):
                    held.add(slot)
                    next_invite = max(next_invite, now)
                    in_flight[asyncio.create_task(one(item, slot, next_invite - now))] = (item, slot)
                    next_invite += gap
                if tokens < len(slots):
                    await asyncio.sleep(1 / max(gateway.rate_per_s, 1.0))
        finally:
            # Stopping: no new call, the calls in flight end as they would (up to STOP_GRACE_S). After that,
            # or after a defect, they are hung up and go back to the queue, flagged: the callee may have heard
            # part of the message.
            pending = [t for t in in_flight if not t.done()]
            if pending and self.stop.is_set():
                await asyncio.wait(pending, timeout=STOP_GRACE_S)
            for task in in_flight:
                task.cancel()
            for task in in_flight:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(psycopg.Error):
                await settle()
                cut = [item for task, (item, _slot) in in_flight.items() if task.cancelled()]
                if cut:
                    now = time.time()
                    await outbox.record(conn, worker=self.worker, gateway_id=gateway.id, results=[
                        outbox.Result(i.delivery_id, "retry", error="the worker stopped during the call",
                                      maybe_sent=True, retry_in=0) for i in cut
                    ], attempts=[
                        outbox.AttemptLog(i.delivery_id, i.attempt, now, None, None, now, "failed", None, 0.0,
                                          "the worker stopped during the call") for i in cut
                    ])  # fmt: skip
            await store.close()

    async def _take_slots(
        self, conn: psycopg.AsyncConnection[Any], gateway: GatewayInfo, want: int, held: set[int]
    ) -> list[int]:
        """Up to ``want`` free call slots of the trunk. A session may lock a key twice, so the slots this
        worker holds already are left out by hand."""
        cur = await conn.execute(
            "SELECT s FROM generate_series(0, %s - 1) s WHERE s <> ALL(%s::int[])"
            " AND pg_try_advisory_lock(%s, %s * 1000 + s) LIMIT %s",
            [gateway.concurrency, list(held), _SLOT_LOCK_SPACE, gateway.id, want],
        )
        return [row[0] for row in await cur.fetchall()]

    async def _outgoing(self, conn: psycopg.AsyncConnection[Any], claimed: list[outbox.Claimed]) -> list[Outgoing]:
        missing = {c.request_id for c in claimed} - self.content.keys()
        if missing:
            cur = await conn.execute("SELECT id, content FROM delivery_sendrequest WHERE id = ANY(%s)", [list(missing)])
            for request_id, content in await cur.fetchall():
                self.content[request_id] = content
        out = []
        for c in claimed:
            content = self.content.get(c.request_id, {})
            texts: dict[str, str] = content.get(c.language) or next(iter(content.values()), {})
            out.append(Outgoing(c.id, c.recipient, c.language, texts, c.request_id, c.possible_duplicate, c.attempts))
        return out


class _Speech:
    """The voice channel's prompts: the message of each send request in each language, from the store."""

    def __init__(self, store: Any, content: dict[int, dict[str, Any]]):
        self.store = store
        self.content = content

    async def __call__(self, item: Outgoing) -> Any:
        confirm = item.content.get("confirm") != "no"
        return await self.store.prompt(item.request_id, item.language, item.content.get("text", ""), confirm=confirm)

    async def thanks(self, language: str) -> Any:
        return await self.store.thanks(language)


def _attempt_log(item: Outgoing, report: Any) -> outbox.AttemptLog:
    return outbox.AttemptLog(
        delivery_id=item.delivery_id, attempt=item.attempt, started_at=report.started_at,
        ringing_at=report.ringing_at, answered_at=report.answered_at, ended_at=report.ended_at or report.started_at,
        outcome=report.outcome.value, sip_status=report.status, seconds_played=report.seconds_played,
        detail=report.detail,
    )  # fmt: skip


async def _wait_any(ended: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    """Until a call ends, the outbox wakes us, or the timeout."""
    if ended.is_set() or wake.is_set():
        return
    waits = [asyncio.ensure_future(ended.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
