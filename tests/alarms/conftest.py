"""Fixtures for the registry of alarm systems: the register's addresses, a registry administration,
two alarm centrals with their alarm-report numbers, a security company and an emergency centre."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.citizens.conftest import peers, register  # noqa: F401 — shared fixtures
from tests.organisations.factories import OrganisationFactory, UserFactory
from tocsin.alarms import services
from tocsin.alarms.services import Actor, as_member, as_user
from tocsin.organisations.models import Organisation, User


def _org(kind: str, name: str) -> Organisation:
    return OrganisationFactory(kind=kind, name=name, nis_code="", sms_sender="", status="active")


@pytest.fixture
def registry(db) -> Organisation:
    return _org("registry_admin", "Meldpunt alarmsystemen")


@pytest.fixture
def registry_admin(registry) -> User:
    return UserFactory(organisation=registry, email="admin@meldpunt.be", roles=["admin"])


@pytest.fixture
def central(db) -> Organisation:
    return _org("alarm_central", "Centrale Noord")


@pytest.fixture
def other_central(db) -> Organisation:
    return _org("alarm_central", "Centrale Zuid")


@pytest.fixture
def central_op(central, registry_admin) -> User:
    user = UserFactory(organisation=central, email="op@noord.be", roles=["arc_operator"])
    services.arn_assign(actor=as_member(registry_admin), organisation_id=central.pk, number="N001")
    return user


@pytest.fixture
def other_op(other_central, registry_admin) -> User:
    user = UserFactory(organisation=other_central, email="op@zuid.be", roles=["arc_operator"])
    services.arn_assign(actor=as_member(registry_admin), organisation_id=other_central.pk, number="Z001")
    return user


@pytest.fixture
def company(db) -> Organisation:
    return _org("security_company", "Beveiliging Janssens")


@pytest.fixture
def company_tech(company) -> User:
    return UserFactory(organisation=company, email="tech@janssens.be", roles=["operator"])


@pytest.fixture
def emergency(db) -> Organisation:
    return _org("emergency_centre", "Noodcentrale 101 Oost-Vlaanderen")


@pytest.fixture
def dispatcher(emergency) -> User:
    return UserFactory(organisation=emergency, email="ops@101.be", roles=["ec_operator"])


USER = "an.peeters@example.be"


def system_values(addresses: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A goods alarm with a siren and light, first used three days ago: valid for a user."""
    values: dict[str, Any] = {
        "site_name": "Woning Peeters",
        "site_address_id": addresses["home"].pk,
        "site_phone": "+3293601234",
        "user_name": "An Peeters",
        "user_address": "Markt 1, 9620 Zottegem",
        "user_mobile": "+32470123456",
        "user_email": USER,
        "property_nature": "dwelling",
        "risk_nature": "burglary",
        "system_type": "goods",
        "in_building": True,
        "siren": True,
        "siren_alarm_s": 180,
        "siren_sabotage_s": 480,
        "light": True,
        "light_until_switch_off": True,
        "notification_system": False,
        "first_use": (timezone.localdate() - timedelta(days=3)).isoformat(),
        "installer": "Beveiliging Janssens",
        "access_code_handed": True,
        "components_safe": True,
        "contacts": [{"name": "Jan Peeters", "phone": "+32478111222", "has_access": True, "knows_system": True}],
    }
    values.update(overrides)
    return values


def managed_values(addresses: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    values = system_values(addresses, user_number="U1001", alarm_report_number="N001")
    values["client_informed_on"] = (timezone.localdate() - timedelta(days=30)).isoformat()
    values.update(overrides)
    return values


@pytest.fixture
def user_actor() -> Actor:
    return as_user(USER)


@pytest.fixture
def values(register) -> Callable[..., dict[str, Any]]:  # noqa: F811 — the fixture
    return lambda **o: system_values(register, **o)


@pytest.fixture
def mvalues(register) -> Callable[..., dict[str, Any]]:  # noqa: F811 — the fixture
    return lambda **o: managed_values(register, **o)


@pytest.fixture
def user_portal() -> Callable[..., Any]:
    """A browser session of an alarm-system user who proved their contact with a code (KB-7-USER),
    reading the pages in English."""
    import time

    from django.test import Client

    def make(contact: str = USER) -> Client:
        client = Client(headers={"Accept-Language": "en"})
        session = client.session
        session["alarm_user"] = {"contact": contact, "at": time.time()}
        session.save()
        return client

    return make
