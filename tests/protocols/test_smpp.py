"""SMPP 3.4 PDU codec: cross-checked against smpplib, fuzzed with hypothesis."""

from __future__ import annotations

import struct

import pytest
import smpplib.smpp
from hypothesis import given
from hypothesis import strategies as st

from tocsin.protocols import smpp
from tocsin.protocols.smpp import Command, Pdu, PduError, Status, Tag


class _Sequence:
    """What smpplib asks of its client when building a PDU: the sequence number to use."""

    def __init__(self, number: int):
        self.number = number

    def next_sequence(self) -> int:
        return self.number


def test_submit_sm_matches_smpplib_bytes():
    ours = smpp.encode(
        Pdu(
            Command.SUBMIT_SM,
            7,
            params={"source_addr": "Gent", "destination_addr": "32470000000", "short_message": b"hi"},
        )
    )
    theirs = smpplib.smpp.make_pdu(
        "submit_sm", client=_Sequence(7), source_addr="Gent", destination_addr="32470000000", short_message=b"hi"
    ).generate()
    assert ours == theirs


def test_smpplib_parses_ours_and_we_parse_theirs():
    ours = smpp.encode(
        Pdu(
            Command.SUBMIT_SM,
            42,
            params={
                "source_addr_ton": 5,
                "source_addr": "BE-Alert",
                "dest_addr_ton": 1,
                "dest_addr_npi": 1,
                "destination_addr": "32470123456",
                "esm_class": smpp.ESM_CLASS_UDHI,
                "registered_delivery": 1,
                "data_coding": 8,
                "short_message": b"\x05\x00\x03\x01\x02\x01" + "Évacuez".encode("utf-16-be"),
            },
            tlvs={Tag.USER_MESSAGE_REFERENCE: struct.pack(">H", 9)},
        )
    )
    parsed = smpplib.smpp.parse_pdu(ours, client=_Sequence(0))
    assert parsed.command == "submit_sm" and parsed.sequence == 42
    assert parsed.destination_addr == b"32470123456" and parsed.data_coding == 8
    theirs = smpplib.smpp.make_pdu(
        "deliver_sm",
        client=_Sequence(3),
        esm_class=smpp.ESM_CLASS_RECEIPT,
        source_addr="32470123456",
        destination_addr="BE-Alert",
        short_message=smpp.receipt_text("abc123", "DELIVRD"),
    ).generate()
    pdu = smpp.decode(theirs)
    assert pdu.command is Command.DELIVER_SM and pdu.sequence == 3
    receipt = smpp.receipt_from(pdu)
    assert receipt is not None and receipt.message_id == "abc123" and receipt.outcome == "delivered"


def test_receipt_from_tlvs_wins():
    pdu = Pdu(
        Command.DELIVER_SM,
        1,
        params={"esm_class": smpp.ESM_CLASS_RECEIPT, "short_message": b""},
        tlvs={Tag.RECEIPTED_MESSAGE_ID: b"X9\x00", Tag.MESSAGE_STATE: bytes([smpp.MessageState.UNDELIVERABLE])},
    )
    receipt = smpp.receipt_from(smpp.decode(smpp.encode(pdu)))
    assert receipt.message_id == "X9" and receipt.outcome == "failed"


def test_mobile_originated_message_is_not_a_receipt():
    pdu = Pdu(Command.DELIVER_SM, 1, params={"short_message": b"JA"})
    assert smpp.receipt_from(smpp.decode(smpp.encode(pdu))) is None


def test_error_response_has_no_body():
    raw = smpp.encode(Pdu(Command.SUBMIT_SM_RESP, 5, status=Status.RTHROTTLED, params={"message_id": "x"}))
    assert len(raw) == 16
    pdu = smpp.decode(raw)
    assert pdu.status == Status.RTHROTTLED and Status.RTHROTTLED in smpp.TEMPORARY


@pytest.mark.parametrize("command", list(Command))
def test_every_command_round_trips(command):
    pdu = Pdu(command, 123456, params={"system_id": "tocsin", "message_id": "m1", "short_message": b"x"})
    again = smpp.decode(smpp.encode(pdu))
    assert again.command is command and again.sequence == 123456


def test_too_long_fields_are_refused():
    with pytest.raises(PduError):
        smpp.encode(Pdu(Command.BIND_TRANSCEIVER, 1, params={"system_id": "x" * 16}))
    with pytest.raises(PduError):
        smpp.encode(Pdu(Command.SUBMIT_SM, 1, params={"short_message": b"x" * 255}))


def test_absurd_command_length_is_refused():
    with pytest.raises(PduError):
        smpp.frame_length(struct.pack(">I", 10**9))
    with pytest.raises(PduError):
        smpp.frame_length(struct.pack(">I", 3))


@given(st.binary(min_size=0, max_size=300))
def test_garbage_never_crashes_the_decoder(data):
    framed = struct.pack(">I", len(data) + 4) + data
    try:
        smpp.decode(framed)
    except PduError:
        pass


@given(
    st.text(alphabet="0123456789", min_size=1, max_size=20),
    st.binary(max_size=254),
    st.integers(min_value=0, max_value=0x7FFFFFFF),
)
def test_submit_sm_round_trip(destination, message, sequence):
    pdu = Pdu(Command.SUBMIT_SM, sequence, params={"destination_addr": destination, "short_message": message})
    again = smpp.decode(smpp.encode(pdu))
    assert again.get("destination_addr") == destination and again.get("short_message") == message
