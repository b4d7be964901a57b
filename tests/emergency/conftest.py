"""Fixtures for the emergency desk: a central with a direct emergency number to an emergency centre (KB-10), and
notifications made the way a central makes them (signal → case → claim → verify → notify, tocsin.arc.handling)."""

# ruff: noqa: F811 — the registry's fixtures are imported from tests/alarms/conftest.py, then used as arguments

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.alarms.conftest import (  # noqa: F401 — the registry's organisations and systems
    central,
    central_op,
    dispatcher,
    emergency,
    mvalues,
    other_central,
    other_op,
    registry,
    registry_admin,
    values,
)
from tests.arc.conftest import approved_methods  # noqa: F401 — the approved verification methods (autouse)
from tests.citizens.conftest import peers, register  # noqa: F401
from tests.organisations.factories import OrganisationFactory, UserFactory
from tocsin.alarms import services as registry_services
from tocsin.alarms.services import as_member
from tocsin.arc import handling
from tocsin.arc import registry as arc_registry
from tocsin.arc import services as arc_services
from tocsin.arc.cases import build_cases
from tocsin.arc.models import AlarmCase, Notification, ReceiverAccount, Signal
from tocsin.organisations.models import Organisation, User

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def english(settings):
    """The pages in English, whatever the catalogues hold (the texts asserted are the source strings)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def direct(registry_admin, central, emergency):
    """KB-10: Centrale Noord's direct emergency number reaches the emergency centre's desk."""
    return arc_registry.direct_number_set(actor=as_member(registry_admin), central_id=central.pk,
                                          number="0800 11 223", emergency_centre_id=emergency.pk)  # fmt: skip


@pytest.fixture
def elsewhere(db) -> Organisation:
    return OrganisationFactory(kind="emergency_centre", name="101 Limburg", nis_code="", status="active")


@pytest.fixture
def stranger(elsewhere) -> User:
    """An operator of another emergency centre."""
    return UserFactory(organisation=elsewhere, email="ops@101-limburg.be", roles=["ec_operator"])


def signal(account: str, zone: str, code: str, extended: list | None = None) -> Signal:
    row = ReceiverAccount.objects.get(account=account)
    n = next(_seq)
    return Signal.objects.create(
        account=row, central_id=row.central_id, received_at=datetime.now(UTC), message_id="SIA-DCS",
        sequence=f"{n % 10000:04d}", data="", events=[{"code": code, "zone": zone, "description": code}],
        extended=extended or [], transport="tcp", digest=f"desk{n}",
    )  # fmt: skip


@pytest.fixture
def notify(central_op, mvalues, direct) -> Callable[..., Notification]:
    """A structured notification from Centrale Noord, through the operator's services, for a new system each time.

    ``complete=False`` leaves the zone without a detection code: the notification lacks one (KB-16).
    """
    counter = itertools.count(1)

    def make(
        *,
        complete: bool = True,
        system_type: str = "goods",
        incident: str = "",
        extended: list | None = None,
        sketch: bool = False,
        **overrides: Any,
    ) -> Notification:
        n = next(counter)
        me = as_member(central_op)
        personal = system_type != "goods"
        data = {"user_number": f"U{3000 + n}", "system_type": system_type, "site_name": f"Site {n}"}
        if personal:
            data.update(property_nature="shop", risk_nature="aggression")
        data.update(overrides)
        system = registry_services.system_register(actor=me, values=mvalues(**data))
        if sketch:
            registry_services.sketch_upload(actor=me, reference=system.reference, content=PNG,
                                            content_type="image/png", name="plan.png")  # fmt: skip
        account = f"A{n:03d}"
        arc_services.account_set(actor=me, account=account, system_reference=system.reference)
        if complete:
            arc_services.zone_set(actor=me, account=account, zone="01", detection_code=f"D-HAL-{n:02d}", label="Hall")
        signal(account, "01", "PA" if personal else "BA", extended)
        build_cases()
        case = AlarmCase.objects.get(account__account=account)
        handling.claim(actor=me, case_id=case.pk)
        if personal:
            handling.verify(actor=me, case_id=case.pk, method="AUD", outcome="confirmed", finding="threat")
        else:
            handling.verify(actor=me, case_id=case.pk, method="SEQ", outcome="confirmed", finding="intrusion")
        return handling.notify(actor=me, case_id=case.pk, channel="direct", incident=incident)

    return make
