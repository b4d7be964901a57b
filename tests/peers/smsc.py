"""A loopback SMSC speaking SMPP 3.4, for tests and benchmarks.

It binds transceivers, answers submit_sm with a message id, sends a delivery
receipt (deliver_sm) for each message that asked for one, answers
enquire_link, and can be told to throttle, fail numbers or drop connections.
Run alone: ``python -m tests.peers.smsc --port 2775`` (prints ``ready port=N``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tocsin.protocols import gsm, smpp
from tocsin.protocols.smpp import Command, Pdu, Status


@dataclass
class Behaviour:
    system_id: str = "tocsin"
    password: str = "secret"
    throttle_every: int = 0  # answer every Nth submit_sm with ESME_RTHROTTLED
    fail_suffix: str = "0000"  # destinations ending so: permanent error ESME_RX_P_APPN
    undeliverable_suffix: str = "9999"  # accepted, then a receipt UNDELIV
    drop_after: int = 0  # close the connection after this many submit_sm (once)
    receipts: bool = True
    receipt_delay_s: float = 0.0
    reply: str = ""  # when set, every handset answers with this text (a mobile-originated deliver_sm)


@dataclass
class Received:
    destination: str
    source: str
    data_coding: int
    short_message: bytes
    message_id: str


@dataclass
class Smsc:
    behaviour: Behaviour = field(default_factory=Behaviour)
    received: list[Received] = field(default_factory=list)
    binds: int = 0
    submits: int = 0
    port: int = 0
    # Called with the wall-clock time of the first submit_sm accepted (bench/alert.py's time to first SMS).
    first_submit: Callable[[float], None] | None = None

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._dropped = False
        # deliver_sm (receipts, replies) sent but not acknowledged when a session ended: sent again to
        # the next bind, as an SMSC's store-and-forward does (an ESME acknowledges only what it stored).
        self.unacknowledged: list[dict] = []
        self.redelivered = 0
        self._server: asyncio.base_events.Server | None = None

    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await asyncio.start_server(self._session, host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seq = itertools.count(1)
        bound = False
        lock = asyncio.Lock()
        outstanding: dict[int, dict] = {}

        async def send(pdu: Pdu) -> None:
            async with lock:
                writer.write(smpp.encode(pdu))

        async def deliver(params: dict) -> None:
            sequence = next(seq)
            outstanding[sequence] = params
            await send(Pdu(Command.DELIVER_SM, sequence, params=params))

        try:
            while True:
                head = await reader.readexactly(4)
                pdu = smpp.decode(head + await reader.readexactly(smpp.frame_length(head) - 4))
                b = self.behaviour
                if pdu.command is Command.BIND_TRANSCEIVER:
                    ok = pdu.get("system_id") == b.system_id and pdu.get("password") == b.password
                    bound = ok
                    self.binds += ok
                    status = Status.ROK if ok else Status.RINVPASWD
                    await send(Pdu(Command.BIND_TRANSCEIVER_RESP, pdu.sequence, status, {"system_id": "loopback"}))
                    if ok and self.unacknowledged:
                        waiting, self.unacknowledged = self.unacknowledged, []
                        self.redelivered += len(waiting)
                        for params in waiting:
                            await deliver(params)
                elif pdu.command is Command.ENQUIRE_LINK:
                    await send(Pdu(Command.ENQUIRE_LINK_RESP, pdu.sequence))
                elif pdu.command is Command.UNBIND:
                    await send(Pdu(Command.UNBIND_RESP, pdu.sequence))
                    break
                elif pdu.command is Command.SUBMIT_SM:
                    if not bound:
                        await send(Pdu(Command.SUBMIT_SM_RESP, pdu.sequence, Status.RINVBNDSTS))
                        continue
                    self.submits += 1
                    if b.drop_after and self.submits >= b.drop_after and not self._dropped:
                        self._dropped = True
                        break
                    if b.throttle_every and self.submits % b.throttle_every == 0:
                        await send(Pdu(Command.SUBMIT_SM_RESP, pdu.sequence, Status.RTHROTTLED))
                        continue
                    destination = pdu.get("destination_addr", "")
                    if b.fail_suffix and destination.endswith(b.fail_suffix):
                        await send(Pdu(Command.SUBMIT_SM_RESP, pdu.sequence, Status.RX_P_APPN))
                        continue
                    message_id = f"L{next(self._ids):010d}"
                    if not self.received and self.first_submit is not None:
                        self.first_submit(time.time())
                    self.received.append(
                        Received(destination, pdu.get("source_addr", ""), pdu.get("data_coding", 0),
                                 pdu.get("short_message", b""), message_id)
                    )  # fmt: skip
                    await send(Pdu(Command.SUBMIT_SM_RESP, pdu.sequence, params={"message_id": message_id}))
                    if b.receipts and pdu.get("registered_delivery", 0) & 1:
                        stat = (
                            "UNDELIV"
                            if b.undeliverable_suffix and destination.endswith(b.undeliverable_suffix)
                            else "DELIVRD"
                        )
                        receipt = {
                            "source_addr": destination,
                            "destination_addr": pdu.get("source_addr", ""),
                            "esm_class": smpp.ESM_CLASS_RECEIPT,
                            "short_message": smpp.receipt_text(message_id, stat),
                        }
                        if b.receipt_delay_s:
                            await asyncio.sleep(b.receipt_delay_s)
                        await deliver(receipt)
                    if b.reply:
                        mo = {"source_addr": destination, "destination_addr": pdu.get("source_addr", ""),
                              "short_message": gsm.encode(b.reply, gsm.Coding.GSM7)}  # fmt: skip
                        await deliver(mo)
                elif pdu.command is Command.DELIVER_SM_RESP:
                    outstanding.pop(pdu.sequence, None)
                elif pdu.command is Command.ENQUIRE_LINK_RESP:
                    pass
                else:
                    await send(Pdu(Command.GENERIC_NACK, pdu.sequence, Status.RINVCMDID))
        except (asyncio.IncompleteReadError, ConnectionError, smpp.PduError):
            pass
        finally:
            self.unacknowledged.extend(outstanding.values())
            writer.close()

    def texts(self) -> list[str]:
        """Received messages joined from their parts, decoded."""
        out: list[str] = []
        parts: dict[int, dict[int, bytes]] = {}
        totals: dict[int, int] = {}
        for r in self.received:
            if r.short_message and r.short_message[0] == 0x05 and len(r.short_message) > 6 and r.short_message[1] == 0:
                (ref, total, number), payload = gsm.parse_udh(r.short_message)
                key = hash((r.destination, ref))
                parts.setdefault(key, {})[number] = payload
                totals[key] = total
                if len(parts[key]) == total:
                    out.append(gsm.decode(b"".join(parts[key][i] for i in range(1, total + 1)), r.data_coding))
            else:
                out.append(gsm.decode(r.short_message, r.data_coding))
        return out


class SmscThread:
    """The SMSC on its own event loop in a thread, so the code under test shares nothing with it."""

    def __init__(self, behaviour: Behaviour | None = None):
        self.smsc = Smsc(behaviour or Behaviour())
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Smsc:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.smsc.serve(), self.loop).result(10)
        return self.smsc

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--throttle-every", type=int, default=0)
    args = parser.parse_args()

    async def run() -> None:
        smsc = Smsc(
            Behaviour(throttle_every=args.throttle_every),
            first_submit=lambda at: print(f"first_submit={at:.6f}", flush=True),
        )
        await smsc.serve(port=args.port)
        print(f"ready port={smsc.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
