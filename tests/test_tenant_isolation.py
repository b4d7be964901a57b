"""Tenant isolation, swept over every API operation and portal screen that takes an id.

A member of one organisation (here a municipality's admin) aims every route at
the objects of another (a police zone): each answer is 403 or 404 (or a
redirect that did nothing), and afterwards nothing of the other organisation
has changed (invariant 4).
"""

from __future__ import annotations

import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.audiences.factories import registration
from tests.organisations.factories import UserFactory
from tocsin.alerts import services as alert_services
from tocsin.alerts.models import Alert
from tocsin.api.main import api
from tocsin.audiences import services as audiences_services
from tocsin.audiences.models import BinGroup, BinMembership, BinSender, Contact, ContactList
from tocsin.delivery import services as delivery_services
from tocsin.delivery.domain import Channel, Priority
from tocsin.delivery.models import Delivery
from tocsin.organisations import services
from tocsin.organisations.models import ApiToken, Notice, Organisation, User


@pytest.fixture
def victim(police_admin):
    """Everything of the other organisation that an id can point at."""
    colleague = UserFactory(organisation=police_admin.organisation, roles=["operator"])
    token, _secret = services.api_token_create(actor=police_admin, name="theirs")
    notice = Notice.objects.create(user=police_admin, subject="s", body="b")
    delivery_services.gateway_configure(name="platform-sms", kind="smpp", channel="sms", config={})
    sent = delivery_services.send_request_create(
        organisation_id=police_admin.organisation_id, created_by_id=police_admin.pk, purpose="alert",
        priority=Priority.ALERT, content={"nl": {"text": "t"}}, recipients={Channel.SMS: [("+32470000001", "nl")]},
    )  # fmt: skip
    # Audiences: a contact list with a contact, a BIN group with a member and a proposed sender.
    Organisation.objects.filter(pk=police_admin.organisation_id).update(bin_option=True)
    police_admin.organisation.refresh_from_db()
    contact_list = audiences_services.contact_list_create(actor=police_admin, name="Banks")
    contact = audiences_services.contact_create(
        actor=police_admin, list_id=contact_list.pk, name="Bank", mobile="0470000002"
    )
    group = audiences_services.bin_group_create(
        actor=police_admin, name="BIN", coordinator_email=colleague.email, police_officer_email=police_admin.email
    )
    audiences_services.bin_group_join(code=group.code, registration_id=registration().pk)
    audiences_services.bin_sender_nominate(actor=police_admin, group_id=group.pk, user_id=colleague.pk)
    alert = alert_services.alert_create(
        actor=police_admin, event="Bankoverval", channels=["sms"], targets={"lists": [contact_list.pk]},
        texts={"nl": {"headline": "Overval", "sms": "Sluit de deuren."}},
    )  # fmt: skip
    from datetime import timedelta

    from django.utils import timezone

    from tocsin.billing import services as billing_services

    order = billing_services.order_submit(
        actor=police_admin, units=5000, requested_delivery=timezone.localdate() + timedelta(days=30)
    )
    return {
        "order_id": order.pk,
        "alert_id": alert.pk,
        "list_id": contact_list.pk,
        "contact_id": contact.pk,
        "group_id": group.pk,
        "user_id": colleague.pk,
        "organisation_id": police_admin.organisation_id,
        "token_id": token.pk,
        "notice_id": notice.pk,
        "request_id": sent.pk,
    }


def _snapshot(victim) -> tuple:
    org = Organisation.objects.get(pk=victim["organisation_id"])
    people = tuple(
        User.objects.filter(organisation=org).order_by("pk").values_list("pk", "roles", "is_active", "password")
    )
    tokens = tuple(ApiToken.objects.filter(user__organisation=org).values_list("pk", "revoked_at"))
    notices = tuple(Notice.objects.filter(user__organisation=org).values_list("pk", "read_at"))
    deliveries = tuple(Delivery.objects.filter(request__organisation=org).values_list("pk", "state"))
    alerts = tuple(Alert.objects.filter(organisation=org).values_list("pk", "state", "texts", "targets"))
    from tocsin.billing.models import OrderForm

    orders = tuple(OrderForm.objects.filter(organisation=org).values_list("pk", "status", "reason"))
    return org.status, org.access_epoch, people, tokens, notices, deliveries, _audiences_snapshot(org), alerts, orders


def _audiences_snapshot(org) -> tuple:
    lists = tuple(ContactList.objects.filter(organisation=org).order_by("pk").values_list("pk", "name", "updated_at"))
    contacts = tuple(
        Contact.objects.filter(contact_list__organisation=org).order_by("pk").values_list("pk", "name", "mobile")
    )
    groups = tuple(
        BinGroup.objects.filter(organisation=org).order_by("pk").values_list("pk", "name", "code", "coordinator_id")
    )
    members = BinMembership.objects.filter(group__organisation=org).count()
    senders = tuple(
        BinSender.objects.filter(group__organisation=org)
        .order_by("pk")
        .values_list("pk", "approved_by_coordinator_at", "approved_by_police_at", "revoked_at")
    )
    return lists, contacts, groups, members, senders


def _api_operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    ops = []
    for path, methods in schema["paths"].items():
        # Directives are published by the crisis centre to every entity: no tenant owns one. Kannel's
        # callbacks take no token; a signature per delivery guards them (tests/delivery/test_sms_kannel.py).
        # A citizen verifies a contact point by the registration's random id and the code sent to it:
        # no organisation owns a registration, and entities never reach one (tests/citizens/).
        # The registry of alarm systems names systems by reference: swept central against central in
        # tests/alarms/test_isolation.py.
        # The receiver's accounts are named by their number, swept in tests/arc/test_api.py.
        skip = ("{directive_id}", "/gateways/kannel/", "/citizens/registrations/", "/alarms/", "/arc/")
        if "{" in path and not any(s in path for s in skip):
            ops += [(method.upper(), path) for method in methods]
    return ops


def test_every_api_route_with_an_id_is_covered():
    params = {p for _m, path in _api_operations() for p in re.findall(r"{(\w+)}", path)}
    assert params <= {"user_id", "organisation_id", "request_id", "list_id", "contact_id", "group_id", "alert_id",
                      "order_id"}  # fmt: skip


@pytest.mark.parametrize(("method", "path"), _api_operations())
def test_tenant_isolation_api(method, path, muni_admin, victim, api_client):
    client = api_client(muni_admin)
    before = _snapshot(victim)
    url = path.format(**victim)
    body = {"roles": ["viewer"], "reason": "x", "sms_sender": "X", "languages": ["nl"], "name": "x",
            "confirmation": "1", "msg_type": "Cancel"}  # fmt: skip
    response = client.generic(method, url, json.dumps(body), content_type="application/json")
    assert response.status_code in (403, 404), (method, url, response.status_code, response.content[:200])
    assert _snapshot(victim) == before


def _portal_routes() -> list[str]:
    routes = []

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                # The registry of alarm systems (/alarm/, /registry/) is swept in tests/alarms/test_isolation.py.
                if any(s in str(p.pattern) for s in ("api", "i18n", "alarm/", "registry/")):
                    continue
                # The emergency desk (/desk/) is swept centre against centre in tests/emergency/test_desk.py.
                if str(p.pattern) == "desk/":
                    continue
                # The operators' console (/arc/console/, /arc/cases/…) is swept central against central in
                # tests/arc/test_console.py.
                if p.app_name == "console":
                    continue
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and "<int:" in str(p.pattern):
                routes.append("/" + prefix + str(p.pattern))

    walk(get_resolver().url_patterns)
    return routes


def test_every_portal_route_with_an_id_is_covered():
    params = {p for route in _portal_routes() for p in re.findall(r"<int:(\w+)>", route)}
    assert params <= {"user_id", "organisation_id", "token_id", "notice_id", "request_id", "list_id", "contact_id",
                      "group_id", "alert_id", "order_id"}  # fmt: skip


@pytest.mark.parametrize("route", _portal_routes())
@pytest.mark.parametrize("method", ["get", "post"])
def test_tenant_isolation_portal(route, method, muni_admin, victim, as_user):
    client = as_user(muni_admin)
    before = _snapshot(victim)
    url = re.sub(r"<int:(\w+)>", lambda m: str(victim[m.group(1)]), route)
    data = {"action": "deactivate", "roles": ["viewer"], "reason": "x"}
    response = getattr(client, method)(url, data) if method == "post" else client.get(url)
    assert response.status_code in (302, 403, 404, 405), (method, url, response.status_code)
    assert _snapshot(victim) == before
