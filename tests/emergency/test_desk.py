"""The emergency centre's desk through its pages (issue 9): the live queue (complete first, then those for delayed
handling, KB-16), one notification with the law's items (KB-14, KB-23), acknowledge, dispatch and the outcome
returned to the central (KB-19 refusals beside the field, nothing written), a fixed personal alarm's sketch (KB-21),
the images link (KB-24), statistics, and isolation between emergency centres and from the centrals."""

from __future__ import annotations

import asyncio
import json
import re
from html import unescape

import pytest
from django.test import AsyncClient, Client

from tests.conftest import portal_client, run_async
from tocsin.arc.models import CaseLog, Notification
from tocsin.audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def text(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def error_beside(html: str, field_id: str) -> str:
    match = re.search(rf'<p class="error" id="{field_id}-error1"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no error beside {field_id}"
    return text(match.group(1))


def desk_log(notification: Notification) -> list[str]:
    return list(CaseLog.objects.filter(case_id=notification.case_id, what__startswith="desk_")
                .order_by("at", "pk").values_list("what", flat=True))  # fmt: skip


# --- the queue ---------------------------------------------------------------------------------------------------


def test_kb_16_the_queue_lists_complete_notifications_first_then_delayed_ones_with_what_they_lack(notify, dispatcher):
    delayed = notify(complete=False, site_name="Woning Late")  # older, but incomplete: after the complete one
    complete = notify(site_name="Woning Volledig")
    assert delayed.delayed and delayed.missing == ["detection_code"] and not complete.delayed

    page = portal_client(dispatcher).get("/desk/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.index("Woning Volledig") < html.index("Woning Late")
    complete_part = html[html.index('id="complete"') : html.index('id="delayed"')]
    delayed_part = html[html.index('id="delayed"') :]
    assert "Woning Volledig" in complete_part and "Woning Late" not in complete_part
    assert "Woning Late" in delayed_part and "KB-16" in delayed_part
    assert "<li>Detection code</li>" in delayed_part  # the missing item, in words
    row = text(complete_part)
    assert "Goods alarm" in row and "Centrale Noord" in row and "New" in row and "ago" in row
    assert f'href="/desk/notifications/{complete.pk}/"' in complete_part
    # The live page: its events, its script (no inline script: CSP) and the version it was drawn at.
    assert 'data-events="/desk/events"' in html and "emergency/desk.js" in html
    assert re.search(r'data-version="\d+-[0-9a-f]{16}"', html)
    assert "<script>" not in html

    fragment = portal_client(dispatcher).get("/desk/?fragment=queue").content.decode()
    assert fragment.lstrip().startswith('<div id="queue-body"') and "Woning Late" in fragment


@pytest.mark.django_db(transaction=True)
def test_the_live_queue_sends_its_version_first_then_a_new_one_when_a_notification_arrives(notify, dispatcher):
    first = notify()
    page = portal_client(dispatcher).get("/desk/").content.decode()
    drawn = re.search(r'data-version="([^"]+)"', page).group(1)
    cookies = portal_client(dispatcher).cookies

    async def events(count: int, between=None) -> list[dict]:
        client = AsyncClient()
        client.cookies = cookies
        response = await client.get("/desk/events")
        assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
        seen: list[dict] = []
        async for chunk in response.streaming_content:
            chunk = chunk.decode() if isinstance(chunk, bytes) else chunk
            if chunk.startswith("event: queue"):
                seen.append(json.loads(chunk.split("data: ", 1)[1]))
                if len(seen) == count:
                    return seen
                if between is not None:
                    await between()
        raise AssertionError("the stream ended")

    [now] = run_async(lambda: events(1))  # its own thread: a browser test may own this thread's loop
    assert now["version"] == drawn and now["version"].startswith(f"{first.pk}-")

    from asgiref.sync import sync_to_async

    async def arrive() -> None:
        await sync_to_async(notify, thread_sensitive=False)()

    before, after = run_async(lambda: asyncio.wait_for(events(2, between=arrive), timeout=30))
    assert before["version"] == drawn and after["version"] != drawn
    assert int(after["version"].split("-")[0]) > first.pk


# --- one notification ------------------------------------------------------------------------------------------------


def test_kb_14_a_notification_shows_the_law_s_items_with_their_labels_the_site_and_its_zones(notify, dispatcher):
    sent = notify(extended=[["V", "https://cam.example/clip/9"]])
    page = portal_client(dispatcher).get(f"/desk/notifications/{sent.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    items = text(html[html.index('id="items"') : html.index('id="actions"')])
    for label, value in (
        ("Alarm-report number", "N001"),
        ("User number", sent.items["user_number"]),
        ("Intrusion or attempt", "Intrusion"),
        ("Verification code", "SEQ · Sequential detection"),
        ("Detection code", sent.items["detection_code"]),
    ):
        assert f"{label} {value}" in items, (label, items)
    assert "KB-14" in items
    assert '<svg class="site-map"' in html and "Markt 1, 9620" in html  # the site on its map
    assert "50.86900, 3.81060" in text(html)
    assert 'href="tel:+32478111222"' in html  # the contact person
    zones = text(html[html.index('id="zones"') : html.index('id="contacts"')])
    assert "01 Hall BA" in zones
    images = html[html.index('id="images"') :]
    assert '<a href="https://cam.example/clip/9" rel="noopener noreferrer"' in images  # KB-24
    assert 'id="sketch"' not in html  # only a fixed personal alarm has one
    assert AuditEntry.objects.filter(action="emergency.notification_read", object_id=str(sent.pk)).exists()


def test_kb_24_an_images_link_that_is_not_a_web_address_is_shown_as_text_only(notify, dispatcher):
    sent = notify(extended=[["V", "javascript:alert(1)"]])
    html = portal_client(dispatcher).get(f"/desk/notifications/{sent.pk}/").content.decode()
    assert 'href="javascript:' not in html and "javascript:alert(1)" in html


def test_kb_23_a_mobile_personal_alarm_shows_the_position_it_sent(notify, dispatcher):
    sent = notify(system_type="personal_mobile", incident="Aggression in the street",
                  extended=[["X", "E4.3517"], ["Y", "N50.8466"]])  # fmt: skip
    assert sent.kind == "personal" and not sent.delayed
    html = portal_client(dispatcher).get(f"/desk/notifications/{sent.pk}/").content.decode()
    assert "Personal alarm" in html and "KB-23" in html
    position = text(html[html.index('id="position"') :])
    assert "Position the alarm sent 50.84660, 4.35170" in position
    assert "Incident information Aggression in the street" in text(html)
    assert "a mobile alarm sends its position" in html
    assert 'href="geo:50.846600,4.351700"' in html


def test_kb_21_the_desk_opens_the_sketch_of_a_fixed_personal_alarm_and_it_is_audited(notify, dispatcher, stranger):
    sent = notify(system_type="personal_fixed", incident="Threat at the counter", sketch=True)
    client = portal_client(dispatcher)
    html = client.get(f"/desk/notifications/{sent.pk}/").content.decode()
    assert f'href="/desk/notifications/{sent.pk}/sketch/"' in html and "KB-21" in html
    drawing = client.get(f"/desk/notifications/{sent.pk}/sketch/")
    assert drawing.status_code == 200 and drawing.content.startswith(b"\x89PNG")
    assert drawing["Content-Disposition"] == 'attachment; filename="plan.png"'
    assert AuditEntry.objects.filter(action="alarms.sketch_viewed", object_id=sent.system.reference).count() == 1
    assert portal_client(stranger).get(f"/desk/notifications/{sent.pk}/sketch/").status_code == 404
    assert AuditEntry.objects.filter(action="alarms.sketch_viewed").count() == 1


def test_a_goods_alarm_has_no_sketch(notify, dispatcher):
    sent = notify()
    assert portal_client(dispatcher).get(f"/desk/notifications/{sent.pk}/sketch/").status_code == 404


# --- acknowledge, dispatch, outcome ------------------------------------------------------------------------------


def test_kb_10_acknowledge_dispatch_and_outcome_return_to_the_central_s_case(notify, dispatcher):
    sent = notify()
    client = portal_client(dispatcher)
    url = f"/desk/notifications/{sent.pk}/"
    html = client.get(url).content.decode()
    assert 'id="acknowledge"' in html and 'id="dispatch"' in html and 'id="record-outcome"' in html

    response = client.post(f"{url}acknowledge/")
    assert response.status_code == 302 and response["Location"] == f"{url}#actions"
    assert Notification.objects.get(pk=sent.pk).state == "acknowledged"
    html = client.get(url).content.decode()
    assert "Acknowledged: the central sees it." in html and 'id="acknowledge"' not in html

    assert client.post(f"{url}dispatch/", {"note": "patrol 12"}).status_code == 302
    row = Notification.objects.get(pk=sent.pk)
    assert (row.state, row.dispatch_note) == ("dispatched", "patrol 12")

    response = client.post(f"{url}outcome/", {"outcome": "false_alarm", "note": "the cat"})
    assert response.status_code == 302
    row = Notification.objects.get(pk=sent.pk)
    assert (row.state, row.outcome, row.outcome_note) == ("closed", "false_alarm", "the cat")
    assert desk_log(sent) == ["desk_acknowledged", "desk_dispatched", "desk_outcome"]
    back = CaseLog.objects.get(case_id=sent.case_id, what="desk_outcome")
    assert back.data["outcome"] == "false_alarm" and back.data["desk"] == dispatcher.organisation.name
    html = client.get(url).content.decode()
    assert "Outcome:" in text(html) and "False alarm" in html and 'id="outcome-form"' not in html
    assert f'href="{url}"' not in client.get("/desk/").content.decode()  # closed: out of the queue


def test_a_second_acknowledgement_says_it_is_already_done_and_changes_nothing(notify, dispatcher):
    sent = notify()
    client = portal_client(dispatcher)
    client.post(f"/desk/notifications/{sent.pk}/acknowledge/")
    response = client.post(f"/desk/notifications/{sent.pk}/acknowledge/", follow=True)
    assert "This notification is already acknowledged." in response.content.decode()
    assert desk_log(sent) == ["desk_acknowledged"]


def test_kb_19_entering_a_dwelling_without_consent_is_refused_beside_the_field_and_nothing_is_written(
    notify, dispatcher
):
    sent = notify()  # a house (property_nature "dwelling")
    client = portal_client(dispatcher)
    url = f"/desk/notifications/{sent.pk}/outcome/"
    response = client.post(url, {"outcome": "neutralised", "entered": "1", "entry_consent_by": " ", "note": "x"})
    assert response.status_code == 422
    html = response.content.decode()
    beside = error_beside(html, "outcome-entry-consent-by")
    assert "consent of the occupant or a contact person" in beside and "KB-19" in beside
    summary = text(html[html.index('class="summary errors"') :][:800])
    assert "The outcome was not recorded." in summary and "Entry consented to by" in summary and "KB-19" in summary
    assert 'href="#outcome-entry-consent-by"' in html
    assert 'value="neutralised" checked' in html and 'id="outcome-entered" name="entered" value="1" checked' in html
    row = Notification.objects.get(pk=sent.pk)
    assert (row.state, row.outcome, row.entered) == ("sent", "", False)
    assert desk_log(sent) == []

    assert (
        client.post(url, {"outcome": "neutralised", "entered": "1", "entry_consent_by": "Jan Peeters"}).status_code
        == 302
    )
    row = Notification.objects.get(pk=sent.pk)
    assert (row.outcome, row.entered, row.entry_consent_by) == ("neutralised", True, "Jan Peeters")


def test_bad_input_gets_an_error_beside_its_field_and_changes_nothing(notify, dispatcher):
    sent = notify()
    client = portal_client(dispatcher)
    url = f"/desk/notifications/{sent.pk}/"
    response = client.post(f"{url}outcome/", {"outcome": "went_home", "note": "n" * 2001})
    assert response.status_code == 422
    html = response.content.decode()
    assert "Choose the outcome." in error_beside(html, "outcome-outcome")
    assert "At most 2,000 characters." in error_beside(html, "outcome-note")
    response = client.post(f"{url}dispatch/", {"note": "p" * 501})
    assert response.status_code == 422
    assert "At most 500 characters." in error_beside(response.content.decode(), "dispatch-note")
    assert Notification.objects.get(pk=sent.pk).state == "sent" and desk_log(sent) == []
    assert client.get(f"{url}acknowledge/").status_code == 405  # a write is a POST


# --- statistics ----------------------------------------------------------------------------------------------------


def test_statistics_per_central_with_a_bar_chart(notify, dispatcher):
    client = portal_client(dispatcher)
    first = notify()
    notify(complete=False)
    client.post(f"/desk/notifications/{first.pk}/outcome/", {"outcome": "false_alarm"})
    page = client.get("/desk/statistics/")
    assert page.status_code == 200
    html = page.content.decode()
    row = text(html[html.index('id="stats"') :][:3000])
    assert re.search(r"Centrale Noord 2 50 % 100 % \d+ s", row), row
    assert html.count('<svg class="chart bars"') == 2 and "Notifications per alarm central" in html


# --- who may open the desk -----------------------------------------------------------------------------------------


def test_another_emergency_centre_gets_404_everywhere_and_nothing_changes(notify, dispatcher, stranger):
    sent = notify()
    client = portal_client(stranger)
    url = f"/desk/notifications/{sent.pk}/"
    assert client.get("/desk/").status_code == 200
    assert f'href="{url}"' not in client.get("/desk/").content.decode()
    assert client.get(url).status_code == 404
    assert client.post(f"{url}acknowledge/").status_code == 404
    assert client.post(f"{url}dispatch/", {"note": "x"}).status_code == 404
    assert client.post(f"{url}outcome/", {"outcome": "false_alarm"}).status_code == 404
    assert client.get(f"{url}sketch/").status_code == 404
    assert client.get("/desk/notifications/999999/").status_code == 404
    row = Notification.objects.get(pk=sent.pk)
    assert (row.state, row.outcome, row.acknowledged_at) == ("sent", "", None)
    assert desk_log(sent) == []
    assert not AuditEntry.objects.filter(action="emergency.notification_read").exists()
    assert "0" in client.get("/desk/statistics/").content.decode()  # its own (empty) statistics


def test_a_central_and_other_organisations_are_refused_the_desk(notify, central_op, registry_admin, dispatcher):
    from tests.organisations.factories import UserFactory

    sent = notify()
    url = f"/desk/notifications/{sent.pk}/"
    viewer = UserFactory(organisation=dispatcher.organisation, email="viewer@101.be", roles=["viewer"])
    for user in (central_op, registry_admin, viewer):
        client = portal_client(user)
        for path in ("/desk/", url, "/desk/statistics/", "/desk/events", f"{url}sketch/"):
            assert client.get(path).status_code == 403, (user.email, path)
        assert client.post(f"{url}acknowledge/").status_code == 403
        assert client.post(f"{url}outcome/", {"outcome": "false_alarm"}).status_code == 403
    assert Client().get("/desk/").status_code == 302  # signed out: to the sign-in page
    assert Notification.objects.get(pk=sent.pk).state == "sent" and desk_log(sent) == []


def test_the_desk_link_is_in_the_menu_of_the_emergency_centre_only(dispatcher, central_op):
    assert 'href="/desk/"' in portal_client(dispatcher).get("/").content.decode()
    assert 'href="/desk/"' not in portal_client(central_op).get("/").content.decode()
