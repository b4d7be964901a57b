"""Fixtures for citizens: a few register addresses, real SMS and e-mail peers, and helpers to read codes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.test import Client

from tests.delivery.test_sms_smpp import _drain
from tests.peers.smsc import Smsc, SmscThread
from tests.peers.smtp import SmtpServer
from tocsin.citizens.domain import CONSENT_VERSION, pow_solve
from tocsin.delivery import services as delivery_services
from tocsin.geo import domain
from tocsin.geo.models import Address, Municipality, PostalCode, Province, Region

CODE = re.compile(r"\b(\d{6})\b")


def _address(source: str, street: str, number: str, postcode: str, nis: str, lon: float, lat: float) -> Address:
    return Address.objects.create(
        source_id=source, street_nl=street, house_number=number, postcode=postcode, municipality_id=nis,
        lon=lon, lat=lat, cell=domain.cell_of(lon, lat), search_key=domain.search_key(street),
    )  # fmt: skip


@pytest.fixture
def register(db) -> dict[str, Address]:
    """Two municipalities and a handful of addresses (Zottegem, Gent)."""
    Region.objects.create(nis_code="02000", name_nl="Vlaams Gewest", name_fr="Région flamande", name_de="")
    Province.objects.create(nis_code="40000", region_id="02000", name_nl="Oost-Vlaanderen", name_fr="", name_de="")
    for nis, name in (("41081", "Zottegem"), ("44021", "Gent")):
        Municipality.objects.create(nis_code=nis, name_nl=name, name_fr=name, region_id="02000", province_id="40000")
    PostalCode.objects.create(code="9620", municipality_id="41081")
    PostalCode.objects.create(code="9000", municipality_id="44021")
    return {
        "home": _address("t:1", "Markt", "1", "9620", "41081", 3.8106, 50.8690),
        "work": _address("t:2", "Kouter", "12", "9000", "44021", 3.7250, 51.0500),
        "school": _address("t:3", "Veldstraat", "5", "9000", "44021", 3.7220, 51.0530),
    }


@dataclass
class Peers:
    smsc: Smsc
    smtp: SmtpServer

    def codes_for(self, recipient: str) -> list[str]:
        """Every code sent to a phone number or e-mail address, oldest first (drains the outbox first)."""
        _drain(timeout=10)
        texts = [
            r.short_message.decode("latin-1")
            for r in self.smsc.received
            if r.destination.lstrip("+") == recipient.lstrip("+")
        ]
        texts += [
            m.get_body(("plain",)).get_content() for _f, rcpts, m in self.smtp.mailbox.messages if recipient in rcpts
        ]
        return [CODE.search(t).group(1) for t in texts if CODE.search(t)]


@pytest.fixture
def peers(crisis_centre, settings) -> Iterator[Peers]:
    settings.TOCSIN_POW_BITS = 8
    with SmscThread() as smsc, SmtpServer() as smtp:
        delivery_services.gateway_configure(
            name="loopback-smsc", kind="smpp", channel="sms", rate_per_s=1000, concurrency=1,
            config={"host": "127.0.0.1", "port": smsc.port, "system_id": "tocsin", "password": "secret",
                    "source_addr": "Tocsin", "window": 10, "timeout": 5},
        )  # fmt: skip
        delivery_services.gateway_configure(
            name="loopback-smtp", kind="smtp", channel="email", rate_per_s=1000, concurrency=1,
            config={"host": "127.0.0.1", "port": smtp.port, "from": "Tocsin <noreply@tocsin.example>"},
        )  # fmt: skip
        yield Peers(smsc, smtp)


def solved(client: Client) -> dict[str, str]:
    challenge = client.get("/api/v1/citizens/challenge").json()
    return {"challenge": challenge["challenge"], "nonce": pow_solve(challenge["challenge"], challenge["bits"])}


def sign_up_payload(client: Client, register: dict[str, Address], **overrides: object) -> dict[str, object]:
    payload: dict[str, object] = {
        "name": "An Peeters",
        "language": "nl",
        "contact_points": [
            {"kind": "mobile", "value": "0470 12 34 56", "sms": True, "voice": True},
            {"kind": "email", "value": "an.peeters@example.be"},
        ],
        "addresses": [
            {"label": "home", "address_id": register["home"].pk},
            {"label": "work", "address_id": register["work"].pk},
        ],
        "consent": True,
        "consent_version": CONSENT_VERSION,
        **solved(client),
    }
    payload.update(overrides)
    return payload
