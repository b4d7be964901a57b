"""SIA DC-09 (ANSI/SIA DC-09-2013/2017) framing, encryption and content. Pure: no Django, no I/O.

A frame on the wire is ``LF`` + CRC (4 hex) + length (``0`` + 3 hex) + message + ``CR``. The
message runs from the first ``"`` up to the CR; the CRC (CRC-16/ARC) and the length cover exactly
those bytes. A message is::

    "ID"SSSS[Rrrrrrr]Lpppppp[#aaaa][data][Xext]..._HH:MM:SS,MM-DD-YYYY

An encrypted message (``"*ID"``) carries, after the account, ``[`` + hex of the AES-CBC ciphertext
(zero IV) of ``pad|data]`` + extended blocks + timestamp; the ``]`` is inside the ciphertext.

``FrameReader`` turns a byte stream into ``Frame`` / ``FrameError`` items; ``parse_message`` turns a
frame into a ``Message``; ``ack`` / ``nak`` / ``duh`` / ``rsp`` write the replies; ``build_frame``
writes any message (tests, benchmarks, simulated panels). Errors are values (``FrameError`` with a
machine ``reason``), never exceptions, whatever bytes come in (invariant 7: fuzzed with hypothesis).

Tables: ``SIA_CODES`` (SIA DC-04 event codes) and ``CONTACT_ID_CODES`` (SIA DC-05 / Ademco Contact
ID) are the complete tables of ``tocsin.protocols.sia_codes`` (description, kind, what the number is);
an unknown code still parses, its ``description`` is ``None``.
``MESSAGE_IDS`` (the DC-09 ID tokens) and ``CONTACT_ID_QUALIFIERS`` are complete.
"""

from __future__ import annotations

import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tocsin.protocols.sia_codes import CONTACT_ID_CODES, SIA_CODES

LF = 0x0A
CR = 0x0D
DEFAULT_MAX_FRAME = 1024  # bytes, LF to CR inclusive; the length field alone would allow 4,105
HEADER_LEN = 9  # LF + 4 CRC + 4 length
MAX_MESSAGE_LEN = 0xFFF

MESSAGE_IDS = frozenset({"SIA-DCS", "ADM-CID", "NULL", "ACK", "NAK", "DUH", "RSP"})
TIMESTAMP_FORMAT = "_%H:%M:%S,%m-%d-%Y"

# Machine reason codes carried by FrameError.
CRC = "crc"  # checksum mismatch: the standard says to send no reply at all
LENGTH = "length"  # length field disagrees with the LF…CR delimiters
FORMAT = "format"  # header, brackets or fields malformed
TOO_LONG = "too_long"  # length field exceeds the reader's maximum frame size
DECRYPT = "decrypt"  # ciphertext does not decrypt to a well-formed plaintext with this key
NO_KEY = "no_key"  # encrypted message and no key for its account
TIMESTAMP = "timestamp"  # malformed timestamp, or missing on an encrypted message
CONTENT = "content"  # SIA-DCS / ADM-CID data block malformed


@dataclass(frozen=True, slots=True)
class FrameError:
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Frame:
    """One delimited frame whose length and CRC check out; ``message`` runs from ``"`` to before CR."""

    crc: int
    message: bytes


@dataclass(frozen=True, slots=True)
class Message:
    id: str  # without the ``*``
    encrypted: bool
    sequence: str  # four digits, echoed as received
    receiver: str | None
    prefix: str
    account: str | None
    data: str
    extended: tuple[tuple[str, str], ...] = ()
    timestamp: datetime | None = None

    @property
    def supported(self) -> bool:
        return self.id in MESSAGE_IDS


# --------------------------------------------------------------------------------------------- CRC

_CRC_TABLE: tuple[int, ...]


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def _make_crc_table16() -> tuple[int, ...]:
    """The register after two bytes: for a 16-bit reflected CRC it depends only on (crc ^ the two
    bytes read little-endian), so one lookup does the work of two."""
    t = _CRC_TABLE
    return tuple((t[x & 0xFF] >> 8) ^ t[((x >> 8) ^ t[x & 0xFF]) & 0xFF] for x in range(0x10000))


_CRC_TABLE16 = _make_crc_table16()


def crc16(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0, no final xor), table-driven two bytes a step."""
    crc = 0
    table = _CRC_TABLE16
    even = len(data) & ~1
    for word in memoryview(data[:even]).cast("B").cast("H") if _LITTLE else _words(data[:even]):
        crc = table[crc ^ word]
    if even != len(data):
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ data[-1]) & 0xFF]
    return crc


_LITTLE = sys.byteorder == "little"


def _words(data: bytes) -> Iterable[int]:
    return (data[i] | data[i + 1] << 8 for i in range(0, len(data), 2))


# ----------------------------------------------------------------------------------------- framing

_HEX = frozenset(b"0123456789ABCDEFabcdef")


def _header_prefix_ok(head: bytes) -> bool:
    """Whether these bytes (after the LF, up to 8 of them) can begin a valid CRC + length header."""
    for i, byte in enumerate(head):
        if i == 4:
            if byte != ord("0"):
                return False
        elif byte not in _HEX:
            return False
    return True


def frame(message: bytes) -> bytes:
    """Wrap a message (from ``"`` onwards) into LF + CRC + length + message + CR."""
    if len(message) > MAX_MESSAGE_LEN:
        raise ValueError(f"a DC-09 message is at most {MAX_MESSAGE_LEN} bytes, not {len(message)}")
    return b"\n%04X0%03X%s\r" % (crc16(message), len(message), message)


class FrameReader:
    """Cut a byte stream (TCP reads of any size) into frames.

    A frame must agree with both its LF…CR delimiters and its length field; on any disagreement
    the reader reports a ``FrameError`` and resynchronises on the next LF. Bytes outside frames
    are dropped and counted in ``discarded``. The buffer never holds more than ``max_frame``
    bytes between calls, whatever a peer sends.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        if max_frame < HEADER_LEN + 2:
            raise ValueError("max_frame too small for any DC-09 frame")
        self.max_frame = max_frame
        self.discarded = 0
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        buf = self._buf
        buf += data
        out: list[Frame | FrameError] = []
        pos, n = 0, len(buf)
        while pos < n:
            start = buf.find(b"\n", pos)
            if start < 0:
                self.discarded += n - pos
                pos = n
                break
            self.discarded += start - pos
            pos = start
            head = bytes(buf[pos + 1 : min(pos + HEADER_LEN, n)])
            if not _header_prefix_ok(head):
                out.append(FrameError(FORMAT, f"bad header {head!r}"))
                pos += 1
                continue
            if len(head) < HEADER_LEN - 1:
                break  # header incomplete: wait for more
            crc_given, length = int(head[:4], 16), int(head[5:], 16)
            total = HEADER_LEN + length + 1
            if total > self.max_frame:
                out.append(FrameError(TOO_LONG, f"length {length} exceeds the maximum frame of {self.max_frame}"))
                pos += 1
                continue
            end = pos + total - 1  # where the CR must be
            body_start = pos + HEADER_LEN
            early = _first_delimiter(buf, body_start, min(end, n))
            if early >= 0:
                out.append(FrameError(LENGTH, f"delimiter at {early - body_start}, length field says {length}"))
                pos = early + 1 if buf[early] == CR else early
                continue
            if end >= n:
                break  # frame incomplete: wait for more
            if buf[end] != CR:
                out.append(FrameError(LENGTH, f"no CR after the {length} bytes the length field announces"))
                pos += 1
                continue
            message = bytes(buf[body_start:end])
            pos = end + 1
            if not message.startswith(b'"'):
                out.append(FrameError(FORMAT, 'message does not start with "'))
            elif crc16(message) != crc_given:
                out.append(FrameError(CRC, f"CRC {crc_given:04X} given, {crc16(message):04X} computed"))
            else:
                out.append(Frame(crc_given, message))
        del buf[:pos]
        return out


def _first_delimiter(buf: bytearray, start: int, stop: int) -> int:
    found = [i for i in (buf.find(b"\r", start, stop), buf.find(b"\n", start, stop)) if i >= 0]
    return min(found) if found else -1


def parse_datagram(data: bytes, *, max_frame: int = DEFAULT_MAX_FRAME) -> Frame | FrameError:
    """One UDP datagram holds one frame."""
    results = FrameReader(max_frame).feed(data)
    if not results:
        return FrameError(FORMAT, "no complete frame in datagram")
    return results[0]


# ------------------------------------------------------------------------------------------ crypto


class KeyFormatError(ValueError):
    pass


def parse_key(text: str, *, hex: bool | None = None) -> bytes:
    """An AES key given as 32/48/64 hex digits or as the 16/24/32-character ASCII string itself.

    With ``hex=None`` a 32-character all-hex text is read as hex (AES-128): panels that take a
    32-character ASCII key (AES-256) made of hex digits only must be configured with ``hex=False``.
    """
    text = text.strip()
    is_hex = bool(re.fullmatch(r"[0-9A-Fa-f]*", text))
    if hex is None:
        hex = is_hex and len(text) in (32, 48, 64)
    if hex:
        if not is_hex or len(text) not in (32, 48, 64):
            raise KeyFormatError(f"a hex AES key has 32, 48 or 64 hex digits, not {len(text)} characters")
        return bytes.fromhex(text)
    if not text.isascii() or len(text) not in (16, 24, 32):
        raise KeyFormatError(
            f"an AES key is 16, 24 or 32 ASCII characters or 32, 48 or 64 hex digits, not {len(text)} characters"
        )
    return text.encode("ascii")


_HEX_TEXT = re.compile(r"[0-9A-Fa-f]+")
_PAD_ALPHABET = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# Each random byte mapped onto the alphabet (one system call for the whole pad, not one a character).
_PAD_TABLE = bytes(_PAD_ALPHABET[i % len(_PAD_ALPHABET)] for i in range(256))


def random_pad(n: int) -> bytes:
    """Default padding: random printable characters, never ``|``, ``[`` nor ``]``."""
    return secrets.token_bytes(n).translate(_PAD_TABLE)


class _Blocks(threading.local):
    """Per thread, per key: one ECB encryptor and decryptor, reused for every message. CBC with the
    zero IV is done on top of them (a block chained by XOR), which saves making a cipher context for
    each message (most of the cost of a short one)."""

    def __init__(self) -> None:
        self.contexts: dict[bytes, tuple[Any, Any]] = {}

    def get(self, key: bytes) -> tuple[Any, Any]:
        pair = self.contexts.get(key)
        if pair is None:
            if len(self.contexts) >= 4096:
                self.contexts.clear()
            cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305 — the blocks of CBC, chained below
            pair = self.contexts[key] = (cipher.encryptor(), cipher.decryptor())
        return pair


_BLOCKS = _Blocks()


def _cbc_encrypt(key: bytes, plain: bytes) -> bytes:
    """AES-CBC with the zero IV over whole blocks."""
    ecb = _BLOCKS.get(key)[0]
    out = []
    prev = 0
    for i in range(0, len(plain), 16):
        block = ecb.update((int.from_bytes(plain[i : i + 16]) ^ prev).to_bytes(16))
        prev = int.from_bytes(block)
        out.append(block)
    return b"".join(out)


def _cbc_decrypt(key: bytes, ciphertext: bytes) -> bytes:
    """AES-CBC with the zero IV: every block decrypted at once, then XORed with the block before it."""
    raw = _BLOCKS.get(key)[1].update(ciphertext)
    chained = int.from_bytes(raw) ^ int.from_bytes(ciphertext[:-16])  # IV (zero) + every block but the last
    return chained.to_bytes(len(ciphertext))


def encrypt(plain: str, key: bytes, pad: Callable[[int], bytes] | None = None) -> str:
    """Upper-case hex of AES-CBC(pad + ``|`` + plain); the pad has 1 to 16 bytes."""
    body = b"|" + plain.encode("latin-1")
    n = 16 - len(body) % 16 or 16
    padding = (pad or random_pad)(n)
    if len(padding) != n or b"|" in padding:
        raise ValueError("pad must return exactly the requested number of bytes, none of them '|'")
    if len(key) not in (16, 24, 32):
        raise ValueError("an AES key is 128, 192 or 256 bits")
    return _cbc_encrypt(key, padding + body).hex().upper()


def decrypt(ciphertext_hex: str, key: bytes) -> str | FrameError:
    """The plaintext after the padding (``data]ext…timestamp``), or a FrameError."""
    if len(ciphertext_hex) % 32 or not ciphertext_hex or not _HEX_TEXT.fullmatch(ciphertext_hex):
        return FrameError(FORMAT, "encrypted block is not whole AES blocks in hex")
    if len(key) not in (16, 24, 32):
        return FrameError(NO_KEY, "key is not 128, 192 or 256 bits")
    plain = _cbc_decrypt(key, bytes.fromhex(ciphertext_hex)).decode("latin-1")
    bar = plain.find("|")  # the padding never holds a '|', so the first one ends it
    if bar >= 0:
        return plain[bar + 1 :]
    # Some panels send NULL with padding and no '|' (pysiaalarm's *NULL capture): empty data.
    close = plain.find("]")
    if close < 0:
        return FrameError(DECRYPT, "neither | nor ] in the plaintext")
    return plain[close:]


# ---------------------------------------------------------------------------------------- messages

_HEADER = re.compile(
    r'"(\*?)([A-Z0-9-]{1,16})"(\d{4})(?:R([0-9A-Fa-f]{1,6}))?L([0-9A-Fa-f]{1,6})(?:#([0-9A-Fa-f]{1,16}))?\[',
    re.ASCII,
)
_TAIL = re.compile(r"([^\[\]]*)\]((?:\[[^\[\]]*\])*)(.*)", re.DOTALL)
_EXTENDED = re.compile(r"\[([^\[\]]*)\]")
_TIMESTAMP = re.compile(r"_(\d{2}):(\d{2}):(\d{2}),(\d{2})-(\d{2})-(\d{4})", re.ASCII)

KeySource = bytes | Callable[[str | None], bytes | None] | None


def parse_message(message: Frame | bytes, *, key: KeySource = None) -> Message | FrameError:
    """Read a message. ``key`` is the AES key, or a function from the account to its key (or None)."""
    raw = message.message if isinstance(message, Frame) else message
    text = raw.decode("latin-1")
    head = _HEADER.match(text)
    if head is None:
        return FrameError(FORMAT, 'header does not match "ID"seq[R…]L…[#acct][')
    star, id_, sequence, receiver, prefix, account = head.groups()
    rest = text[head.end() :]
    encrypted = star == "*"
    if encrypted:
        key_bytes = key(account) if callable(key) else key
        if key_bytes is None:
            return FrameError(NO_KEY, f"no key for account {account}")
        plain = decrypt(rest, key_bytes)
        if isinstance(plain, FrameError):
            return plain
        rest = plain
    tail = _TAIL.fullmatch(rest)
    if tail is None:
        return FrameError(DECRYPT if encrypted else FORMAT, "data block not closed by ]")
    data, ext_text, ts_text = tail.groups()
    extended = []
    for block in _EXTENDED.findall(ext_text):
        if not block or not (block[0].isascii() and block[0].isalpha()):
            return FrameError(DECRYPT if encrypted else FORMAT, f"extended data block [{block}] has no letter")
        extended.append((block[0], block[1:]))
    timestamp = None
    if ts_text:
        timestamp = parse_timestamp(ts_text)
        if timestamp is None:
            return FrameError(DECRYPT if encrypted else TIMESTAMP, f"bad timestamp {ts_text[:24]!r}")
    elif encrypted:
        return FrameError(TIMESTAMP, "an encrypted message must carry a timestamp")
    return Message(
        id=id_,
        encrypted=encrypted,
        sequence=sequence,
        receiver=receiver,
        prefix=prefix,
        account=account,
        data=data,
        extended=tuple(extended),
        timestamp=timestamp,
    )


def account_of(message: Frame | bytes) -> str | None:
    """The account a message names in its (never encrypted) header, or None."""
    raw = message.message if isinstance(message, Frame) else message
    head = _HEADER.match(raw.decode("latin-1"))
    return head.group(6) if head else None


def parse_timestamp(text: str) -> datetime | None:
    """``_HH:MM:SS,MM-DD-YYYY`` (UTC per the standard) or None."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    hh, mi, ss, mo, dd, yyyy = (int(g) for g in match.groups())
    try:
        return datetime(yyyy, mo, dd, hh, mi, ss, tzinfo=UTC)
    except ValueError:
        return None


def format_timestamp(ts: datetime) -> str:
    """``_HH:MM:SS,MM-DD-YYYY`` in UTC (a naive time is taken as UTC)."""
    if ts.tzinfo is not None and ts.utcoffset():
        ts = ts.astimezone(UTC)
    return f"_{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d},{ts.month:02d}-{ts.day:02d}-{ts.year:04d}"


def timestamp_ok(ts: datetime, now: datetime, *, ahead_s: float = 20, behind_s: float = 40) -> bool:
    """Whether a message's timestamp lies in the window [now - behind_s, now + ahead_s] (naive = UTC)."""
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    return now - timedelta(seconds=behind_s) <= ts <= now + timedelta(seconds=ahead_s)


_ACCOUNT_RE = re.compile(r"[0-9A-Fa-f]{1,16}")
_FIELD_RE = re.compile(r"[0-9A-Fa-f]{1,6}")


def build_message(
    id: str,
    sequence: int | str,
    account: str | None,
    data: str,
    *,
    receiver: str | None = None,
    prefix: str = "0",
    extended: Iterable[tuple[str, str]] = (),
    timestamp: datetime | None = None,
    key: bytes | None = None,
    pad: Callable[[int], bytes] | None = None,
) -> bytes:
    """The message bytes (``"`` to before CR); ``build_frame`` wraps them."""
    seq = f"{int(sequence):04d}"
    if len(seq) != 4 or not seq.isdigit():
        raise ValueError(f"sequence must be 0-9999, not {sequence!r}")
    if not re.fullmatch(r"[A-Z0-9-]{1,16}", id):
        raise ValueError(f"bad message id {id!r}")
    if account is not None and not _ACCOUNT_RE.fullmatch(account):
        raise ValueError(f"account must be 1-16 hex digits, not {account!r}")
    for name, value in (("receiver", receiver), ("prefix", prefix)):
        if value is not None and not _FIELD_RE.fullmatch(value):
            raise ValueError(f"{name} must be 1-6 hex digits, not {value!r}")
    if re.search(r"[\[\]\r\n]", data) or not data.isascii():
        raise ValueError("data must be ASCII without brackets, CR or LF")
    ext = ""
    for letter, value in extended:
        if len(letter) != 1 or not letter.isalpha() or not letter.isascii() or re.search(r"[\[\]\r\n]", value):
            raise ValueError(f"bad extended data block {letter!r}: {value!r}")
        ext += f"[{letter}{value}]"
    if not ext.isascii():
        raise ValueError("extended data must be ASCII")
    ts = format_timestamp(timestamp) if timestamp is not None else ""
    header = f'"{"*" if key else ""}{id}"{seq}{"R" + receiver if receiver is not None else ""}L{prefix}'
    header += f"#{account}[" if account is not None else "["
    if key is None:
        return (header + data + "]" + ext + ts).encode("ascii")
    if timestamp is None:
        raise ValueError("an encrypted message needs a timestamp")
    return (header + encrypt(data + "]" + ext + ts, key, pad)).encode("ascii")


def build_frame(
    id: str,
    sequence: int | str,
    account: str | None,
    data: str,
    *,
    receiver: str | None = None,
    prefix: str = "0",
    extended: Iterable[tuple[str, str]] = (),
    timestamp: datetime | None = None,
    key: bytes | None = None,
    pad: Callable[[int], bytes] | None = None,
) -> bytes:
    """A complete frame, LF to CR; with ``key`` the message is the encrypted ``*`` form."""
    return frame(
        build_message(
            id,
            sequence,
            account,
            data,
            receiver=receiver,
            prefix=prefix,
            extended=extended,
            timestamp=timestamp,
            key=key,
            pad=pad,
        )
    )


# ----------------------------------------------------------------------------------------- replies


def _reply(
    id_: str,
    msg: Message,
    data: str,
    *,
    key: bytes | None,
    now: datetime | None,
    pad: Callable[[int], bytes] | None,
    encrypt_if_encrypted: bool,
) -> bytes:
    encrypted = encrypt_if_encrypted and msg.encrypted
    if encrypted:
        if key is None:
            raise ValueError(f"the reply to an encrypted message needs its key ({id_})")
        now = now or datetime.now(UTC)
    if data:  # content of our own making (RSP): checked like any message's
        return build_frame(
            id_,
            msg.sequence,
            msg.account,
            data,
            receiver=msg.receiver,
            prefix=msg.prefix,
            timestamp=now,
            key=key if encrypted else None,
            pad=pad,
        )
    # The fields echoed come from a parsed message (already checked): the header is written as is.
    receiver = "" if msg.receiver is None else "R" + msg.receiver
    account = "" if msg.account is None else "#" + msg.account
    ts = format_timestamp(now) if now is not None else ""
    if encrypted:
        assert key is not None
        body = f'"*{id_}"{msg.sequence}{receiver}L{msg.prefix}{account}[{encrypt("]" + ts, key, pad)}'
    else:
        body = f'"{id_}"{msg.sequence}{receiver}L{msg.prefix}{account}[]{ts}'
    return frame(body.encode("ascii"))


def ack(
    msg: Message,
    *,
    key: bytes | None = None,
    now: datetime | None = None,
    pad: Callable[[int], bytes] | None = None,
) -> bytes:
    """ACK echoing sequence, receiver, prefix and account, with empty data.

    To an encrypted message the ACK is ``"*ACK"``, encrypted with ``key`` and always timestamped
    (``now``, default the current UTC time); to a plain message it carries a timestamp only if
    ``now`` is given.
    """
    return _reply("ACK", msg, "", key=key, now=now, pad=pad, encrypt_if_encrypted=True)


def rsp(
    msg: Message,
    data: str = "",
    *,
    key: bytes | None = None,
    now: datetime | None = None,
    pad: Callable[[int], bytes] | None = None,
) -> bytes:
    """RSP (acknowledge with response data), encrypted like an ACK."""
    return _reply("RSP", msg, data, key=key, now=now, pad=pad, encrypt_if_encrypted=True)


def duh(msg: Message, *, now: datetime | None = None) -> bytes:
    """DUH: the message was understood as a frame but its ID or content is not supported. Never encrypted."""
    return _reply("DUH", msg, "", key=None, now=now, pad=None, encrypt_if_encrypted=False)


def nak(now: datetime) -> bytes:
    """``"NAK"0000R0L0#0[]_timestamp``: always timestamped (the panel may resync its clock), never encrypted."""
    return build_frame("NAK", 0, "0", "", receiver="0", prefix="0", timestamp=now)


# ----------------------------------------------------------------------------------------- content


@dataclass(frozen=True, slots=True)
class SiaEvent:
    code: str
    zone: str
    area: str | None = None
    user: str | None = None
    time: str | None = None  # ``hh:mm`` from the ``ti`` modifier
    text: str | None = None  # ``^…^`` free text
    modifiers: tuple[tuple[str, str], ...] = ()  # every modifier in force, ``ri``/``id``/``ti`` included

    @property
    def description(self) -> str | None:
        entry = SIA_CODES.get(self.code)
        return entry.description if entry else None


@dataclass(frozen=True, slots=True)
class SiaContent:
    account: str | None
    events: tuple[SiaEvent, ...]


@dataclass(frozen=True, slots=True)
class ContactIdEvent:
    qualifier: int  # 1 new event / opening, 3 restore / closing, 6 previously reported, still present
    code: str  # three digits
    partition: str
    zone: str  # zone or user number
    account: str | None = None

    @property
    def description(self) -> str | None:
        entry = CONTACT_ID_CODES.get(self.code)
        return entry.description if entry else None

    @property
    def restore(self) -> bool:
        return self.qualifier == 3


_ACCT_PREFIX = re.compile(r"#?([0-9A-Fa-f]*)\|")
_MODIFIER = re.compile(r"([a-z]{2})([^A-Z/^]*)")
_EVENT = re.compile(r"([A-Z]{2})([^/^]*)(?:\^([^^]*)\^?)?")
_CID = re.compile(r"([136])(\d{3}) ?([0-9A-Fa-f]{2}) ?([0-9A-Fa-f]{3})", re.ASCII)


def _split_account(data: str) -> tuple[str | None, str]:
    match = _ACCT_PREFIX.match(data)
    if match is None:
        return None, data
    return (match.group(1) or None), data[match.end() :]


def parse_sia_dcs(data: str) -> SiaContent | FrameError:
    """The SIA-DCS data block: ``[#acct|]N`` then ``/``-separated modifiers and events.

    Modifiers (``ri`` area, ``id`` user, ``ti`` time, ``da``, …) stay in force for the events that
    follow them in the block, as in SIA DC-03.
    """
    account, body = _split_account(data)
    if not body.startswith("N"):
        return FrameError(CONTENT, "SIA-DCS data must start with N (new event)")
    body = body[1:]
    events: list[SiaEvent] = []
    mods: dict[str, str] = {}
    pos = 0
    while pos < len(body):
        if body[pos] == "/":
            pos += 1
            continue
        mod = _MODIFIER.match(body, pos)
        if mod:
            mods[mod.group(1)] = mod.group(2)
            pos = mod.end()
            continue
        event = _EVENT.match(body, pos)
        if event is None:
            return FrameError(CONTENT, f"cannot read SIA data at {body[pos : pos + 16]!r}")
        code, zone, text = event.groups()
        events.append(
            SiaEvent(
                code=code,
                zone=zone.strip(),
                area=mods.get("ri"),
                user=mods.get("id"),
                time=mods.get("ti"),
                text=text.strip() if text is not None else None,
                modifiers=tuple(mods.items()),
            )
        )
        pos = event.end()
    if not events:
        return FrameError(CONTENT, "SIA-DCS data holds no event")
    return SiaContent(account=account, events=tuple(events))


def parse_adm_cid(data: str) -> ContactIdEvent | FrameError:
    """The ADM-CID data block: ``[#acct|]Q EEE GG ZZZ`` (Contact ID, spaces optional)."""
    account, body = _split_account(data)
    match = _CID.fullmatch(body.strip())
    if match is None:
        return FrameError(CONTENT, f"ADM-CID data {body[:24]!r} is not Q EEE GG ZZZ")
    qualifier, code, partition, zone = match.groups()
    return ContactIdEvent(int(qualifier), code, partition, zone, account)


CONTACT_ID_QUALIFIERS = {1: "new event or opening", 3: "restore or closing", 6: "previously reported, still present"}
