"""The operator console of an alarm central (issue 9), through the portal on the real database: the live queue
(fire first, then the oldest; server-sent events), a case claimed, taken over and released, its plan, calls,
verification (KB-13 / KB-23), remote actions (KB-6), the notification as the law allows it (KB-10 … KB-16, KB-22)
with its preview, the desk's answer in the history, the case closed; refused input named beside its field with
nothing written; another central's member finds nothing (404) and changes nothing; a viewer is refused (403)."""

from __future__ import annotations

import gc
import json
import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient
from django.utils import timezone

from tests.arc.signals import ev, signal
from tests.conftest import portal_client, run_async
from tests.organisations.factories import UserFactory
from tocsin.alarms import services as registry_services
from tocsin.alarms.services import as_member
from tocsin.arc import handling, selectors, services
from tocsin.arc.cases import build_cases
from tocsin.arc.models import (
    AlarmCase,
    CaseCall,
    CaseLog,
    CaseStep,
    CaseVerification,
    Notification,
    Signal,
)
from tocsin.audit.models import AuditEntry
from tocsin.emergency import services as desk

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings):
    """The pages in English, whatever the catalogues hold (the texts asserted are the source strings)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def shop(central_op, mvalues):
    """A second goods alarm of the central, account 4321 (no zone mapped)."""
    system = registry_services.system_register(
        actor=as_member(central_op), values=mvalues(user_number="U1002", site_name="Bakkerij Janssens")
    )
    services.account_set(actor=as_member(central_op), account="4321", system_reference=system.reference)
    return system


def alarm(account: str = "1234", code: str = "BA", zone: str = "01", **kw: Any) -> AlarmCase:
    """A signal read into its case by the case builder, as ``tocsin cases`` does."""
    signal(account, ev(code, zone), **kw)
    build_cases()
    return AlarmCase.objects.filter(account__account=account).exclude(state="closed").order_by("-pk").first()


def error_of(page: str, field_id: str) -> str:
    """The text of the first error beside an input (``<p class="error" id="<field_id>-error1">``)."""
    match = re.search(rf'<p class="error" id="{field_id}-error1"[^>]*>(.*?)</p>', page, re.S)
    assert match, f"no error beside {field_id}"
    return unescape(re.sub(r"<[^>]+>", " ", match.group(1)))


def summary_of(page: str, summary_id: str) -> str:
    match = re.search(rf'<div class="errors summary" role="alert" id="{summary_id}"[^>]*>(.*?)</div>', page, re.S)
    assert match, f"no summary {summary_id}"
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))))


def snapshot() -> tuple:
    """Everything a console form could write."""
    return (
        tuple(AlarmCase.objects.order_by("pk").values_list("pk", "state", "claimed_by_id", "notified_at",
                                                           "closed_at", "close_reason", "updated_at")),
        tuple(CaseStep.objects.order_by("pk").values_list("pk", "done_at", "skipped_reason", "outcome")),
        CaseCall.objects.count(),
        CaseVerification.objects.count(),
        Notification.objects.count(),
        CaseLog.objects.count(),
    )  # fmt: skip


def case_url(case: AlarmCase, tail: str = "") -> str:
    return f"/arc/cases/{case.pk}/{tail}"


# --- the queue --------------------------------------------------------------------------------------------------------


def test_the_queue_is_fire_first_then_the_oldest_with_the_priority_in_words(as_user, central_op, goods, shop):
    now = datetime.now(UTC)
    burglary = alarm("1234", "BA", at=now - timedelta(minutes=5))
    later_burglary = alarm("4321", "BA", at=now - timedelta(minutes=1))
    fire = alarm("1234", "FA", "02", at=now)
    technical = alarm("4321", "AT", "0", at=now)
    expected = [fire.pk, burglary.pk, later_burglary.pk, technical.pk]
    assert [r.id for r in selectors.queue(actor=as_member(central_op))] == expected

    html = as_user(central_op).get("/arc/console/").content.decode()
    assert [int(i) for i in re.findall(r'<tr class="p\d" data-case="(\d+)"', html)] == expected
    # The priority is a colour and a text, never a colour alone.
    assert '<span class="prio p1">1 · Fire</span>' in html and '<span class="prio p3">3 · Burglary</span>' in html
    assert "Woning Peeters" in html and "Bakkerij Janssens" in html and "4 open cases" in re.sub(r"<[^>]+>", "", html)
    assert f'formaction="/arc/cases/{fire.pk}/claim/"' in html  # a Claim button per unclaimed case
    assert 'data-live-url="/arc/console/events"' in html and "/static/arc/console.js" in html
    assert "Keyboard shortcuts" in html and "<kbd>j</kbd>" in html
    # The menu of a central's operator has the console.
    assert 'href="/arc/console/">Console<' in html


def test_queue_version_changes_with_every_change_of_the_queue(central_op, goods):
    me = as_member(central_op)
    empty = selectors.queue_version(actor=me)
    case = alarm()
    opened = selectors.queue_version(actor=me)
    signal("1234", ev("BA", "02"))  # a second zone joins the case
    build_cases()
    joined = selectors.queue_version(actor=me)
    handling.claim(actor=me, case_id=case.pk)
    claimed = selectors.queue_version(actor=me)
    assert len({empty, opened, joined, claimed}) == 4
    assert selectors.signals_through(actor=me) == Signal.objects.latest("pk").pk
    signal("1234", ev("OP", "3"))  # an opening: no case, the queue is the same but the signal is read
    pending = Signal.objects.latest("pk").pk
    assert selectors.signals_through(actor=me) == pending - 1
    build_cases()
    assert selectors.signals_through(actor=me) == pending and selectors.queue_version(actor=me) == claimed


@pytest.mark.django_db(transaction=True)
def test_the_live_stream_sends_the_queue_first_as_json_and_html(central_op, other_op, goods):
    case = alarm()
    cookies = portal_client(central_op).cookies
    stranger = portal_client(other_op).cookies

    async def first_events(jar) -> tuple[dict, dict]:
        """The first ``queue`` event, and the ``through`` event that follows it."""
        client = AsyncClient()
        client.cookies = jar
        response = await client.get("/arc/console/events")
        assert response["Content-Type"] == "text/event-stream" and response["Cache-Control"] == "no-cache"
        events: dict[str, dict] = {}
        try:
            async for chunk in response.streaming_content:
                text = chunk.decode() if isinstance(chunk, bytes) else chunk
                if text.startswith("event: "):
                    name, data = text[len("event: ") :].split("\ndata: ", 1)
                    events.setdefault(name, json.loads(data))
                    assert list(events) <= ["queue", "through"]
                if "through" in events:
                    return events["queue"], events["through"]
            raise AssertionError("no queue event")
        finally:
            await sync_to_async(connections.close_all)()  # the sign-in check's connection, before the flush

    first, through = run_async(lambda: first_events(cookies))
    assert [c["id"] for c in first["cases"]] == [case.pk]
    row = first["cases"][0]
    assert (row["category"], row["priority"], row["account"], row["events"], row["claimed_by"]) == (
        "burglary", 3, "1234", 1, "")  # fmt: skip
    assert row["reference"] == goods.reference and row["site_name"] == "Woning Peeters"
    assert first["through"] == Signal.objects.latest("pk").pk and first["total"] == 1 and first["version"]
    assert through["through"] == first["through"] and through["version"] == first["version"]
    assert f'data-case="{case.pk}"' in first["html"] and "3 · Burglary" in first["html"]
    # Another central's operator: its own (empty) queue, nothing of this one.
    theirs, _ = run_async(lambda: first_events(stranger))
    assert theirs["cases"] == [] and "Woning Peeters" not in theirs["html"]
    gc.collect()  # the stream's connections, in the threads of its event loop, closed before the flush


def test_the_stream_and_the_pages_refuse_a_viewer_and_other_organisations(as_user, central, goods, emergency):
    case = alarm()
    viewer = UserFactory(organisation=central, email="viewer@noord.be", roles=["viewer"])
    dispatcher = UserFactory(organisation=emergency, email="ops@101.be", roles=["ec_operator"])
    before = snapshot()
    for user in (viewer, dispatcher):
        client = as_user(user)
        for path in ("/arc/console/", "/arc/console/events", case_url(case), case_url(case, "preview/?channel=phone")):
            assert client.get(path).status_code == 403, (user.email, path)
        for tail in ("claim/", "release/", "steps/verify/", "calls/", "verify/", "remote/", "notify/", "close/"):
            assert client.post(case_url(case, tail), {"reason": "x"}).status_code == 403, (user.email, tail)
        assert 'href="/arc/console/"' not in client.get("/").content.decode()
    assert snapshot() == before


# --- claim, take over, release ----------------------------------------------------------------------------------------


def test_claim_take_over_and_release(as_user, central, central_op, goods):
    case = alarm()
    colleague = UserFactory(organisation=central, email="op2@noord.be", full_name="Els Maes", roles=["arc_operator"])
    me, them = as_user(central_op), as_user(colleague)

    page = me.get(case_url(case)).content.decode()
    assert 'id="claim-button"' in page and "Claim the case to work on it" in page
    response = me.post(case_url(case, "claim/"))
    assert response.status_code == 302 and response["Location"] == case_url(case)
    page = me.get(response["Location"]).content.decode()
    assert "You are handling this case." in page and "by you" in page and 'id="release-button"' in page

    # The colleague sees who has it; claiming is refused (nothing changes), taking over is explicit.
    page = them.get(case_url(case)).content.decode()
    assert f"{central_op.full_name} is handling this case." in page and 'id="take-over-button"' in page
    before = snapshot()
    refused = them.post(case_url(case, "claim/"))
    assert refused.status_code == 422
    assert f"{central_op.full_name} is handling this case." in summary_of(refused.content.decode(), "claim-errors")
    assert snapshot() == before
    assert them.post(case_url(case, "claim/"), {"take_over": "1"}).status_code == 302
    case.refresh_from_db()
    assert case.claimed_by_id == colleague.pk and case.state == "claimed"
    log = CaseLog.objects.filter(case=case, what="claimed").latest("pk")
    assert log.data["taken_over_from"] == central_op.pk
    assert f"taken over from {central_op.full_name}" in them.get(case_url(case)).content.decode()

    # Only the one who has it releases it.
    assert me.post(case_url(case, "release/")).status_code == 422
    assert them.post(case_url(case, "release/")).status_code == 302
    case.refresh_from_db()
    assert (case.state, case.claimed_by_id) == ("open", None)


def test_the_queue_claim_button_claims_and_opens_the_case(as_user, central_op, goods):
    case = alarm()
    response = as_user(central_op).post(case_url(case, "claim/"))
    assert response.status_code == 302 and response["Location"] == case_url(case)
    html = as_user(central_op).get("/arc/console/").content.decode()
    assert '<span class="badge mine">you</span>' in html and f'formaction="/arc/cases/{case.pk}/claim/"' not in html


# --- the plan, calls --------------------------------------------------------------------------------------------------


def test_steps_are_done_with_an_outcome_or_skipped_with_a_reason(as_user, central_op, goods):
    case = alarm()
    client = as_user(central_op)
    # Not claimed yet: refused, nothing written.
    before = snapshot()
    refused = client.post(case_url(case, "steps/call_user/"), {"action": "done", "text": "reached"})
    assert refused.status_code == 422 and "Claim the case first" in summary_of(refused.content.decode(),
                                                                              "step-call_user-errors")  # fmt: skip
    assert snapshot() == before
    client.post(case_url(case, "claim/"))
    done = client.post(case_url(case, "steps/call_user/"), {"action": "done", "text": "user reached: the cat"})
    assert done.status_code == 302 and done["Location"] == case_url(case) + "#steps"
    step = CaseStep.objects.get(case=case, step="call_user")
    assert step.done_at is not None and step.outcome == "user reached: the cat" and step.done_by_id == central_op.pk

    before = snapshot()
    refused = client.post(case_url(case, "steps/on_site/"), {"action": "skip", "text": "  "})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "Give the reason for skipping this step" in error_of(html, "step-on_site-text")
    assert "Outcome or reason" in summary_of(html, "step-on_site-errors")
    assert snapshot() == before
    assert client.post(case_url(case, "steps/on_site/"), {"action": "skip", "text": "user on site"}).status_code == 302
    assert CaseStep.objects.get(case=case, step="on_site").skipped_reason == "user on site"
    assert client.post(case_url(case, "steps/nonsense/"), {"action": "done"}).status_code == 422
    assert client.post(case_url(case, "steps/BAD-STEP/"), {"action": "done"}).status_code == 404
    page = client.get(case_url(case)).content.decode()
    assert "✓ Done" in page and "Reason: user on site" in page and "Step skipped" in page


def test_the_call_form_is_filled_from_the_record_and_the_call_logged(as_user, central_op, goods):
    case = alarm()
    client = as_user(central_op)
    client.post(case_url(case, "claim/"))
    page = client.get(case_url(case)).content.decode()
    assert 'id="call-name" name="name" value="An Peeters"' in page
    assert 'id="call-number" name="number" value="+32470123456"' in page
    assert 'data-name="Jan Peeters" data-number="+32478111222"' in page  # the contact person, one key away
    contact = client.get(case_url(case) + "?call=contact-0").content.decode()
    assert (
        'id="call-name" name="name" value="Jan Peeters"' in contact and '<option value="contact" selected>' in contact
    )

    before = snapshot()
    refused = client.post(case_url(case, "calls/"), {"callee": "neighbour", "outcome": "", "name": "X"})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "Choose who was called." in error_of(html, "call-callee")
    assert "Choose the call's outcome." in error_of(html, "call-outcome")
    assert 'id="call-name" name="name" value="X"' in html  # what was typed stays
    assert snapshot() == before

    logged = client.post(case_url(case, "calls/"), {"callee": "contact", "name": "Jan Peeters",
                                                    "number": "+32478111222", "outcome": "no_answer"})  # fmt: skip
    assert logged.status_code == 302 and logged["Location"].endswith("#calls")
    call = CaseCall.objects.get()
    assert (call.callee, call.name, call.number, call.outcome, call.by_id) == (
        "contact", "Jan Peeters", "+32478111222", "no_answer", central_op.pk)  # fmt: skip
    assert "A contact person: Jan Peeters (+32478111222) · <strong>No answer</strong>" in client.get(
        case_url(case)).content.decode()  # fmt: skip


# --- verification and notification ------------------------------------------------------------------------------------


def test_kb_13_kb_12_kb_14_notify_by_phone_refused_before_verification_then_recorded(as_user, central_op, goods):
    case = alarm(extended=[["V", "https://cam.example/clip/9"]])
    client = as_user(central_op)
    client.post(case_url(case, "claim/"))
    page = client.get(case_url(case)).content.decode()
    # The preview: refused (KB-13, art. 13), the data set in the law's words, the script to read (KB-12).
    assert 'id="refusals"' in page and "KB-13" in page and "art. 13" in page
    assert "That it is an intrusion or an attempt" in page and "The alarm-report number of the central" in page
    assert 'id="script"' in page and "This is the alarm central Centrale Noord, alarm-report number N001." in page
    assert '<a href="https://cam.example/clip/9" rel="noopener noreferrer">' in page

    before = snapshot()
    refused = client.post(case_url(case, "notify/"), {"channel": "phone", "call_with": "operator Dirk"})
    assert refused.status_code == 422
    summary = summary_of(refused.content.decode(), "notify-errors")
    assert "A goods alarm is notified only when an approved method verified an intrusion or an attempt." in summary
    assert "KB-13" in summary and "art. 13" in summary
    assert snapshot() == before

    # KB-13: the methods offered are those approved for goods alarms.
    assert '<option value="SEQ">SEQ — Sequential detection' in page
    verified = client.post(case_url(case, "verify/"), {"method": "SEQ", "outcome": "confirmed", "finding": "intrusion",
                                                       "note": "hall and kitchen"})  # fmt: skip
    assert verified.status_code == 302 and verified["Location"].endswith("#notify")
    page = client.get(case_url(case)).content.decode()
    assert 'id="allowed"' in page and 'id="refusals"' not in page
    assert "Verified: An intrusion, by Sequential detection" in page
    assert "missing" not in re.search(r'<table class="dataset".*?</table>', page, re.S).group(0)  # type: ignore[union-attr]

    # KB-12: a real-time conversation: with whom.
    before = snapshot()
    refused = client.post(case_url(case, "notify/"), {"channel": "phone", "call_with": "", "call_at": ""})
    assert refused.status_code == 422
    assert "KB-12" in error_of(refused.content.decode(), "notify-call-with")
    bad_time = client.post(case_url(case, "notify/"), {"channel": "phone", "call_with": "Dirk", "call_at": "soon"})
    assert bad_time.status_code == 422 and "date and time" in error_of(bad_time.content.decode(), "notify-call-at")
    assert snapshot() == before

    at = timezone.localtime() - timedelta(minutes=2)
    sent = client.post(case_url(case, "notify/"), {"channel": "phone", "call_with": "operator Dirk",
                                                   "call_at": at.strftime("%Y-%m-%dT%H:%M"),
                                                   "call_outcome": "patrol sent"})  # fmt: skip
    assert sent.status_code == 302 and sent["Location"].endswith("#notify")
    n = Notification.objects.get()
    assert n.items == {"alarm_report_number": "N001", "user_number": "U1001", "intrusion": "intrusion",
                       "verification_code": "SEQ", "detection_code": "D-HAL-01"}  # fmt: skip
    assert (n.channel, n.call_with, n.call_outcome, n.delayed) == ("phone", "operator Dirk", "patrol sent", False)
    assert n.call_at == at.replace(second=0, microsecond=0)
    page = client.get(case_url(case)).content.decode()
    assert "spoke with operator Dirk" in page and "✓ Done" in page


def test_kb_16_a_zone_without_detection_code_is_highlighted_as_missing(as_user, central_op, goods, direct):
    case = alarm("1234", "BA", "07")
    client = as_user(central_op)
    client.post(case_url(case, "claim/"))
    client.post(case_url(case, "verify/"), {"method": "VIS", "outcome": "confirmed", "finding": "attempt"})
    page = client.get(case_url(case) + "?channel=direct").content.decode()
    assert '<tr class="missing" data-item="detection_code">' in page and 'id="missing-note"' in page
    assert "none: map this zone" in page
    assert 'id="direct-route"' in page and direct.number in page
    fragment = client.get(case_url(case, "preview/"), {"channel": "phone"}).content.decode()
    assert 'id="script"' in fragment and '<li class="missing">Detection code: [missing] (zone 07).' in fragment
    assert "<html" not in fragment  # a fragment for the page's script
    assert AuditEntry.objects.filter(action="arc.case_preview_viewed", object_id=str(case.pk)).exists()
    assert client.post(case_url(case, "notify/"), {"channel": "direct"}).status_code == 302
    assert Notification.objects.get().delayed


def test_kb_22_kb_23_a_personal_alarm_defaults_to_the_direct_number_and_states_the_incident(
    as_user, central_op, personal, direct, dispatcher
):
    case = alarm("5678", "PA")
    client = as_user(central_op)
    client.post(case_url(case, "claim/"))
    page = client.get(case_url(case)).content.decode()
    assert 'id="notify-channel-direct" name="channel" value="direct" checked' in page
    assert "The approved methods for personal alarms (KB-23)." in page
    assert '<option value="SEQ">' not in page  # not approved for personal alarms
    assert 'name="incident"' in page and "(fixed personal alarms only)" not in page
    refused = client.post(case_url(case, "notify/"), {"channel": "phone", "call_with": "x"})
    assert "KB-22" in summary_of(refused.content.decode(), "notify-errors")
    client.post(case_url(case, "verify/"), {"method": "AUD", "outcome": "confirmed", "finding": "threat"})
    fragment = client.get(case_url(case, "preview/"), {"channel": "direct", "incident": ""}).content.decode()
    assert '<tr class="missing" data-item="incident">' in fragment
    fragment = client.get(case_url(case, "preview/"), {"channel": "direct", "incident": "Knife"}).content.decode()
    assert 'data-item="incident"><th' in fragment and "Knife" in fragment
    sent = client.post(case_url(case, "notify/"), {"channel": "direct", "incident": "A man with a knife"})
    assert sent.status_code == 302
    n = Notification.objects.get()
    assert n.kind == "personal" and n.items["incident"] == "A man with a knife" and n.state == "sent"

    # The desk's answer comes back into the case's history and the notification panel (KB-19).
    d = as_member(dispatcher)
    desk.acknowledge(actor=d, notification_id=n.pk)
    desk.dispatch(actor=d, notification_id=n.pk, note="patrol 12")
    desk.record_outcome(actor=d, notification_id=n.pk, outcome="person_assisted", note="all well")
    page = client.get(case_url(case)).content.decode()
    assert "The emergency desk acknowledged the notification" in page and "patrol 12" in page
    assert "The desk&#x27;s outcome: <strong>Person assisted</strong>" in page or "Person assisted" in page
    assert '<li class="desk">' in page


def test_kb_6_remote_action_refused_without_consent(as_user, central_op, goods):
    case = alarm()
    client = as_user(central_op)
    client.post(case_url(case, "claim/"))
    page = client.get(case_url(case)).content.decode()
    assert "None: your central may not act on the system remotely." in page
    refused = client.post(case_url(case, "remote/"), {"action": "disarm", "purpose": "manage_alarm"})
    assert refused.status_code == 422
    assert "KB-6" in summary_of(refused.content.decode(), "remote-errors")
    assert not CaseLog.objects.filter(case=case, what="remote").exists()


# --- close ------------------------------------------------------------------------------------------------------------


def test_a_case_closes_once_its_plan_is_done_and_leaves_the_queue(as_user, central_op, goods):
    case = alarm()
    client = as_user(central_op)
    client.post(case_url(case, "claim/"))
    before = snapshot()
    refused = client.post(case_url(case, "close/"), {"reason": ""})
    assert refused.status_code == 422
    html = refused.content.decode()
    summary = summary_of(html, "close-errors")
    assert "Complete or skip (with a reason) every step first" in summary and 'href="#steps"' in html
    assert "Say why the case is closed." in error_of(html, "close-reason")
    assert snapshot() == before
    client.post(case_url(case, "verify/"), {"method": "CBU", "outcome": "not_confirmed"})
    for step in ("call_user", "notify", "on_site"):
        client.post(case_url(case, f"steps/{step}/"), {"action": "skip", "text": "false alarm: the cat"})
    closed = client.post(case_url(case, "close/"), {"reason": "false alarm"})
    assert closed.status_code == 302 and closed["Location"] == "/arc/console/"
    case.refresh_from_db()
    assert (case.state, case.close_reason, case.closed_by_id) == ("closed", "false alarm", central_op.pk)
    queue = client.get("/arc/console/").content.decode()
    assert f"Case {case.pk} is closed." in queue and f'data-case="{case.pk}"' not in queue
    page = client.get(case_url(case)).content.decode()
    assert "This case is closed." in page and 'id="verify-form"' not in page and 'id="claim-button"' not in page


# --- bad input, isolation, audit --------------------------------------------------------------------------------------


def test_bad_input_is_refused_beside_its_field_and_writes_nothing(as_user, central_op, goods):
    case = alarm()
    client = as_user(central_op)
    client.post(case_url(case, "claim/"))
    before = snapshot()
    refused = client.post(case_url(case, "verify/"), {"method": "XYZ", "outcome": "maybe", "finding": "ghost",
                                                      "note": "a\x00b"})  # fmt: skip
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "Choose an approved verification method." in error_of(html, "verify-method")
    assert "Choose what the verification found." in error_of(html, "verify-outcome")
    assert "Choose what the verification established." in error_of(html, "verify-finding")
    assert "3 problems: nothing was saved." in summary_of(html, "verify-errors")
    assert 'href="#verify-method"' in html
    # KB-13: a method not approved for goods alarms, named with its rule.
    from tocsin.arc.models import VerificationMethod

    VerificationMethod.objects.create(code="PRS", name="Personal only", goods=False, personal=True)
    refused = client.post(case_url(case, "verify/"), {"method": "PRS", "outcome": "confirmed", "finding": "intrusion"})
    assert "KB-13" in error_of(refused.content.decode(), "verify-method")
    confirmed_without_finding = client.post(case_url(case, "verify/"), {"method": "SEQ", "outcome": "confirmed"})
    assert "Say what the verification established." in error_of(confirmed_without_finding.content.decode(),
                                                                  "verify-finding")  # fmt: skip
    too_long = client.post(case_url(case, "calls/"), {"callee": "user", "outcome": "reached", "note": "x" * 2001})
    assert "At most 2,000 characters." in error_of(too_long.content.decode(), "call-note")
    assert client.post(case_url(case, "notify/"), {"channel": "pigeon"}).status_code == 422
    assert snapshot() == before


def test_another_centrals_member_finds_nothing_and_changes_nothing(as_user, central_op, other_op, goods):
    case = alarm()
    handling.claim(actor=as_member(central_op), case_id=case.pk)
    stranger = as_user(other_op)
    before = snapshot()
    assert f'data-case="{case.pk}"' not in stranger.get("/arc/console/").content.decode()
    for path in (case_url(case), case_url(case, "preview/?channel=phone"), "/arc/cases/999999/"):
        assert stranger.get(path).status_code == 404, path
    posts = {
        "claim/": {"take_over": "1"}, "release/": {}, "steps/call_user/": {"action": "done", "text": "x"},
        "calls/": {"callee": "user", "outcome": "reached"}, "remote/": {"action": "read", "purpose": "verify"},
        "verify/": {"method": "SEQ", "outcome": "confirmed", "finding": "intrusion"},
        "notify/": {"channel": "phone", "call_with": "x"}, "close/": {"reason": "x"},
    }  # fmt: skip
    for tail, data in posts.items():
        assert stranger.post(case_url(case, tail), data).status_code == 404, tail
    assert snapshot() == before
    assert not AuditEntry.objects.filter(action="arc.case_viewed", actor_id=other_op.pk).exists()


def test_opening_a_case_is_audited_with_the_system_it_shows(as_user, central_op, goods):
    case = alarm()
    page = as_user(central_op).get(case_url(case)).content.decode()
    # The registry record: site, user, contacts, numbers, type, nature of the property; no sketch for goods alarms.
    for text in ("Woning Peeters", "An Peeters", "+3293601234", "Jan Peeters", "U1001", "N001", "Goods alarm",
                 "House", "(fixed personal alarms only)", "D-HAL-01", "Hall"):  # fmt: skip
        assert text in page, text
    entry = AuditEntry.objects.filter(action="arc.case_viewed").latest("seq")
    assert (entry.object_id, entry.actor_id, entry.data["system"]) == (str(case.pk), central_op.pk, goods.reference)
    assert entry.ip == "127.0.0.1"


def test_an_account_not_linked_to_a_system_shows_its_case_but_nothing_to_notify(as_user, central_op):
    services.account_set(actor=as_member(central_op), account="ABCD")
    case = alarm("ABCD", "FA")
    client = as_user(central_op)
    queue = client.get("/arc/console/").content.decode()
    assert "#ABCD · not linked to a system" in queue
    page = client.get(case_url(case)).content.decode()
    assert "This account is not linked to a registered alarm system (KB-7-ARC)" in page
    assert 'id="notify-form"' not in page and 'id="remote-form"' not in page
    fragment = client.get(case_url(case, "preview/"), {"channel": "phone"}).content.decode()
    assert 'id="preview-error"' in fragment and "KB-7-ARC" in fragment
    client.post(case_url(case, "claim/"))
    assert client.post(case_url(case, "notify/"), {"channel": "phone", "call_with": "x"}).status_code == 422
    assert not Notification.objects.exists()


def test_the_case_version_changes_with_the_case_and_is_scoped(as_user, central_op, other_op, goods):
    """The open case page compares this version every few seconds to say that the case changed meanwhile."""
    case = alarm()
    client = as_user(central_op)
    page = client.get(case_url(case)).content.decode()
    shown = re.search(r'data-version="([^"]+)"', page).group(1)
    assert client.get(case_url(case, "version")).json()["version"] == shown
    signal("1234", ev("BA", "02"))  # a second zone joins the case
    build_cases()
    assert client.get(case_url(case, "version")).json()["version"] != shown
    assert as_user(other_op).get(case_url(case, "version")).status_code == 404
