"""Self-tests of the loopback phones (tests/peers/phones.py), driven by hand-built SIP over a UDP socket.

None of Tocsin's code takes part: when a voice test fails, these say whether the phone or the product is
at fault. Each phone runs on its own free ports, so they are quick (well under 10 s together).
"""

from __future__ import annotations

import re
import socket
import struct
import time
import wave
from pathlib import Path

import pytest

from tests.peers.phones import Baresip, Sipp, make_greeting, make_silence, press_after, require_programs, wav_seconds


class RawSip:
    """A UDP socket that sends requests as text and reads responses; just enough SIP to poke a phone."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def send(self, to: tuple[str, int], start: str, headers: list[tuple[str, str]], body: str = "") -> None:
        lines = [start, *(f"{name}: {value}" for name, value in headers), f"Content-Length: {len(body)}", "", body]
        self.sock.sendto("\r\n".join(lines).encode(), to)

    def response(self, timeout: float = 3.0) -> tuple[int, dict[str, str], str]:
        """The next response: status, headers (lower-case names, first of each), body."""
        self.sock.settimeout(timeout)
        while True:
            text = self.sock.recv(65535).decode()
            if text.startswith("SIP/2.0 "):
                break
        head, _, body = text.partition("\r\n\r\n")
        lines = head.split("\r\n")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        return int(lines[0].split()[1]), headers, body

    def final(self, timeout: float = 3.0) -> tuple[int, dict[str, str], str]:
        while True:
            status, headers, body = self.response(timeout)
            if status >= 200:
                return status, headers, body

    def dialog_headers(self, uri: str, branch: str, cseq: str, to_tag: str | None = None) -> list[tuple[str, str]]:
        return [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{branch};rport"),
            ("Max-Forwards", "70"),
            ("From", "<sip:selftest@127.0.0.1>;tag=selftest"),
            ("To", f"<{uri}>" + (f";tag={to_tag}" if to_tag else "")),
            ("Call-ID", f"selftest-{branch}@127.0.0.1"),
            ("CSeq", cseq),
            ("Contact", f"<sip:selftest@127.0.0.1:{self.port}>"),
        ]


def _tag(header: str) -> str:
    match = re.search(r";\s*tag=([^;>\s]+)", header)
    assert match, header
    return match[1]


def test_sipp_busy_answers_486_and_takes_a_retransmitted_invite(tmp_path: Path) -> None:
    require_programs("sipp")
    sip = RawSip()
    try:
        with Sipp("busy", tmp_path, calls=1) as sipp:
            invite = sip.dialog_headers(sipp.uri, "busy1", "1 INVITE")
            sip.send(sipp.address, f"INVITE {sipp.uri} SIP/2.0", invite)
            status, headers, _ = sip.final()
            assert status == 486
            # as if the 486 had been lost: the same INVITE again must not abort SIPp's call
            sip.send(sipp.address, f"INVITE {sipp.uri} SIP/2.0", invite)
            ack = sip.dialog_headers(sipp.uri, "busy1", "1 ACK", _tag(headers["to"]))  # same branch: RFC 3261 §17.1.1.3
            sip.send(sipp.address, f"ACK {sipp.uri} SIP/2.0", ack)
            assert sipp.wait(5) == 0, sipp.errors()
    finally:
        sip.close()
    assert sipp.errors().strip() == ""
    assert (sipp.successful(), sipp.failed(), sipp.max_concurrent()) == (1, 0, 1)


def test_baresip_starts_and_quits_cleanly(tmp_path: Path) -> None:
    require_programs("baresip")
    with Baresip(tmp_path, user="alice") as phone:
        assert phone.uri == f"sip:alice@127.0.0.1:{phone.sip_port}"
        assert phone.command("listcalls")["ok"] is True
        assert phone.calls_up() == 0
        assert phone.stop() == 0
    assert "ctrl_tcp: TCP socket listening" in phone.log() or "baresip is ready" in phone.log()
    assert phone.recordings() == []


def test_baresip_answers_records_and_presses_1(tmp_path: Path) -> None:
    """A whole call by hand: INVITE with SDP, ACK, half a second of PCMU, the phone presses 1 (RFC 4733) on its
    own thread, BYE; the phone recorded the half second."""
    require_programs("baresip")
    sip = RawSip()
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    rtp_port = rtp.getsockname()[1]
    sdp = (
        "v=0\r\no=selftest 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )
    try:
        with Baresip(tmp_path) as phone:
            presser = press_after(phone, 0.2, "1", timeout=5)
            headers = [*sip.dialog_headers(phone.uri, "call1", "1 INVITE"), ("Content-Type", "application/sdp")]
            sip.send(phone.address, f"INVITE {phone.uri} SIP/2.0", headers, sdp)
            status, answer, body = sip.final()
            assert status == 200, (status, phone.log())
            to_tag, contact = _tag(answer["to"]), re.sub(r"^.*<([^>]+)>.*$", r"\1", answer["contact"])
            sip.send(phone.address, f"ACK {contact} SIP/2.0", sip.dialog_headers(phone.uri, "call1", "1 ACK", to_tag))
            media = re.search(r"m=audio (\d+) ", body)
            assert media
            phone.wait_for_call(3)

            start = time.monotonic()
            for i in range(25):  # 0.5 s of a loud PCMU pattern, paced like a real sender
                marker_and_pcmu = 0x80 if i == 0 else 0x00  # marker bit on the first packet, payload type 0
                header = struct.pack("!BBHII", 0x80, marker_and_pcmu, i, 160 * i, 0x5E1F7E57)
                rtp.sendto(header + bytes([0x00, 0x80] * 80), ("127.0.0.1", int(media[1])))
                time.sleep(max(0.0, start + 0.02 * (i + 1) - time.monotonic()))
            presser.result(3)

            rtp.settimeout(2)
            events: set[int] = set()
            while not events:
                packet = rtp.recv(2048)
                if packet[1] & 0x7F == 101 and packet[13] & 0x80:  # telephone-event with the E bit
                    events.add(packet[12])
            assert events == {1}

            sip.send(phone.address, f"BYE {contact} SIP/2.0", sip.dialog_headers(phone.uri, "call1", "2 BYE", to_tag))
            assert sip.final()[0] == 200
            phone.wait_for_hangup(3)
            assert phone.stop() == 0
    finally:
        sip.close()
        rtp.close()
    [heard] = phone.heard_seconds()
    assert heard == pytest.approx(0.5, abs=0.08)  # the jitter buffer may hold back a frame or two


def test_make_greeting_is_8khz_speech_then_beep_then_silence(tmp_path: Path) -> None:
    require_programs("espeak-ng", "sox")
    greeting = make_greeting(tmp_path / "greeting.wav", text="Hallo, spreek na de toon.", language="nl")
    with wave.open(str(greeting)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        samples = struct.unpack(f"<{w.getnframes()}h", w.readframes(w.getnframes()))
    seconds = len(samples) / 8000
    assert 1.0 + 2.5 < seconds < 6 + 2.5  # a short sentence, the 0.5 s beep and 2 s of silence
    assert not any(samples[-2 * 8000 :])
    beep = samples[-int(2.5 * 8000) : -2 * 8000]
    assert min(beep[100:-100]) < -8000 < 8000 < max(beep[100:-100])
    assert any(abs(s) > 1000 for s in samples[: -int(2.5 * 8000)])  # speech before the beep
    assert wav_seconds(make_silence(tmp_path / "quiet.wav", 1.25)) == 1.25
