"""Progress of a send request: the API, the portal page, the live stream (SSE from LISTEN/NOTIFY),
and the gateways' health screen — each only for the organisation that owns it."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient

from tests.conftest import database_url_for_tests, run_async
from tests.organisations.factories import UserFactory
from tocsin.delivery import services
from tocsin.delivery.domain import Channel, Priority
from tocsin.delivery.services import PROGRESS_CHANNEL

pytestmark = pytest.mark.django_db(transaction=True)


def _request(org, n=3):
    services.gateway_configure(name="sms", kind="smpp", channel="sms", config={})
    return services.send_request_create(
        organisation_id=org.pk,
        created_by_id=None,
        purpose="alert",
        priority=Priority.ALERT,
        content={"nl": {"text": "Test"}},
        recipients={Channel.SMS: [(f"+32470{i:06d}", "nl") for i in range(1, n + 1)]},
    )


def test_progress_api_counts_per_state_and_only_for_the_owner(municipality, police_zone, api_client):
    request = _request(municipality)
    mine = api_client(UserFactory(organisation=municipality, roles=["viewer"]))
    body = mine.get(f"/api/v1/send-requests/{request.pk}/progress").json()
    assert body["total"] == 3 and body["ended"] == 0 and body["done"] is False
    assert body["channels"]["sms"]["queued"] == 3 and body["channels"]["sms"]["delivered"] == 0
    stranger = api_client(UserFactory(organisation=police_zone, roles=["admin"]))
    assert stranger.get(f"/api/v1/send-requests/{request.pk}/progress").status_code == 404  # not 403: no hint
    assert mine.get(f"/api/v1/send-requests/{request.pk + 1000}/progress").status_code == 404


def test_progress_page_shows_counts_and_hides_other_organisations(municipality, police_zone, muni_admin, as_user):
    request = _request(municipality)
    page = as_user(muni_admin).get(f"/sends/{request.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-count="sms:queued">3<' in html and "progress.js" in html
    assert f"#{request.pk}" in as_user(muni_admin).get("/sends/").content.decode()
    other = UserFactory(organisation=police_zone, roles=["admin"])
    assert as_user(other).get(f"/sends/{request.pk}/").status_code == 404
    assert as_user(other).get(f"/sends/{request.pk}/events").status_code == 404
    assert f"#{request.pk}" not in as_user(other).get("/sends/").content.decode()


def test_live_progress_is_pushed_when_a_worker_announces_a_change(municipality, muni_admin, as_user):
    """The stream sends the counts at once, then again after a NOTIFY on tocsin_progress, and ends when done."""
    request = _request(municipality)
    cookies = as_user(muni_admin).cookies

    async def follow() -> list[dict]:
        client = AsyncClient()
        client.cookies = cookies
        response = await client.get(f"/sends/{request.pk}/events")
        assert response["Content-Type"] == "text/event-stream"
        events: list[dict] = []
        stream = aiter(response.streaming_content)

        async def next_progress() -> dict:
            while True:
                chunk = (await anext(stream)).decode()
                if chunk.startswith("event: progress"):
                    return json.loads(chunk.split("data: ", 1)[1])

        events.append(await asyncio.wait_for(next_progress(), 10))
        async with await psycopg.AsyncConnection.connect(database_url_for_tests(), autocommit=True) as conn:
            await conn.execute(
                "UPDATE delivery_delivery SET state = 'delivered', final_at = now() WHERE request_id = %s",
                [request.pk],
            )
            await conn.execute("SELECT pg_notify(%s, %s)", [PROGRESS_CHANNEL, str(request.pk)])
        events.append(await asyncio.wait_for(next_progress(), 10))
        tail = (await asyncio.wait_for(anext(stream), 5)).decode()
        assert tail.startswith("event: done")
        with pytest.raises(StopAsyncIteration):  # the stream ends, and with it its database connection
            await asyncio.wait_for(anext(stream), 5)
        # The test client keeps Django's connections open after a request; close the one of the
        # thread that ran the view's synchronous parts, or the test database cannot be dropped.
        await sync_to_async(connections.close_all)()
        return events

    first, second = run_async(follow, timeout=40)
    assert first["channels"]["sms"]["queued"] == 3 and not first["done"]
    assert second["channels"]["sms"]["delivered"] == 3 and second["done"]


def test_gateway_health_is_for_administrators_and_their_own_gateways(municipality, muni_admin, cc_admin, as_user):
    platform = services.gateway_configure(name="platform-smsc", kind="smpp", channel="sms", config={})
    own = services.gateway_configure(name="zottegem-kannel", kind="kannel", channel="sms", config={},
                                     organisation=municipality)  # fmt: skip
    type(platform).objects.filter(pk=platform.pk).update(health="down", health_detail="bind refused")
    html = as_user(cc_admin).get("/gateways/").content.decode()
    assert "platform-smsc" in html and "bind refused" in html and "zottegem-kannel" in html
    html = as_user(muni_admin).get("/gateways/").content.decode()
    assert "zottegem-kannel" in html and "platform-smsc" not in html
    assert f"/api/v1/gateways/kannel/{own.pk}/mo?s=" in html  # the reply URL to put in kannel.conf
    operator = UserFactory(organisation=municipality, roles=["operator"])
    assert as_user(operator).get("/gateways/").status_code == 403


def test_e_mail_handed_to_the_relay_counts_as_ended(municipality, muni_admin, api_client):
    """SMTP gives no receipt: once the relay took a message, the send is as finished as Tocsin can know."""
    services.gateway_configure(name="mail", kind="smtp", channel="email", config={})
    request = services.send_request_create(
        organisation_id=municipality.pk, created_by_id=None, purpose="notice", priority=Priority.INFORMATION,
        content={"nl": {"subject": "s", "text": "t"}}, recipients={Channel.EMAIL: [("a@example.be", "nl")]},
    )  # fmt: skip
    from tocsin.delivery.models import Delivery

    Delivery.objects.filter(request=request).update(state="submitted")
    body = api_client(muni_admin).get(f"/api/v1/send-requests/{request.pk}/progress").json()
    assert body["ended"] == 1 and body["done"] is True
