from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django_otp.oath import totp
from procrastinate.contrib.django import app

from tests.organisations.factories import OrganisationFactory, UserFactory, totp_device
from tocsin.organisations import services
from tocsin.organisations.models import Organisation, User


@pytest.fixture
def crisis_centre(db) -> Organisation:
    return OrganisationFactory(name="Nationaal Crisiscentrum", kind="crisis_centre", nis_code="", sms_sender="")


@pytest.fixture
def cc_admin(crisis_centre) -> User:
    return UserFactory(organisation=crisis_centre, email="cc-admin@example.be", roles=["admin"])


@pytest.fixture
def make_org(db) -> Callable[..., Organisation]:
    def make(kind: str = "municipality", **kwargs: Any) -> Organisation:
        if kind not in {"municipality"}:
            kwargs.setdefault("nis_code", "")
        return OrganisationFactory(kind=kind, **kwargs)

    return make


@pytest.fixture
def municipality(make_org) -> Organisation:
    return make_org("municipality", name="Gemeente Zottegem")


@pytest.fixture
def police_zone(make_org) -> Organisation:
    return make_org("police_zone", name="PZ Vlaamse Ardennen", sms_sender="PZ VLAR")


@pytest.fixture
def muni_admin(municipality) -> User:
    return UserFactory(organisation=municipality, email="admin@zottegem.be", roles=["admin"])


@pytest.fixture
def police_admin(police_zone) -> User:
    return UserFactory(organisation=police_zone, email="admin@pz.be", roles=["admin"])


def code_for(device) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def portal_client(user: User) -> Client:
    """A browser session that passed both factors, as after a real sign-in."""
    device = totp_device(user)
    client = Client()
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session["access_epoch"] = user.organisation.access_epoch
    session.save()
    return client


@pytest.fixture
def as_user() -> Callable[[User], Client]:
    return portal_client


@pytest.fixture
def api_client() -> Callable[[User], Client]:
    def make(user: User) -> Client:
        if user.needs_2fa and not user.totpdevice_set.filter(confirmed=True).exists():
            totp_device(user)  # as after enrolment in the portal: roles that need 2FA have a device
        _token, secret = services.api_token_create(actor=user, name="tests")
        return Client(headers={"Authorization": f"Bearer {secret}"})

    return make


def drain_mail_queue(queues: tuple[str, ...] = ("mail",)) -> None:
    """Run a real worker until the queue is empty, in its own thread (its own event loop:
    a browser test earlier in the session may have left one running in this thread)."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
                worker_app.run_worker(queues=list(queues), wait=False, install_signal_handlers=False)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the worker did not finish"
    if errors:
        raise errors[0]


def run_async(coro_factory, timeout: float = 120):
    """Run a coroutine on a fresh event loop in its own thread (a browser test may own this thread's loop)."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro_factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the coroutine did not finish in time"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("result")


def database_url_for_tests() -> str:
    """The test database as a URL, for processes and async connections of our own."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
