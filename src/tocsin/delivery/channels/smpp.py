"""SMS over SMPP 3.4: one transceiver bind per connection slot, a window of outstanding
submit_sm, enquire_link both ways, throttling back-off, receipts and replies from deliver_sm."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time

from tocsin.delivery.channels.base import Channel, Outgoing, register
from tocsin.delivery.outbox import Result
from tocsin.protocols import gsm, smpp
from tocsin.protocols.smpp import Command, Pdu, Status

RECEIPT_CHUNK = 5000
logger = logging.getLogger("tocsin.delivery.smpp")


class SmppError(ConnectionError):
    """The connection failed; a request may have reached the SMSC."""


class SmppNotSent(SmppError):
    """The connection was already gone: the request never left."""


@register
class SmppChannel(Channel):
    kind = "smpp"

    async def open(self) -> None:
        cfg = self.gateway.config
        self.timeout = float(cfg.get("timeout", 10))
        try:
            self.reader, self.writer = await asyncio.wait_for(
                asyncio.open_connection(cfg.get("host", "127.0.0.1"), int(cfg.get("port", 2775))), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            self.health.state, self.health.detail = "down", f"connect: {exc}"
            raise SmppError(f"SMSC {cfg.get('host')}:{cfg.get('port')} unreachable: {exc}") from exc
        self.sequence = itertools.count(1)
        self.pending: dict[int, asyncio.Future[Pdu]] = {}
        self.out_buffer = bytearray()
        self.flush_scheduled = False
        self.segments: dict[str, gsm.Segmented] = {}  # the same text goes to many people: cut it once
        self.window = asyncio.Semaphore(int(cfg.get("window", 50)))
        # (sequence to acknowledge, receipt): a receipt is acknowledged only once it is stored,
        # so one lost with a dying worker comes again from the SMSC.
        self.receipt_buffer: list[tuple[int, tuple[str, str, str] | None]] = []
        self.throttled_until = 0.0
        self.closed = asyncio.Event()
        self.read_task: asyncio.Task[None] = asyncio.create_task(self._read_loop(), name="smpp-read")
        self.enquire_task: asyncio.Task[None] | None = None
        self.flush_task: asyncio.Task[None] | None = None
        response = await self._request(
            Command.BIND_TRANSCEIVER,
            {
                "system_id": cfg.get("system_id", ""),
                "password": cfg.get("password", ""),
                "system_type": cfg.get("system_type", ""),
            },
        )
        if response.status != Status.ROK:
            await self._drop()
            self.health.state, self.health.detail = "down", f"bind refused: status 0x{response.status:02x}"
            raise SmppError(self.health.detail)
        self.enquire_task = asyncio.create_task(self._enquire_loop(), name="smpp-enquire")
        self.flush_task = asyncio.create_task(self._flush_receipts(), name="smpp-receipts")
        self.health.state, self.health.detail = "ok", f"bound to {response.get('system_id', '')}"

    # --- wire ---------------------------------------------------------------

    def _write(self, pdu: Pdu) -> None:
        """Queue a PDU; everything queued in one turn of the event loop goes out in one write."""
        if self.closed.is_set():
            raise SmppNotSent("the SMPP connection is closed")
        self.out_buffer += smpp.encode(pdu)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_out)

    def _flush_out(self) -> None:
        self.flush_scheduled = False
        if self.out_buffer and not self.closed.is_set():
            self.writer.write(bytes(self.out_buffer))
        self.out_buffer.clear()

    async def _request(self, command: Command, params: dict | None = None, tlvs: dict | None = None) -> Pdu:
        seq = next(self.sequence) & 0x7FFFFFFF
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        # One timer per request (call_later) instead of wait_for, which costs a task per request.
        timer = asyncio.get_running_loop().call_later(self.timeout, self._expire, seq, command)
        self.pending[seq] = future
        try:
            self._write(Pdu(command, seq, params=params or {}, tlvs=tlvs or {}))
            return await future
        finally:
            timer.cancel()
            self.pending.pop(seq, None)

    def _expire(self, seq: int, command: Command) -> None:
        future = self.pending.get(seq)
        if future is not None and not future.done():
            future.set_exception(SmppError(f"no answer to {command.name} within {self.timeout:.0f} s"))

    async def _read_loop(self) -> None:
        try:
            while True:
                head = await self.reader.readexactly(4)
                rest = await self.reader.readexactly(smpp.frame_length(head) - 4)
                try:
                    pdu = smpp.decode(head + rest)
                except smpp.PduError as exc:
                    seq = int.from_bytes((head + rest)[12:16], "big") if len(rest) >= 12 else 0
                    self._write(Pdu(Command.GENERIC_NACK, seq, status=exc.status))
                    continue
                await self._dispatch(pdu)
        except (asyncio.IncompleteReadError, ConnectionError, OSError, smpp.PduError) as exc:
            self.health.state, self.health.detail = "down", f"connection lost: {exc!r}"
        finally:
            self.closed.set()
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(SmppError("the SMPP connection was lost"))

    async def _dispatch(self, pdu: Pdu) -> None:
        if pdu.command & 0x80000000:
            future = self.pending.get(pdu.sequence)
            if future is not None and not future.done():
                future.set_result(pdu)
            return
        if pdu.command is Command.DELIVER_SM:
            receipt = smpp.receipt_from(pdu)
            if receipt is not None:
                outcome = receipt.outcome  # None for intermediate states: acknowledged, nothing stored
                item = (receipt.message_id, outcome, f"{receipt.stat} err:{receipt.err}") if outcome else None
                self.receipt_buffer.append((pdu.sequence, item))
            else:
                text = gsm.decode(bytes(pdu.get("short_message", b"")), int(pdu.get("data_coding", 0)))
                await self.on_inbound(pdu.get("source_addr", ""), pdu.get("destination_addr", ""), text)
                self._write(Pdu(Command.DELIVER_SM_RESP, pdu.sequence))
        elif pdu.command is Command.ENQUIRE_LINK:
            self._write(Pdu(Command.ENQUIRE_LINK_RESP, pdu.sequence))
        elif pdu.command is Command.UNBIND:
            self._write(Pdu(Command.UNBIND_RESP, pdu.sequence))
            self.writer.close()
        else:
            self._write(Pdu(Command.GENERIC_NACK, pdu.sequence, status=Status.RINVCMDID))

    async def _enquire_loop(self) -> None:
        interval = float(self.gateway.config.get("enquire_link_s", 30))
        while not self.closed.is_set():
            await asyncio.sleep(interval)
            try:
                await self._request(Command.ENQUIRE_LINK)
            except SmppError:
                self.health.state, self.health.detail = "down", "enquire_link unanswered"
                await self._drop()
                return

    async def _flush_receipts(self) -> None:
        while True:
            closing = self.closed.is_set()
            before = len(self.receipt_buffer)
            await self._store_receipts()
            if closing and (not self.receipt_buffer or len(self.receipt_buffer) >= before):
                return  # all stored, or the database is gone too: the SMSC keeps the unacknowledged ones
            if len(self.receipt_buffer) >= RECEIPT_CHUNK:
                continue  # a backlog: no pause between chunks
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 0.2)

    async def _store_receipts(self) -> None:
        if not self.receipt_buffer:
            return
        # At most RECEIPT_CHUNK per statement: a slow database must not turn into one giant statement.
        batch, self.receipt_buffer = self.receipt_buffer[:RECEIPT_CHUNK], self.receipt_buffer[RECEIPT_CHUNK:]
        try:
            await self.on_receipts([item for _seq, item in batch if item is not None])
        except Exception:
            # Not stored, so not acknowledged: keep them for the next round (the SMSC would resend).
            logger.exception("storing %d receipts failed; trying again", len(batch))
            self.receipt_buffer = batch + self.receipt_buffer
            await asyncio.sleep(0.5)
            return
        for seq, _item in batch:
            with contextlib.suppress(SmppError, OSError, RuntimeError):
                self._write(Pdu(Command.DELIVER_SM_RESP, seq))

    # --- sending --------------------------------------------------------------

    async def _submit_part(self, params: dict, tlvs: dict) -> Pdu:
        backoff = 0.05
        for _ in range(8):
            wait = self.throttled_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            async with self.window:
                response = await self._request(Command.SUBMIT_SM, params, tlvs)
            if response.status != Status.RTHROTTLED:
                return response
            # ESME_RTHROTTLED: the whole bind slows down, doubling the pause each time.
            self.throttled_until = time.monotonic() + backoff
            self.health.state, self.health.detail = "degraded", "throttled by the SMSC"
            backoff = min(backoff * 2, 5.0)
        return response

    async def _send_one(self, item: Outgoing) -> Result:
        cfg = self.gateway.config
        try:
            text = item.content.get("text", "")
            segmented = self.segments.get(text)
            if segmented is None:
                segmented = self.segments[text] = gsm.segment(text)
                if len(self.segments) > 1000:
                    self.segments.clear()
        except gsm.EncodingError as exc:
            return Result(item.delivery_id, "failed", error=str(exc))
        source = cfg.get("source_addr", "Tocsin")
        base = {
            "source_addr_ton": 5 if not source.lstrip("+").isdigit() else 1,
            "source_addr_npi": 0 if not source.lstrip("+").isdigit() else 1,
            "source_addr": source,
            "dest_addr_ton": 1,
            "dest_addr_npi": 1,
            "destination_addr": item.recipient.lstrip("+"),
            "registered_delivery": 1,
            "data_coding": int(segmented.coding),
        }
        first_id = ""
        for seq, part in enumerate(segmented.parts, start=1):
            params = dict(base)
            if segmented.count > 1:
                params["esm_class"] = smpp.ESM_CLASS_UDHI
                params["short_message"] = gsm.udh(item.delivery_id, segmented.count, seq) + part
                # Receipts are asked for the first part only: it stands for the message.
                params["registered_delivery"] = 1 if seq == 1 else 0
            else:
                params["short_message"] = part
            try:
                response = await self._submit_part(params, {})
            except SmppNotSent as exc:
                return Result(item.delivery_id, "retry", error=f"{exc} (part {seq})", maybe_sent=seq > 1)
            except SmppError as exc:
                # Written, then no answer: the SMSC may have it. Flagged, so a resend is visible.
                return Result(item.delivery_id, "retry", error=f"{exc} (part {seq})", maybe_sent=True)
            if response.status != Status.ROK:
                state = "retry" if response.status in smpp.TEMPORARY else "failed"
                name = Status(response.status).name if response.status in Status._value2member_map_ else ""
                return Result(item.delivery_id, state, error=f"SMSC status 0x{response.status:02x} {name}".strip())
            if seq == 1:
                first_id = response.get("message_id", "")
        return Result(item.delivery_id, "submitted", message_id=first_id, units=segmented.count)

    async def send(self, batch: list[Outgoing]) -> list[Result]:
        if self.closed.is_set():
            raise SmppNotSent("not bound")
        return list(await asyncio.gather(*(self._send_one(item) for item in batch)))

    async def _drop(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError, RuntimeError):
            self.writer.close()

    async def close(self) -> None:
        if not self.closed.is_set():
            with contextlib.suppress(SmppError, OSError):
                await asyncio.wait_for(self._request(Command.UNBIND), 2)
        await self._drop()
        for task in (self.read_task, self.enquire_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, SmppError):
                    await task
        if self.flush_task is not None:
            await self.flush_task  # stores what was read before the end; it returns once closed
        await self._store_receipts()
