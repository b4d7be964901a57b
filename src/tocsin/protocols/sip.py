"""SIP (RFC 3261) messages, digest authentication (RFC 2617 / RFC 7616) and SDP offer/answer (RFC 4566 /
RFC 3264) for a caller that plays an announcement. Pure: no Django, no I/O.

- ``parse(data)`` turns a datagram into a ``Message`` or None (never raises, whatever the bytes: fuzzed);
  header names are lower-cased, compact forms expanded (``i`` → ``call-id`` …), folded lines joined.
- ``build(start, headers, body)`` writes one, with its Content-Length.
- ``authorization(challenge, …)`` answers a ``WWW-Authenticate`` / ``Proxy-Authenticate`` Digest
  challenge (MD5, MD5-sess, SHA-256; qop auth or none). ``DigestError`` names what is not supported.
- ``sdp_offer`` offers PCMA, PCMU and telephone-event; ``sdp_answer`` reads the callee's choice.
- ``dtmf_relay(body)`` reads the digit of a SIP INFO ``application/dtmf-relay`` body (``Signal=1``) — a
  de-facto format that no RFC defines; ``application/dtmf`` (a bare digit) too.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

MAX_DATAGRAM = 65535
COMPACT = {
    "i": "call-id", "f": "from", "t": "to", "v": "via", "m": "contact", "l": "content-length",
    "c": "content-type", "k": "supported", "e": "content-encoding", "s": "subject",
}  # fmt: skip
REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 400: "Bad Request", 481: "Call/Transaction Does Not Exist",
           501: "Not Implemented"}  # fmt: skip


@dataclass
class Message:
    start: str  # the request line or the status line
    headers: list[tuple[str, str]]  # lower-case names, in order
    body: bytes = b""

    @property
    def is_response(self) -> bool:
        return self.start.startswith("SIP/2.0 ")

    @property
    def status(self) -> int:
        """The status code of a response; 0 for a request."""
        parts = self.start.split(" ", 2)
        return int(parts[1]) if self.is_response else 0

    @property
    def reason(self) -> str:
        parts = self.start.split(" ", 2)
        return parts[2] if self.is_response and len(parts) > 2 else ""

    @property
    def method(self) -> str:
        """The method of a request, or of the request a response answers (from CSeq)."""
        if self.is_response:
            return (self.get("cseq") or " ").split()[-1].upper()
        return self.start.split(" ", 1)[0].upper()

    @property
    def cseq(self) -> int:
        head = (self.get("cseq") or "").split()
        return int(head[0]) if head and head[0].isdigit() else -1

    def get(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


_STATUS = re.compile(r"^SIP/2\.0 [1-6]\d\d(?: .*)?$")
_REQUEST = re.compile(r"^[A-Za-z]+ \S+ SIP/2\.0$")


def parse(data: bytes) -> Message | None:
    """A SIP message, or None when the datagram is not one (keep-alives, garbage, a bad Content-Length)."""
    if len(data) > MAX_DATAGRAM:
        return None
    head, separator, rest = data.partition(b"\r\n\r\n")
    if not separator:
        head, separator, rest = data.partition(b"\n\n")  # RFC 3261 §7.5: be liberal with bare LF
        if not separator:
            return None
    lines = head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")
    start = lines[0].strip()
    if not (_STATUS.match(start) or _REQUEST.match(start)):
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not headers:
                return None
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        name = name.strip().lower()
        if not colon or not name:
            return None
        headers.append((COMPACT.get(name, name), value.strip()))
    message = Message(start, headers)
    length = message.get("content-length")
    if length is None:
        message.body = rest  # allowed over UDP (RFC 3261 §20.14): the body runs to the datagram's end
    elif length.isdigit() and int(length) <= len(rest):
        message.body = rest[: int(length)]
    else:
        return None
    return message


def build(start: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    lines = [start, *(f"{name}: {value}" for name, value in headers), f"Content-Length: {len(body)}", "", ""]
    return "\r\n".join(lines).encode() + body


def response(request: Message, status: int, reason: str | None = None, *, to_tag: str = "") -> bytes:
    """A response to ``request`` (RFC 3261 §8.2.6.2): its Via, From, To (tagged when ``to_tag``), Call-ID,
    CSeq."""
    headers = [("Via", via) for via in request.all("via")]
    to = request.get("to") or ""
    if to_tag and tag_of(to) is None:
        to = f"{to};tag={to_tag}"
    headers += [("From", request.get("from") or ""), ("To", to), ("Call-ID", request.get("call-id") or ""),
                ("CSeq", request.get("cseq") or "")]  # fmt: skip
    return build(f"SIP/2.0 {status} {reason or REASONS.get(status, 'OK')}", headers)


def new_token(nbytes: int = 8) -> str:
    return secrets.token_hex(nbytes)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(8)  # RFC 3261 §8.1.1.7: the magic cookie


_TAG = re.compile(r";\s*tag=([^;>\s,]+)", re.I)


def tag_of(value: str) -> str | None:
    found = _TAG.search(value.split(">", 1)[1] if ">" in value else value)
    return found.group(1) if found else None


def uri_of(value: str) -> str:
    """The URI of a name-addr (``"x" <sip:a@b>;tag=…``) or of an addr-spec."""
    found = re.search(r"<([^>]*)>", value)
    return found.group(1).strip() if found else value.split(";", 1)[0].strip()


def host_port(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """Host and port of a sip: URI (``sip:user@host:port;params``); IPv6 in brackets."""
    rest = uri.split(":", 1)[1] if ":" in uri else uri
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    host = rest.rsplit("@", 1)[-1]
    if host.startswith("["):
        address, _, tail = host[1:].partition("]")
        return address, int(tail[1:]) if tail.startswith(":") and tail[1:].isdigit() else default_port
    name, _, port = host.partition(":")
    return name, int(port) if port.isdigit() else default_port


# --- digest -------------------------------------------------------------------------------------------------


class DigestError(ValueError):
    pass


_PARAM = re.compile(r'([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_HASHES = {"MD5": hashlib.md5, "MD5-SESS": hashlib.md5, "SHA-256": hashlib.sha256, "SHA-256-SESS": hashlib.sha256}


def challenge_params(challenge: str) -> dict[str, str]:
    scheme, _, rest = challenge.strip().partition(" ")
    if scheme.lower() != "digest":
        raise DigestError(f"authentication scheme {scheme or '(none)'} is not supported (Digest only)")
    return {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}


def authorization(
    challenge: str, *, method: str, uri: str, username: str, password: str, nc: int = 1, cnonce: str | None = None
) -> str:
    """The Authorization / Proxy-Authorization value answering a Digest challenge."""
    params = challenge_params(challenge)
    realm, nonce = params.get("realm"), params.get("nonce")
    if realm is None or not nonce:
        raise DigestError("the challenge has no realm or nonce")
    algorithm = (params.get("algorithm") or "MD5").upper()
    if algorithm not in _HASHES:
        raise DigestError(f"digest algorithm {algorithm} is not supported")
    hasher = _HASHES[algorithm]

    def h(text: str) -> str:
        return hasher(text.encode()).hexdigest()

    qops = [q.strip().lower() for q in (params.get("qop") or "").split(",") if q.strip()]
    if qops and "auth" not in qops:
        raise DigestError(f"qop {','.join(qops)} is not supported (auth only)")
    cnonce = cnonce or new_token(8)
    ha1 = h(f"{username}:{realm}:{password}")
    if algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
             f"algorithm={algorithm}"]  # fmt: skip
    if qops:
        digest = h(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc:08x}", f'cnonce="{cnonce}"']
    else:
        digest = h(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{digest}"')
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(parts)


# --- SDP ----------------------------------------------------------------------------------------------------

TELEPHONE_EVENT_PT = 101


def sdp_offer(address: str, port: int, *, session_id: int, codecs: tuple[int, ...] = (8, 0)) -> bytes:
    """An audio offer: G.711 in our order of preference, telephone-event, 20 ms packets."""
    family = "IP6" if ":" in address else "IP4"
    names = {0: "PCMU", 8: "PCMA"}
    lines = [
        "v=0",
        f"o=tocsin {session_id} {session_id} IN {family} {address}",
        "s=Tocsin",
        f"c=IN {family} {address}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(map(str, codecs))} {TELEPHONE_EVENT_PT}",
        *(f"a=rtpmap:{pt} {names[pt]}/8000" for pt in codecs),
        f"a=rtpmap:{TELEPHONE_EVENT_PT} telephone-event/8000",
        f"a=fmtp:{TELEPHONE_EVENT_PT} 0-16",
        "a=ptime:20",
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass(frozen=True)
class Answer:
    address: str
    port: int
    payload_type: int  # 0 or 8
    event_pt: int | None  # the callee's telephone-event payload type, when it has one


def sdp_answer(body: bytes, *, offered: tuple[int, ...] = (8, 0)) -> Answer | None:
    """The callee's audio address and codec; None when the answer has no usable audio stream."""
    text = body.decode("utf-8", "replace").replace("\r\n", "\n")
    session_address = None
    audio: Answer | None = None
    media: str | None = None
    port = 0
    payloads: list[int] = []
    address: str | None = None
    event_pt: int | None = None
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("m="):
            if media == "audio" and audio is None:
                audio = _pick(address or session_address, port, payloads, event_pt, offered)
            fields = line[2:].split()
            media = fields[0] if fields else ""
            port = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
            payloads = [int(p) for p in fields[3:] if p.isdigit()]
            address, event_pt = None, None
        elif line.startswith("c="):
            fields = line[2:].split()
            value = fields[2].split("/", 1)[0] if len(fields) >= 3 else None
            if media is None:
                session_address = value
            else:
                address = value
        elif line.startswith("a=rtpmap:") and media == "audio":
            head, _, rest = line[len("a=rtpmap:") :].partition(" ")
            if head.isdigit() and rest.lower().startswith("telephone-event/"):
                event_pt = int(head)
    if media == "audio" and audio is None:
        audio = _pick(address or session_address, port, payloads, event_pt, offered)
    return audio


def _pick(address: str | None, port: int, payloads: list[int], event_pt: int | None, offered: tuple[int, ...]):
    if not address or not 0 < port < 65536:
        return None  # port 0: the stream was refused (RFC 3264 §6)
    chosen = next((pt for pt in payloads if pt in offered), None)
    return None if chosen is None else Answer(address, port, chosen, event_pt)


# --- DTMF in SIP INFO --------------------------------------------------------------------------------------

_SIGNAL = re.compile(rb"^\s*signal\s*=\s*([0-9*#A-Da-d])", re.I | re.M)


def dtmf_relay(content_type: str, body: bytes) -> str | None:
    """The digit of an INFO body: ``application/dtmf-relay`` (``Signal=1``) or ``application/dtmf`` (``1``)."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/dtmf-relay":
        found = _SIGNAL.search(body)
        return found.group(1).decode().upper() if found else None
    if kind == "application/dtmf":
        digit = body.strip().decode("ascii", "replace")
        if digit.isdigit() and int(digit) < 16:
            return "0123456789*#ABCD"[int(digit)]
        return digit.upper() if len(digit) == 1 and digit in "0123456789*#ABCDabcd" else None
    return None
