"""SMPP 3.4 PDU codec: the commands an ESME needs to send SMS and take receipts. Pure: no Django.

Written from the SMPP v3.4 specification (issue 12-Oct-1999), section 4 (PDU
layouts) and 5 (field types); cross-checked in the tests against the
independent ``smpplib`` implementation.

A PDU is a 16-octet header (command_length, command_id, command_status,
sequence_number, all unsigned 32-bit big-endian) then the mandatory body
fields in order, then optional TLVs (tag and length unsigned 16-bit).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class Command(IntEnum):
    GENERIC_NACK = 0x80000000
    BIND_RECEIVER = 0x00000001
    BIND_RECEIVER_RESP = 0x80000001
    BIND_TRANSMITTER = 0x00000002
    BIND_TRANSMITTER_RESP = 0x80000002
    SUBMIT_SM = 0x00000004
    SUBMIT_SM_RESP = 0x80000004
    DELIVER_SM = 0x00000005
    DELIVER_SM_RESP = 0x80000005
    UNBIND = 0x00000006
    UNBIND_RESP = 0x80000006
    BIND_TRANSCEIVER = 0x00000009
    BIND_TRANSCEIVER_RESP = 0x80000009
    ENQUIRE_LINK = 0x00000015
    ENQUIRE_LINK_RESP = 0x80000015


class Status(IntEnum):
    ROK = 0x00
    RINVMSGLEN = 0x01
    RINVCMDLEN = 0x02
    RINVCMDID = 0x03
    RINVBNDSTS = 0x04
    RALYBND = 0x05
    RSYSERR = 0x08
    RINVSRCADR = 0x0A
    RINVDSTADR = 0x0B
    RBINDFAIL = 0x0D
    RINVPASWD = 0x0E
    RINVSYSID = 0x0F
    RMSGQFUL = 0x14
    RSUBMITFAIL = 0x45
    RTHROTTLED = 0x58
    RX_T_APPN = 0x64
    RX_P_APPN = 0x65
    RX_R_APPN = 0x66


# Errors worth retrying later; every other non-zero status ends the delivery.
TEMPORARY = frozenset({Status.RSYSERR, Status.RMSGQFUL, Status.RTHROTTLED, Status.RX_T_APPN})


class Tag(IntEnum):
    USER_MESSAGE_REFERENCE = 0x0204
    SAR_MSG_REF_NUM = 0x020C
    SAR_TOTAL_SEGMENTS = 0x020E
    SAR_SEGMENT_SEQNUM = 0x020F
    SC_INTERFACE_VERSION = 0x0210
    RECEIPTED_MESSAGE_ID = 0x001E
    MESSAGE_PAYLOAD = 0x0424
    MESSAGE_STATE = 0x0427


class MessageState(IntEnum):
    ENROUTE = 1
    DELIVERED = 2
    EXPIRED = 3
    DELETED = 4
    UNDELIVERABLE = 5
    ACCEPTED = 6
    UNKNOWN = 7
    REJECTED = 8


ESM_CLASS_UDHI = 0x40  # short_message starts with a user data header
ESM_CLASS_RECEIPT = 0x04  # deliver_sm carries a delivery receipt
HEADER = struct.Struct(">IIII")
MAX_PDU = 64 * 1024  # no legitimate 3.4 PDU comes near this; refuse rather than buffer


class PduError(ValueError):
    """Malformed PDU; ``status`` is what to answer (generic_nack or the *_resp)."""

    def __init__(self, message: str, status: Status = Status.RINVCMDLEN):
        super().__init__(message)
        self.status = status


# Field layouts: (name, kind, max length incl. NUL for C-strings). Kinds: "c" C-octet string,
# "B" 1 octet, "sm" short_message preceded by sm_length.
_BIND = [
    ("system_id", "c", 16),
    ("password", "c", 9),
    ("system_type", "c", 13),
    ("interface_version", "B", 0),
    ("addr_ton", "B", 0),
    ("addr_npi", "B", 0),
    ("address_range", "c", 41),
]
_SM = [
    ("service_type", "c", 6),
    ("source_addr_ton", "B", 0),
    ("source_addr_npi", "B", 0),
    ("source_addr", "c", 21),
    ("dest_addr_ton", "B", 0),
    ("dest_addr_npi", "B", 0),
    ("destination_addr", "c", 21),
    ("esm_class", "B", 0),
    ("protocol_id", "B", 0),
    ("priority_flag", "B", 0),
    ("schedule_delivery_time", "c", 17),
    ("validity_period", "c", 17),
    ("registered_delivery", "B", 0),
    ("replace_if_present_flag", "B", 0),
    ("data_coding", "B", 0),
    ("sm_default_msg_id", "B", 0),
    ("short_message", "sm", 254),
]
LAYOUTS: dict[Command, list[tuple[str, str, int]]] = {
    Command.BIND_TRANSCEIVER: _BIND,
    Command.BIND_TRANSMITTER: _BIND,
    Command.BIND_RECEIVER: _BIND,
    Command.BIND_TRANSCEIVER_RESP: [("system_id", "c", 16)],
    Command.BIND_TRANSMITTER_RESP: [("system_id", "c", 16)],
    Command.BIND_RECEIVER_RESP: [("system_id", "c", 16)],
    Command.SUBMIT_SM: _SM,
    Command.DELIVER_SM: _SM,
    Command.SUBMIT_SM_RESP: [("message_id", "c", 65)],
    Command.DELIVER_SM_RESP: [("message_id", "c", 65)],
    Command.ENQUIRE_LINK: [],
    Command.ENQUIRE_LINK_RESP: [],
    Command.UNBIND: [],
    Command.UNBIND_RESP: [],
    Command.GENERIC_NACK: [],
}
_DEFAULTS: dict[str, Any] = {"interface_version": 0x34}


@dataclass
class Pdu:
    command: Command
    sequence: int
    status: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    tlvs: dict[int, bytes] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)


def response_command(command: Command) -> Command:
    return Command(command | 0x80000000)


def encode(pdu: Pdu) -> bytes:
    body = bytearray()
    # An error response carries no body (SMPP 3.4 §4.4.2: "only returned if command_status is 0").
    skip_body = pdu.status != 0 and pdu.command & 0x80000000
    for name, kind, limit in [] if skip_body else LAYOUTS[pdu.command]:
        value = pdu.params.get(name, _DEFAULTS.get(name, b"" if kind != "B" else 0))
        if kind == "B":
            body.append(int(value) & 0xFF)
        elif kind == "c":
            raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
            if b"\x00" in raw or len(raw) + 1 > limit:
                raise PduError(f"{name} is longer than {limit - 1} characters", Status.RINVCMDLEN)
            body += raw + b"\x00"
        else:  # short_message with its length octet
            raw = bytes(value)
            if len(raw) > limit:
                raise PduError("short_message is longer than 254 octets", Status.RINVMSGLEN)
            body.append(len(raw))
            body += raw
    for tag, value in pdu.tlvs.items():
        body += struct.pack(">HH", tag, len(value)) + value
    return HEADER.pack(HEADER.size + len(body), pdu.command, pdu.status, pdu.sequence) + bytes(body)


def frame_length(head: bytes) -> int:
    """The command_length of a PDU from its first four octets; refuses absurd values."""
    (length,) = struct.unpack(">I", head[:4])
    if length < HEADER.size or length > MAX_PDU:
        raise PduError(f"command_length {length} is out of range")
    return int(length)


def decode(data: bytes) -> Pdu:
    """One whole PDU (exactly command_length octets)."""
    if len(data) < HEADER.size:
        raise PduError("shorter than a PDU header")
    length, command_id, status, sequence = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError(f"command_length says {length}, got {len(data)} octets")
    try:
        command = Command(command_id)
    except ValueError:
        raise PduError(f"unknown command_id 0x{command_id:08x}", Status.RINVCMDID) from None
    pdu = Pdu(command=command, sequence=sequence, status=status)
    pos = HEADER.size
    layout = LAYOUTS[command]
    if status != 0 and command & 0x80000000 and pos == length:
        return pdu  # error response without body
    for name, kind, limit in layout:
        if kind == "B":
            if pos >= length:
                raise PduError(f"{name} missing")
            pdu.params[name] = data[pos]
            pos += 1
        elif kind == "c":
            end = data.find(b"\x00", pos, min(length, pos + limit))
            if end < 0:
                if command in (Command.SUBMIT_SM_RESP, Command.DELIVER_SM_RESP) and pos == length:
                    break  # some SMSCs omit an empty message_id
                raise PduError(f"{name} is not a terminated string of at most {limit} octets")
            pdu.params[name] = data[pos:end].decode("latin-1")
            pos = end + 1
        else:
            if pos >= length:
                raise PduError("sm_length missing")
            sm_length = data[pos]
            pos += 1
            if pos + sm_length > length:
                raise PduError("short_message runs past the PDU", Status.RINVMSGLEN)
            pdu.params[name] = data[pos : pos + sm_length]
            pos += sm_length
    while pos < length:
        if pos + 4 > length:
            raise PduError("truncated TLV header")
        tag, tlv_len = struct.unpack_from(">HH", data, pos)
        pos += 4
        if pos + tlv_len > length:
            raise PduError("TLV runs past the PDU")
        pdu.tlvs[tag] = data[pos : pos + tlv_len]
        pos += tlv_len
    return pdu


# --- delivery receipts (SMPP 3.4 appendix B) --------------------------------

_RECEIPT = re.compile(
    r"id:(?P<id>\S+)\s+sub:(?P<sub>\S+)\s+dlvrd:(?P<dlvrd>\S+)\s+submit date:(?P<submit>\d+)\s+"
    r"done date:(?P<done>\d+)\s+stat:(?P<stat>\w+)\s+err:(?P<err>\w+)",
    re.IGNORECASE,
)
FINAL_STATES = {
    "DELIVRD": "delivered",
    "EXPIRED": "expired",
    "DELETED": "failed",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "UNKNOWN": "failed",
}
_STATE_NAMES = {
    MessageState.DELIVERED: "DELIVRD",
    MessageState.EXPIRED: "EXPIRED",
    MessageState.DELETED: "DELETED",
    MessageState.UNDELIVERABLE: "UNDELIV",
    MessageState.REJECTED: "REJECTD",
    MessageState.UNKNOWN: "UNKNOWN",
    MessageState.ACCEPTED: "ACCEPTD",
    MessageState.ENROUTE: "ENROUTE",
}


@dataclass(frozen=True)
class Receipt:
    message_id: str
    stat: str  # DELIVRD, UNDELIV, …
    err: str

    @property
    def outcome(self) -> str | None:
        """delivered / failed / expired, or None for an intermediate state (ENROUTE, ACCEPTD)."""
        return FINAL_STATES.get(self.stat.upper())


def receipt_from(pdu: Pdu) -> Receipt | None:
    """The receipt a deliver_sm carries (TLVs first, then the text), or None for a mobile-originated SMS."""
    if pdu.command is not Command.DELIVER_SM or not pdu.get("esm_class", 0) & ESM_CLASS_RECEIPT:
        return None
    text = bytes(pdu.get("short_message", b"") or pdu.tlvs.get(Tag.MESSAGE_PAYLOAD, b"")).decode("latin-1")
    match = _RECEIPT.search(text)
    message_id = pdu.tlvs.get(Tag.RECEIPTED_MESSAGE_ID, b"").rstrip(b"\x00").decode("latin-1")
    state = pdu.tlvs.get(Tag.MESSAGE_STATE)
    stat = (
        _STATE_NAMES.get(MessageState(state[0]), "UNKNOWN")
        if state and state[0] in MessageState._value2member_map_
        else ""
    )
    if match:
        message_id = message_id or match["id"]
        stat = stat or match["stat"]
        err = match["err"]
    else:
        err = ""
    if not message_id or not stat:
        return None
    return Receipt(message_id=message_id, stat=stat.upper(), err=err)


def receipt_text(message_id: str, stat: str, err: str = "000", submitted: str = "2601010000") -> bytes:
    """The appendix-B text an SMSC puts in a receipt (used by our loopback SMSC)."""
    dlvrd = "001" if stat == "DELIVRD" else "000"
    return (
        f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{submitted} done date:{submitted} "
        f"stat:{stat} err:{err} text:"
    ).encode("ascii")
