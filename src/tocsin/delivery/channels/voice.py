"""Voice calls to a SIP trunk: the alert spoken in the recipient's language, "press 1" to confirm.

One ``VoiceChannel`` per trunk per worker: one UDP socket for SIP (RFC 3261 over UDP, ``rport``), one UDP
socket per call for RTP, and one 20 ms media clock for the whole worker (``MediaClock``) that sends every
call's next frame in one pass — measured in ``docs/decisions/0005-voice-calls.md`` §4 to stay on time for
twice as many calls as one coroutine per call.

A call (``VoiceChannel.call``), as a table of states (``TRANSITIONS``):

    inviting → ringing → answered → listening → playing → waiting → ended
                       ↘ ended (busy, no answer, refused, failed)

- inviting: INVITE with an SDP offer (PCMA, PCMU, telephone-event); Timer A retransmits, Timer B gives up;
  a 401/407 is answered once with digest credentials (a second one is a wrong password).
- ringing: a provisional came; after ``ring_timeout_s`` a CANCEL (RFC 3261 §9.1), then 487 and its ACK.
- answered: 2xx → ACK; the callee's SDP gives the codec and where to send.
- listening (answering-machine detection, when on): a greeting that talks for more than
  ``machine_speech_s`` is a machine — the message is left once, after its beep (the first silence of
  ``machine_silence_s``); a short "Hallo?" then silence, or silence alone, is a person.
- playing: the message (with "press 1 …" at its end), ``repeat`` times with ``pause_s`` between. A 1 (RFC
  4733 event, or a SIP INFO ``application/dtmf-relay`` / ``application/dtmf``) stops it: "thank you",
  then BYE.
- waiting: after the last repetition, ``ack_wait_s`` for a 1; then BYE.

Each call ends in a ``Report`` (outcome, SIP status, times, seconds played) that the dispatcher writes as
one ``delivery_attempt`` row; the delivery's ``Result`` follows from it (``result_of``): answered calls are
delivered and billed per started 60 s of message played; busy, no answer and temporary failures are tried
again after ``retry_after_s[attempt - 1]`` seconds until the schedule runs out; numbers the network refuses
for good (404, 484, 604 …) are not tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import socket
import time
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tocsin.delivery.channels.base import Channel, Outgoing, register
from tocsin.delivery.outbox import Result
from tocsin.delivery.speech import SpeechError
from tocsin.protocols import rtp, sip

logger = logging.getLogger("tocsin.delivery.voice")
T1 = 0.5  # RFC 3261 §17: round-trip estimate
TIMER_B = 64 * T1
_PER_WORKER = os.environ.get("TOCSIN_VOICE_CALLS_PER_WORKER", "300")
DEFAULT_CALLS_PER_WORKER = int(_PER_WORKER) if _PER_WORKER.isdigit() and 0 < int(_PER_WORKER) <= 2000 else 300


# --- configuration -----------------------------------------------------------------------------------------


class ConfigError(ValueError):
    def __init__(self, key: str, problem: str):
        super().__init__(problem)
        self.key = key


@dataclass(frozen=True)
class VoiceConfig:
    server: tuple[str, int]  # the trunk: where calls (and REGISTER) go
    domain: str  # host part of the callee's URI
    outbound_proxy: tuple[str, int] | None = None  # every request is sent there, with a loose Route
    username: str = "tocsin"
    password: str = ""
    auth_username: str = ""
    caller_id: str = ""  # the number shown to the callee
    display_name: str = "BE-Alert"
    asserted_identity: bool = False  # RFC 3325 P-Asserted-Identity, for trunks that want it
    register: bool = False
    register_expires: int = 600
    number_format: str = "e164"  # e164 (+3247…) | national (047…) | 00 (00324…)
    local_address: str = ""  # bound and announced in SDP; empty: the address that routes to the server
    codecs: tuple[int, ...] = (rtp.PCMA, rtp.PCMU)
    ring_timeout_s: float = 30.0
    repeat: int = 2
    pause_s: float = 1.0
    ack_wait_s: float = 10.0
    retry_after_s: tuple[float, ...] = (120.0, 300.0, 900.0)
    machine_detection: bool = True
    machine_speech_s: float = 1.5  # a greeting longer than this without a pause is a machine
    machine_words: int = 3  # so are three separate words before any long silence
    machine_silence_s: float = 1.0
    listen_max_s: float = 5.0
    machine_wait_max_s: float = 30.0
    energy_threshold: float = 300.0  # RMS of a voiced frame (16-bit scale)
    calls_per_worker: int = DEFAULT_CALLS_PER_WORKER
    lease_s: float = 900.0


def _address(key: str, value: Any, default_port: int = 5060) -> tuple[str, int]:
    text = str(value or "").strip()
    if not text or any(c.isspace() for c in text):
        raise ConfigError(key, f"{key} is host or host:port")
    host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ConfigError(key, f"{key}: the port must be a number from 1 to 65535")
    return host, int(port) if port else default_port


def _number(config: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = config.get(key, default)
    if isinstance(value, str):  # from `tocsin gateway set --set key=value`
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(key, f"{key} must be a number from {low:g} to {high:g}")
    return float(value)


_TRUTH = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


def _flag(config: Mapping[str, Any], key: str, default: bool) -> bool:
    value = config.get(key, default)
    if isinstance(value, str) and value.strip().lower() in _TRUTH:
        return _TRUTH[value.strip().lower()]
    if not isinstance(value, bool):
        raise ConfigError(key, f"{key} is true or false")
    return value


def parse_config(config: Mapping[str, Any]) -> VoiceConfig:
    """The trunk's settings with their defaults; ``ConfigError`` names the first wrong key."""
    server = _address("server", config.get("server"))
    proxy = _address("outbound_proxy", config["outbound_proxy"]) if config.get("outbound_proxy") else None
    names = {"PCMA": rtp.PCMA, "PCMU": rtp.PCMU}
    codecs = config.get("codecs", ["PCMA", "PCMU"])
    if not isinstance(codecs, list) or not codecs or any(c not in names for c in codecs):
        raise ConfigError("codecs", "codecs is a list of PCMA and PCMU")
    retries = config.get("retry_after_s", [120, 300, 900])
    if (
        not isinstance(retries, list)
        or len(retries) > 5
        or any(isinstance(r, bool) or not isinstance(r, int | float) or not 0 <= r <= 86400 for r in retries)
    ):
        raise ConfigError("retry_after_s", "retry_after_s is a list of at most 5 waits in seconds (0 to 86400)")
    number_format = config.get("number_format", "e164")
    if number_format not in ("e164", "national", "00"):
        raise ConfigError("number_format", "number_format is e164, national or 00")
    caller_id = str(config.get("caller_id", ""))
    if caller_id and not (caller_id.lstrip("+").isdigit() and len(caller_id) <= 16):
        raise ConfigError("caller_id", "caller_id is a phone number (digits, + in front)")
    for key in ("username", "auth_username", "display_name", "domain", "local_address"):
        if any(c in str(config.get(key, "")) for c in '"<>\r\n@ ' if key != "display_name" or c in '"<>\r\n'):
            raise ConfigError(key, f"{key} holds a character SIP does not allow there")
    return VoiceConfig(
        server=server,
        domain=str(config.get("domain") or (server[0] if server[1] == 5060 else f"{server[0]}:{server[1]}")),
        outbound_proxy=proxy,
        username=str(config.get("username") or "tocsin"),
        password=str(config.get("password") or ""),
        auth_username=str(config.get("auth_username") or ""),
        caller_id=caller_id,
        display_name=str(config.get("display_name") or "BE-Alert"),
        asserted_identity=_flag(config, "asserted_identity", False),
        register=_flag(config, "register", False),
        register_expires=int(_number(config, "register_expires", 600, 60, 86400)),
        number_format=number_format,
        local_address=str(config.get("local_address") or ""),
        codecs=tuple(names[c] for c in codecs),
        ring_timeout_s=_number(config, "ring_timeout_s", 30, 1, 180),
        repeat=int(_number(config, "repeat", 2, 1, 3)),
        pause_s=_number(config, "pause_s", 1.0, 0, 10),
        ack_wait_s=_number(config, "ack_wait_s", 10, 0, 60),
        retry_after_s=tuple(float(r) for r in retries),
        machine_detection=_flag(config, "machine_detection", True),
        machine_wait_max_s=_number(config, "machine_wait_max_s", 30, 5, 120),
        machine_speech_s=_number(config, "machine_speech_s", 1.5, 0.5, 10),
        machine_words=int(_number(config, "machine_words", 3, 2, 10)),
        machine_silence_s=_number(config, "machine_silence_s", 1.0, 0.2, 5),
        listen_max_s=_number(config, "listen_max_s", 5.0, 0.5, 10),
        energy_threshold=_number(config, "energy_threshold", 300, 1, 32767),
        calls_per_worker=int(_number(config, "calls_per_worker", DEFAULT_CALLS_PER_WORKER, 1, 2000)),
        lease_s=_number(config, "lease_s", 900, 120, 7200),
    )


def dial_string(e164: str, number_format: str) -> str:
    """The user part of the callee's URI for an E.164 number (+32…)."""
    if number_format == "national" and e164.startswith("+32"):
        return "0" + e164[3:]
    if number_format == "00":
        return "00" + e164.lstrip("+")
    return e164


# --- the call's states and outcomes ------------------------------------------------------------------------


class CallState(StrEnum):
    INVITING = "inviting"
    RINGING = "ringing"
    ANSWERED = "answered"
    LISTENING = "listening"
    PLAYING = "playing"
    WAITING = "waiting"
    ENDED = "ended"


TRANSITIONS = {
    (CallState.INVITING, CallState.RINGING),
    (CallState.INVITING, CallState.ANSWERED),  # a 2xx without a provisional first
    (CallState.INVITING, CallState.ENDED),
    (CallState.RINGING, CallState.ANSWERED),
    (CallState.RINGING, CallState.ENDED),
    (CallState.ANSWERED, CallState.LISTENING),
    (CallState.ANSWERED, CallState.PLAYING),
    (CallState.ANSWERED, CallState.ENDED),
    (CallState.LISTENING, CallState.PLAYING),
    (CallState.LISTENING, CallState.ENDED),
    (CallState.PLAYING, CallState.WAITING),
    (CallState.PLAYING, CallState.ENDED),
    (CallState.WAITING, CallState.ENDED),
}


class Outcome(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    ANSWERED = "answered"
    ANSWERING_MACHINE = "answering_machine"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"  # refused for good: not tried again
    FAILED = "failed"  # a temporary failure: tried again


REACHED = frozenset({Outcome.ACKNOWLEDGED, Outcome.ANSWERED, Outcome.ANSWERING_MACHINE})
# Final responses that mean "this number will not work": not tried again (RFC 3261 §21).
# 403 (the trunk refusing us) and 488 (no codec in common) are the trunk's set-up, not the number: see _invite.
PERMANENT = frozenset({400, 404, 410, 413, 414, 416, 420, 484, 485, 604, 606})


def outcome_of_status(status: int) -> Outcome:
    if status in (486, 600):
        return Outcome.BUSY
    if status in (408, 480, 487):
        return Outcome.NO_ANSWER
    if status in PERMANENT:
        return Outcome.REJECTED
    return Outcome.FAILED


@dataclass
class Report:
    """How one call went: becomes a ``delivery_attempt`` row."""

    outcome: Outcome = Outcome.FAILED
    status: int | None = None
    detail: str = ""
    started_at: float = field(default_factory=time.time)  # epoch seconds
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    frames_played: int = 0  # message frames sent (silence not counted): what is billed
    digits: list[tuple[str, str]] = field(default_factory=list)  # (digit, "rfc4733" | "info")
    codec: str = ""
    auth_failed: bool = False  # the trunk refused us, or speech failed: the set-up is wrong, not the number

    @property
    def seconds_played(self) -> float:
        return self.frames_played * rtp.FRAME_S


def billed_units(seconds_played: float) -> int:
    """Per started 60 s of message (the tariff's voice unit); nothing for a call that was not answered."""
    return math.ceil(round(seconds_played, 3) / 60) if seconds_played > 0 else 0


def result_of(delivery_id: int, attempt: int, report: Report, retry_after_s: tuple[float, ...]) -> Result:
    """The delivery's state after this attempt."""
    if report.outcome in REACHED:
        return Result(delivery_id, "delivered", units=billed_units(report.seconds_played),
                      acknowledged=report.outcome is Outcome.ACKNOWLEDGED)  # fmt: skip
    error = f"{report.outcome.value}" + (f" ({report.status})" if report.status else "")
    error += f": {report.detail}" if report.detail else ""
    if report.auth_failed:  # the trunk or this worker is set up wrong: the try does not count, wait for a fix
        return Result(delivery_id, "retry", error=error, retry_in=60.0, uncounted=True)
    if report.outcome is Outcome.REJECTED or attempt > len(retry_after_s):
        return Result(delivery_id, "failed", error=error)
    return Result(delivery_id, "retry", error=error, retry_in=retry_after_s[attempt - 1])


# --- RTP: one clock per worker -------------------------------------------------------------------------------


class Stream(asyncio.DatagramProtocol):
    """One call's RTP: frames out on the worker's clock, events and energy in."""

    def __init__(self, call: Call):
        self.call = call
        self.transport: asyncio.DatagramTransport | None = None
        self.remote: tuple[str, int] | None = None
        self.payload_type = rtp.PCMA
        self.ssrc = random.getrandbits(32)
        self.sequence = random.getrandbits(16)
        self.timestamp = random.getrandbits(32)
        self.first = True
        self.playing = b""
        self.position = 0
        self.total = 0
        self.counted = True
        self.finished: asyncio.Future[None] | None = None
        self.silence = bytes([rtp.SILENCE["alaw"]]) * rtp.FRAME_SAMPLES
        self.seen_events: set[int] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def start(self, remote: tuple[str, int], payload_type: int) -> None:
        self.remote, self.payload_type = remote, payload_type
        self.silence = bytes([rtp.SILENCE[rtp.PAYLOAD_TYPES[payload_type]]]) * rtp.FRAME_SAMPLES

    def play(self, audio: bytes, *, pause_frames: int = 0, counted: bool = True) -> asyncio.Future[None]:
        """Send ``audio`` (G.711 of the stream's law) from the next tick on, 20 ms a frame, then ``pause_frames``
        of silence; the future is done when the last frame went out. The frames are cut as they go: a list of
        them per call would be millions of objects for the garbage collector to walk (1,000 calls)."""
        self.stop_playing()
        self.playing, self.position, self.counted = audio, 0, counted
        self.total = -(-len(audio) // rtp.FRAME_SAMPLES) + pause_frames
        self.finished = asyncio.get_running_loop().create_future()
        return self.finished

    def stop_playing(self) -> None:
        if self.finished is not None and not self.finished.done():
            self.finished.set_result(None)
        self.playing, self.position, self.total = b"", 0, 0

    def tick(self) -> None:
        """Called by the clock every 20 ms: the next frame, or silence (keeps the media path alive)."""
        if self.transport is None or self.remote is None:
            return
        if self.position < self.total:
            start = self.position * rtp.FRAME_SAMPLES
            payload = self.playing[start : start + rtp.FRAME_SAMPLES]
            if len(payload) < rtp.FRAME_SAMPLES:  # the last piece of the audio, or the pause after it
                payload += self.silence[len(payload) :]
            self.position += 1
            if self.counted:
                self.call.report.frames_played += 1
            if self.position == self.total and self.finished is not None and not self.finished.done():
                self.finished.set_result(None)
        else:
            payload = self.silence
        packet = rtp.pack_fields(self.payload_type, self.sequence, self.timestamp, self.ssrc, self.first, payload)
        self.first = False
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + rtp.FRAME_SAMPLES) & 0xFFFFFFFF
        self.transport.sendto(packet, self.remote)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        call = self.call
        # Most packets are the callee's audio, wanted only while listening for a machine: skip them unparsed.
        if len(data) < 12 or ((data[1] & 0x7F) != call.event_pt and not call.listening):
            return
        parsed = rtp.parse(data)
        if parsed is None:
            return
        header, payload = parsed
        if call.event_pt is not None and header.payload_type == call.event_pt:
            event = rtp.parse_event(payload)
            # RFC 4733 §2.5.1.4: the end packet is sent three times; one event per timestamp.
            if event is not None and event.end and header.timestamp not in self.seen_events:
                self.seen_events.add(header.timestamp)
                if event.digit:
                    call.digit(event.digit, "rfc4733")
        elif header.payload_type in rtp.PAYLOAD_TYPES and call.listening:
            call.heard(rtp.frame_energy(payload, rtp.PAYLOAD_TYPES[header.payload_type]))

    def close(self) -> None:
        self.stop_playing()
        if self.transport is not None:
            self.transport.close()


class MediaClock:
    """Every stream's next frame every 20 ms, in one pass (one clock per event loop)."""

    _clocks: dict[asyncio.AbstractEventLoop, MediaClock] = {}

    def __init__(self) -> None:
        self.streams: set[Stream] = set()
        self.task: asyncio.Task[None] | None = None
        self.max_late_s = 0.0
        self.late_ticks = 0  # ticks more than one frame (20 ms) late: an audible gap
        self.ticks = 0

    @classmethod
    def of_loop(cls) -> MediaClock:
        loop = asyncio.get_running_loop()
        clock = cls._clocks.get(loop)
        if clock is None:
            for old in [known for known in cls._clocks if known.is_closed()]:
                del cls._clocks[old]
            clock = cls._clocks[loop] = cls()
        return clock

    def add(self, stream: Stream) -> None:
        self.streams.add(stream)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, stream: Stream) -> None:
        self.streams.discard(stream)

    def reset_stats(self) -> None:
        self.max_late_s, self.late_ticks, self.ticks = 0.0, 0, 0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while self.streams:
            late = loop.time() - due
            self.ticks += 1
            self.max_late_s = max(self.max_late_s, late)
            if late > rtp.FRAME_S:
                self.late_ticks += 1
            for stream in list(self.streams):
                stream.tick()
            due += rtp.FRAME_S
            if loop.time() - due > 0.2:  # far behind (a stalled machine): start again rather than burst
                due = loop.time()
            await asyncio.sleep(max(0.0, due - loop.time()))


# --- SIP -----------------------------------------------------------------------------------------------------


@dataclass
class Call:
    target: str  # the callee's URI
    language: str
    call_id: str = field(default_factory=lambda: sip.new_token(12) + "@tocsin")
    local_tag: str = field(default_factory=lambda: sip.new_token(6))
    cseq: int = 1
    remote_tag: str | None = None
    remote_target: str | None = None
    route: list[str] = field(default_factory=list)
    event_pt: int | None = None
    state: CallState = CallState.INVITING
    report: Report = field(default_factory=Report)
    responses: asyncio.Queue[sip.Message] = field(default_factory=asyncio.Queue)
    acknowledged: asyncio.Event = field(default_factory=asyncio.Event)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)  # the callee sent BYE
    listening: bool = False
    # answering-machine detection, per received 20 ms frame
    energy_threshold_sq: float = 300.0**2
    voiced_run: int = 0
    longest_voiced: int = 0
    gap: int = 0
    silent_run: int = 0
    voiced_any: bool = False
    words: int = 0  # voiced runs of at least 100 ms that ended

    def move(self, target: CallState) -> None:
        if (self.state, target) not in TRANSITIONS:
            raise RuntimeError(f"call {self.call_id}: {self.state} → {target} is not a transition")
        self.state = target

    def digit(self, digit: str, how: str) -> None:
        self.report.digits.append((digit, how))
        if digit == "1":
            self.acknowledged.set()

    def heard(self, energy: float) -> None:
        if energy > self.energy_threshold_sq:
            self.voiced_any = True
            self.voiced_run += 1 + self.gap  # gaps of up to 300 ms inside a greeting are bridged
            self.gap = 0
            self.silent_run = 0
            self.longest_voiced = max(self.longest_voiced, self.voiced_run)
        else:
            self.silent_run += 1
            if self.voiced_run:
                self.gap += 1
                if self.gap > 15:
                    if self.voiced_run >= 5:
                        self.words += 1
                    self.voiced_run, self.gap = 0, 0

    @property
    def words_heard(self) -> int:
        return self.words + (1 if self.voiced_run >= 5 else 0)


class SipEndpoint(asyncio.DatagramProtocol):
    def __init__(self, channel: VoiceChannel):
        self.channel = channel

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.channel.received(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable and the like
        logger.debug("SIP socket: %s", exc)


@register
class VoiceChannel(Channel):
    kind = "sip"

    # The dispatcher gives it a SpeechStore before opening (rendering needs the database).
    speech: Any = None
    worker: str = ""

    async def open(self) -> None:
        self.config = parse_config(self.gateway.config)
        cfg = self.config
        self.next_hop = cfg.outbound_proxy or cfg.server
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(*self.next_hop, type=socket.SOCK_DGRAM)
        except OSError as exc:
            self.health.state, self.health.detail = "down", f"SIP {self.next_hop[0]}: {exc}"
            raise ConnectionError(self.health.detail) from exc
        self.next_hop_address: tuple[str, int] = (str(infos[0][4][0]), int(infos[0][4][1]))
        self.local_address = cfg.local_address or _route_address(self.next_hop_address[0])
        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: SipEndpoint(self), local_addr=(self.local_address, 0)
        )
        sock = self.transport.get_extra_info("socket")
        with contextlib.suppress(OSError):  # bursts of responses (decision record §3): a larger buffer
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.local_port = self.transport.get_extra_info("sockname")[1]
        self.calls: dict[str, Call] = {}
        self.clock = MediaClock.of_loop()
        self.registration: asyncio.Task[None] | None = None
        if cfg.register:
            await self._register()
            self.registration = asyncio.create_task(self._keep_registered())
        self.health.state = "ok"
        self.health.detail = f"SIP {self.next_hop[0]}:{self.next_hop[1]} from {self.local_address}:{self.local_port}"

    async def close(self) -> None:
        if getattr(self, "registration", None) is not None:
            assert self.registration is not None
            self.registration.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.registration
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(self._register(expires=0), 2)
        if getattr(self, "transport", None) is not None:
            self.transport.close()

    @property
    def batch_size(self) -> int:
        return self.config.calls_per_worker

    async def send(self, batch: list[Outgoing]) -> list[Result]:
        """Every call of the batch at once (the dispatcher's voice runner calls ``call`` one by one instead)."""
        reports = await asyncio.gather(*(self.call(item) for item in batch))
        schedule = self.config.retry_after_s
        return [result_of(i.delivery_id, i.attempt, r, schedule) for i, r in zip(batch, reports, strict=True)]

    # --- transport ---

    def received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        message = sip.parse(data)
        if message is None:
            return  # keep-alives (CRLF) and garbage
        call = self.calls.get(message.get("call-id") or "")
        if message.is_response:
            if call is not None:
                call.responses.put_nowait(message)
            elif message.method == "REGISTER" and self._register_responses is not None:
                self._register_responses.put_nowait(message)
            return
        if message.method == "ACK":
            return
        if call is None:
            self._send(sip.response(message, 481), addr)
            return
        if message.method == "BYE":
            self._send(sip.response(message, 200), addr)
            call.hung_up.set()
        elif message.method == "INFO":
            self._send(sip.response(message, 200), addr)
            digit = sip.dtmf_relay(message.get("content-type") or "", message.body)
            if digit:
                call.digit(digit, "info")
        elif message.method in ("OPTIONS", "NOTIFY", "UPDATE"):
            self._send(sip.response(message, 200), addr)
        elif message.method == "INVITE":  # a re-INVITE: we keep the media as it is
            self._send(sip.response(message, 488, "Not Acceptable Here"), addr)
        else:
            self._send(sip.response(message, 501), addr)

    def _send(self, data: bytes, addr: tuple[str | Any, int] | None = None) -> None:
        self.transport.sendto(data, addr or self.next_hop_address)

    def _headers(
        self, call: Call, method: str, branch: str, cseq: int, *, to: str | None = None
    ) -> list[tuple[str, str]]:
        cfg = self.config
        user = cfg.caller_id or cfg.username
        host = f"{self.local_address}:{self.local_port}"
        if to is None:
            to = f"<{call.target}>" + (f";tag={call.remote_tag}" if call.remote_tag else "")
        headers = [
            ("Via", f"SIP/2.0/UDP {host};branch={branch};rport"),
            ("Max-Forwards", "70"),
            ("From", f'"{cfg.display_name}" <sip:{user}@{cfg.domain}>;tag={call.local_tag}'),
            ("To", to),
            ("Call-ID", call.call_id),
            ("CSeq", f"{cseq} {method}"),
            ("Contact", f"<sip:{cfg.username}@{host}>"),
            ("User-Agent", "Tocsin"),
        ]
        if call.route:
            headers += [("Route", r) for r in call.route]
        elif cfg.outbound_proxy:  # a loose route through the proxy (RFC 3261 §8.1.2)
            headers.append(("Route", f"<sip:{cfg.outbound_proxy[0]}:{cfg.outbound_proxy[1]};lr>"))
        return headers

    def _in_dialog_destination(self, call: Call) -> tuple[str | Any, int]:
        """Where in-dialog requests go: the outbound proxy, else the first route, else the remote target."""
        if self.config.outbound_proxy:
            return self.next_hop_address
        uri = sip.uri_of(call.route[0]) if call.route else (call.remote_target or call.target)
        return sip.host_port(uri)

    # --- registration (RFC 3261 §10) ---

    _register_responses: asyncio.Queue[sip.Message] | None = None

    async def _register(self, expires: int | None = None) -> None:
        cfg = self.config
        expires = cfg.register_expires if expires is None else expires
        self._register_responses = asyncio.Queue()
        call = Call(target=f"sip:{cfg.username}@{cfg.domain}", language="")
        call.call_id = getattr(self, "_register_call_id", call.call_id)
        self._register_call_id = call.call_id
        self._register_cseq = getattr(self, "_register_cseq", 0)
        authorization: tuple[str, str] | None = None
        for _ in range(2):
            self._register_cseq += 1
            headers = self._headers(call, "REGISTER", sip.new_branch(), self._register_cseq,
                                    to=f"<sip:{cfg.username}@{cfg.domain}>")  # fmt: skip
            headers[2] = ("From", f"<sip:{cfg.username}@{cfg.domain}>;tag={call.local_tag}")
            headers.append(("Expires", str(expires)))
            if authorization:
                headers.append(authorization)
            request = sip.build(f"REGISTER sip:{cfg.domain} SIP/2.0", headers)
            final = await self._non_invite(request, self._register_responses)
            if final is None:
                self.health.state, self.health.detail = "down", f"REGISTER to {cfg.domain}: no answer"
                raise ConnectionError(self.health.detail)
            if final.status in (401, 407) and authorization is None:
                authorization = self._credentials(final, "REGISTER", f"sip:{cfg.domain}")
                continue
            if 200 <= final.status < 300:
                return
            self.health.state, self.health.detail = "down", f"REGISTER refused: {final.status} {final.reason}"
            raise ConnectionError(self.health.detail)
        self.health.state, self.health.detail = "down", "REGISTER: credentials refused"
        raise ConnectionError(self.health.detail)

    async def _keep_registered(self) -> None:
        while True:
            await asyncio.sleep(max(30.0, self.config.register_expires / 2))
            try:
                await self._register()
            except ConnectionError as exc:
                logger.warning("gateway %s: %s", self.gateway.name, exc)

    async def _non_invite(self, request: bytes, responses: asyncio.Queue[sip.Message]) -> sip.Message | None:
        """A non-INVITE client transaction (RFC 3261 §17.1.2): Timer E doubles up to T2, Timer F gives up."""
        loop = asyncio.get_running_loop()
        deadline, interval = loop.time() + TIMER_B, T1
        self._send(request)
        while loop.time() < deadline:
            try:
                message = await asyncio.wait_for(responses.get(), min(interval, deadline - loop.time()))
            except TimeoutError:
                self._send(request)
                interval = min(interval * 2, 4.0)
                continue
            if message.status >= 200:
                return message
            interval = 4.0  # after a provisional, only T2
        return None

    def _credentials(self, challenge: sip.Message, method: str, uri: str) -> tuple[str, str]:
        cfg = self.config
        if challenge.status == 401:
            name, value = "Authorization", challenge.get("www-authenticate") or ""
        else:
            name, value = "Proxy-Authorization", challenge.get("proxy-authenticate") or ""
        answer = sip.authorization(value, method=method, uri=uri, username=cfg.auth_username or cfg.username,
                                   password=cfg.password)  # fmt: skip
        return name, answer

    # --- one call ---

    async def call(self, item: Outgoing) -> Report:
        cfg = self.config
        target = f"sip:{dial_string(item.recipient, cfg.number_format)}@{cfg.domain}"
        call = Call(target=target, language=item.language)
        call.energy_threshold_sq = cfg.energy_threshold**2
        self.calls[call.call_id] = call
        stream: Stream | None = None
        loop = asyncio.get_running_loop()
        try:
            prompt = await self.speech(item)
            transport, stream = await loop.create_datagram_endpoint(
                lambda: Stream(call), local_addr=(self.local_address, 0)
            )
            port = transport.get_extra_info("sockname")[1]
            offer = sip.sdp_offer(self.local_address, port, session_id=random.getrandbits(31), codecs=cfg.codecs)
            final = await self._invite(call, offer)
            if final is None:
                return call.report
            answer = sip.sdp_answer(final.body, offered=cfg.codecs)
            call.report.answered_at = time.time()
            call.move(CallState.ANSWERED)
            if answer is None:
                call.report.detail = "the answer has no G.711 audio"
                await self._bye(call)
                return call.report
            call.event_pt = answer.event_pt
            call.report.codec = "PCMU" if answer.payload_type == rtp.PCMU else "PCMA"
            stream.start((answer.address, answer.port), answer.payload_type)
            self.clock.add(stream)
            await self._talk(call, stream, prompt, item.language, confirm=item.content.get("confirm") != "no")
            if not call.hung_up.is_set():
                await self._bye(call)
            return call.report
        except (sip.DigestError, SpeechError) as exc:
            call.report.outcome, call.report.detail = Outcome.FAILED, str(exc)[:200]
            call.report.auth_failed = True  # the set-up (digest the trunk asks for, speech), not the number
            return call.report
        except asyncio.CancelledError:
            if call.state in (CallState.ANSWERED, CallState.LISTENING, CallState.PLAYING, CallState.WAITING):
                with contextlib.suppress(OSError):
                    self._send(self._bye_request(call), self._in_dialog_destination(call))
            raise
        finally:
            call.report.ended_at = time.time()
            if call.state is not CallState.ENDED:
                call.state = CallState.ENDED
            if stream is not None:
                self.clock.remove(stream)
                stream.close()
            self.calls.pop(call.call_id, None)

    async def _invite(self, call: Call, offer: bytes) -> sip.Message | None:
        """INVITE until a final response: the 2xx (dialog set up, ACK sent), or None with the report filled."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        authorization: tuple[str, str] | None = None
        while True:  # a second pass only after a 401/407
            branch = sip.new_branch()
            headers = self._headers(call, "INVITE", branch, call.cseq, to=f"<{call.target}>")
            if cfg.asserted_identity and cfg.caller_id:
                headers.append(("P-Asserted-Identity", f"<sip:{cfg.caller_id}@{cfg.domain}>"))
            if authorization:
                headers.append(authorization)
            headers += [("Allow", "INVITE, ACK, CANCEL, BYE, INFO, OPTIONS"), ("Content-Type", "application/sdp")]
            invite = sip.build(f"INVITE {call.target} SIP/2.0", headers, offer)
            self._send(invite)
            sent, interval, provisional = loop.time(), T1, False
            ring_deadline = sent + cfg.ring_timeout_s
            final: sip.Message | None = None
            while final is None:
                now = loop.time()
                wait = min(interval if not provisional else 1.0, max(0.0, ring_deadline - now))
                try:
                    message = await asyncio.wait_for(call.responses.get(), wait)
                except TimeoutError:
                    now = loop.time()
                    if now >= ring_deadline and provisional:
                        await self._cancel(call, branch)
                        return None
                    if not provisional:
                        if now - sent >= min(TIMER_B, cfg.ring_timeout_s):  # Timer B
                            call.report.outcome, call.report.detail = Outcome.FAILED, "no response to INVITE"
                            call.move(CallState.ENDED)
                            return None
                        self._send(invite)  # Timer A
                        interval *= 2
                    continue
                if message.method != "INVITE" or message.cseq != call.cseq:
                    continue
                if message.status < 200:
                    if not provisional:
                        provisional = True
                        call.move(CallState.RINGING)
                    if message.status in (180, 183) and call.report.ringing_at is None:
                        call.report.ringing_at = time.time()
                    continue
                final = message
            if 200 <= final.status < 300:
                call.remote_tag = sip.tag_of(final.get("to") or "")
                call.remote_target = sip.uri_of(final.get("contact") or call.target)
                call.route = list(reversed(final.all("record-route")))  # RFC 3261 §12.1.2
                self._send(self._ack_2xx(call), self._in_dialog_destination(call))
                return final
            self._ack_non_2xx(call, branch, final)
            call.report.status = final.status
            if final.status in (401, 407) and authorization is None and cfg.password:
                authorization = self._credentials(final, "INVITE", call.target)
                call.cseq += 1
                continue
            # Refused credentials (or none where the trunk wants them) are the trunk's set-up. A 403 without a
            # challenge may be this destination barred (premium numbers): a failed try of this number only.
            if final.status in (401, 407) or (final.status == 403 and authorization is not None):
                call.report.outcome, call.report.detail = Outcome.FAILED, "the trunk refused our credentials"
                call.report.auth_failed = True
            else:
                call.report.outcome = outcome_of_status(final.status)
                call.report.detail = final.reason[:100]
            if call.state is not CallState.ENDED:
                call.move(CallState.ENDED)
            return None

    def _ack_2xx(self, call: Call) -> bytes:
        # RFC 3261 §13.2.2.4: a new transaction, the INVITE's CSeq number, to the remote target.
        headers = self._headers(call, "ACK", sip.new_branch(), call.cseq)
        return sip.build(f"ACK {call.remote_target} SIP/2.0", headers)

    def _ack_non_2xx(self, call: Call, branch: str, final: sip.Message) -> None:
        # RFC 3261 §17.1.1.3: the INVITE's branch and request URI, the response's To (with its tag).
        headers = self._headers(call, "ACK", branch, call.cseq, to=final.get("to") or f"<{call.target}>")
        self._send(sip.build(f"ACK {call.target} SIP/2.0", headers))

    async def _cancel(self, call: Call, branch: str) -> None:
        """No answer before the ring timeout: CANCEL (same branch), then ACK the 487."""
        call.report.outcome, call.report.detail = Outcome.NO_ANSWER, "ring timeout"
        headers = self._headers(call, "CANCEL", branch, call.cseq, to=f"<{call.target}>")
        cancel = sip.build(f"CANCEL {call.target} SIP/2.0", headers)
        self._send(cancel)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMER_B
        while loop.time() < deadline:
            try:
                message = await asyncio.wait_for(call.responses.get(), 1.0)
            except TimeoutError:
                self._send(cancel)
                continue
            if message.method == "INVITE" and message.status >= 200:
                if message.status < 300:  # answered just as we gave up: hang up at once
                    call.remote_tag = sip.tag_of(message.get("to") or "")
                    call.remote_target = sip.uri_of(message.get("contact") or call.target)
                    call.route = list(reversed(message.all("record-route")))
                    self._send(self._ack_2xx(call), self._in_dialog_destination(call))
                    call.state = CallState.ANSWERED
                    await self._bye(call)
                else:
                    self._ack_non_2xx(call, branch, message)
                    call.report.status = message.status
                break
        call.state = CallState.ENDED

    def _bye_request(self, call: Call) -> bytes:
        call.cseq += 1
        headers = self._headers(call, "BYE", sip.new_branch(), call.cseq)
        return sip.build(f"BYE {call.remote_target} SIP/2.0", headers)

    async def _bye(self, call: Call) -> None:
        request = self._bye_request(call)
        destination = self._in_dialog_destination(call)
        loop = asyncio.get_running_loop()
        deadline, interval = loop.time() + TIMER_B / 4, T1
        self.transport.sendto(request, destination)
        while loop.time() < deadline and not call.hung_up.is_set():
            try:
                message = await asyncio.wait_for(call.responses.get(), interval)
            except TimeoutError:
                self.transport.sendto(request, destination)
                interval = min(interval * 2, 4.0)
                continue
            if message.method == "BYE" and message.status >= 200:
                break
        if call.state is not CallState.ENDED:
            call.move(CallState.ENDED)

    async def _talk(self, call: Call, stream: Stream, prompt: Any, language: str, *, confirm: bool = True) -> None:
        """Listen for a machine, play the message, wait for the 1 (not after a one-time code: ``confirm``)."""
        cfg = self.config
        audio = prompt.audio(stream.payload_type)
        confirmed = call.acknowledged if confirm else asyncio.Event()  # a code call ignores keys
        machine = False
        call.report.outcome = Outcome.ANSWERED
        if cfg.machine_detection:
            call.move(CallState.LISTENING)
            machine = await self._listen(call)
            if call.hung_up.is_set():
                call.move(CallState.ENDED)
                return
        call.move(CallState.PLAYING)
        pause = round(cfg.pause_s / rtp.FRAME_S)
        repeats = 1 if machine else cfg.repeat
        for round_ in range(repeats):
            playing = stream.play(audio, pause_frames=pause if round_ < repeats - 1 else 0)
            await _first(playing, call.hung_up.wait(), confirmed.wait())
            if call.hung_up.is_set() or (confirmed.is_set() and not machine):
                break
        stream.stop_playing()
        if machine:
            call.report.outcome = Outcome.ANSWERING_MACHINE
            return
        if confirm and not confirmed.is_set() and not call.hung_up.is_set():
            call.move(CallState.WAITING)
            await _first(confirmed.wait(), call.hung_up.wait(), timeout=cfg.ack_wait_s)
        if confirmed.is_set():
            call.report.outcome = Outcome.ACKNOWLEDGED
            if not call.hung_up.is_set() and hasattr(self.speech, "thanks"):
                try:
                    thanks = await self.speech.thanks(language)
                except SpeechError as exc:  # the 1 is on record: a missing thank-you must not undo it
                    logger.warning("no thank-you in %s: %s", language, exc)
                    return
                await _first(stream.play(thanks.audio(stream.payload_type), counted=False), call.hung_up.wait(),
                             timeout=10)  # fmt: skip

    async def _listen(self, call: Call) -> bool:
        """Answering-machine detection on what the callee sends: True for a machine (and then wait for the
        end of its greeting), False for a person."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        start = loop.time()
        call.listening = True
        frames_per_s = 1 / rtp.FRAME_S
        try:
            while not call.hung_up.is_set():
                await asyncio.sleep(0.1)
                elapsed = loop.time() - start
                if call.longest_voiced >= cfg.machine_speech_s * frames_per_s or call.words_heard >= cfg.machine_words:
                    break  # a long greeting, or many words: a machine
                if call.voiced_any and call.silent_run >= 0.8 * frames_per_s and call.voiced_run == 0:
                    return False  # a short "Hallo?" then silence: a person waiting
                if not call.voiced_any and elapsed >= min(2.0, cfg.listen_max_s):
                    return False  # silence: a person who says nothing
                if elapsed >= cfg.listen_max_s:
                    return False
            else:
                return False
            # A machine: the message goes after its beep, at the first silence long enough.
            while not call.hung_up.is_set() and loop.time() - start < cfg.machine_wait_max_s:
                if call.silent_run >= cfg.machine_silence_s * frames_per_s:
                    break
                await asyncio.sleep(0.1)
            return True
        finally:
            call.listening = False


async def _first(*waits: Awaitable[Any], timeout: float | None = None) -> None:
    """Wait until the first of these is done (or the timeout), cancelling the others."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()


def _route_address(host: str) -> str:
    """The local address the kernel would use to reach ``host`` (announced in Via, Contact and SDP)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((host, 9))
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"
