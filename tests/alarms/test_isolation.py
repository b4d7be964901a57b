"""Tenant isolation in the registry of alarm systems, swept over every API operation that names a
system: a central aims each at another central's system (and a user's), every answer is 403 or 404,
and nothing of the victim changes (invariant 4). The portal's routes are swept the same way."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.alarms.conftest import USER
from tocsin.alarms import services
from tocsin.alarms.models import (
    AlarmSystem,
    InformationRecord,
    Maintenance,
    RemoteActionRecord,
    RemoteConsent,
    Sketch,
    SystemVersion,
)
from tocsin.alarms.services import as_member, as_user
from tocsin.api.main import api

PDF = base64.b64encode(b"%PDF-1.4 x").decode()


@pytest.fixture
def victims(central_op, central, mvalues, values, company):
    managed = services.system_register(
        actor=as_member(central_op),
        values=mvalues(system_type="personal_fixed", risk_nature="hold_up", property_nature="bank",
                       publicly_accessible=True, visual_verification=True),
    )  # fmt: skip
    services.consent_add(
        actor=as_member(central_op), reference=managed.reference, party_id=central.pk, actions=["arm"],
        purposes=["manage_alarm"], given_on="2025-01-01", document=b"%PDF-1.4", document_type="application/pdf",
        document_name="c.pdf",
    )  # fmt: skip
    own = services.system_register(actor=as_user(USER), values=values())
    return {"managed": managed, "own": own}


def _snapshot() -> tuple:
    return (
        tuple(AlarmSystem.objects.order_by("pk").values_list("pk", "status", "version", "central_id", "site_name")),
        SystemVersion.objects.count(),
        Maintenance.objects.count(),
        RemoteConsent.objects.filter(withdrawn_at=None).count(),
        RemoteActionRecord.objects.filter(allowed=True).count(),
        InformationRecord.objects.count(),
        Sketch.objects.count(),
    )


def _operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return [
        (method.upper(), path)
        for path, methods in schema["paths"].items()
        if "/alarms/" in path and "{reference}" in path
        for method in methods
    ]


def test_every_alarms_route_with_a_name_is_swept():
    params = {p for path, methods in api.get_openapi_schema()["paths"].items() if "/alarms/" in path
              for p in re.findall(r"{(\w+)}", path)}  # fmt: skip
    assert params <= {"reference", "user_number"}
    assert len(_operations()) >= 9


BODY = {
    "date": "2025-06-01", "done_on": "2025-06-01", "informed_on": "2025-06-01", "site_postcode": "9620",
    "action": "arm", "purpose": "manage_alarm", "content_type": "application/pdf", "content_base64": PDF,
    "party_id": 0, "actions": ["arm"], "purposes": ["manage_alarm"], "given_on": "2025-01-01", "site_name": "x",
}  # fmt: skip


@pytest.mark.parametrize(("method", "path"), _operations())
@pytest.mark.parametrize("target", ["managed", "own"])
def test_kb_7_arc_alarms_api_isolation(method, path, target, victims, other_op, api_client, central):
    client = api_client(other_op)
    before = _snapshot()
    url = path.format(reference=victims[target].reference)
    body = {**BODY, "party_id": central.pk}
    response = client.generic(method, url, json.dumps(body), content_type="application/json")
    assert response.status_code in (403, 404), (method, url, response.status_code, response.content[:300])
    assert _snapshot() == before


def test_upsert_by_user_number_stays_in_the_callers_central(victims, other_op, api_client, mvalues):
    """The same user number at another central is another system: the victim's is untouched."""
    before = AlarmSystem.objects.filter(pk=victims["managed"].pk).values_list("version", "site_name").get()
    body = mvalues(alarm_report_number="Z001", site_name="Overgenomen")
    response = api_client(other_op).put(
        "/api/v1/alarms/systems/by-user-number/U1001", json.dumps(body), content_type="application/json"
    )
    assert response.status_code == 201
    assert response.json()["system"]["reference"] != victims["managed"].reference
    assert AlarmSystem.objects.filter(pk=victims["managed"].pk).values_list("version", "site_name").get() == before


def _portal_routes() -> list[str]:
    routes = []

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and "<str:reference>" in str(p.pattern):
                routes.append("/" + prefix + str(p.pattern))

    walk(get_resolver().url_patterns)
    return routes


@pytest.mark.parametrize("method", ["get", "post"])
def test_kb_7_arc_alarms_portal_isolation(method, victims, other_op, as_user):
    client = as_user(other_op)
    routes = _portal_routes()
    for route in routes:
        for target in ("managed", "own"):
            before = _snapshot()
            url = route.replace("<str:reference>", victims[target].reference)
            url = re.sub(r"<int:\w+>", "1", url)
            url = re.sub(r"<str:\w+>", "x", url)
            data = {**BODY, "out_of_use": "2025-06-01", "released_on": "2025-06-01"}
            response = client.post(url, data) if method == "post" else client.get(url)
            assert response.status_code in (302, 403, 404, 405), (method, url, response.status_code)
            assert _snapshot() == before, url
