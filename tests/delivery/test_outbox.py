"""The outbox: bulk writes, bad recipients, claims, leases, priorities, the shared rate."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.conftest import database_url_for_tests, run_async
from tocsin.delivery import domain, outbox, services
from tocsin.delivery.domain import Channel, Priority
from tocsin.delivery.models import Delivery, Gateway, SendRequest
from tocsin.organisations.domain import RuleError

CONTENT = {"nl": {"text": "Test", "subject": "Test"}}


@pytest.fixture
def sms_gateway(db):
    return services.gateway_configure(name="loopback-smsc", kind="smpp", channel="sms", rate_per_s=1000, concurrency=2)


@pytest.fixture
def email_gateway(db):
    return services.gateway_configure(name="loopback-smtp", kind="smtp", channel="email", rate_per_s=1000)


def _send(org, recipients, priority=Priority.INFORMATION, channel=Channel.SMS):
    return services.send_request_create(
        organisation_id=org.pk,
        created_by_id=None,
        purpose="test",
        priority=priority,
        content=CONTENT,
        recipients={channel: [(r, "nl") for r in recipients]},
    )


def test_ba_2_one_row_per_recipient_and_channel_written_in_bulk(municipality, sms_gateway, email_gateway):
    request = services.send_request_create(
        organisation_id=municipality.pk,
        created_by_id=None,
        purpose="alert",
        priority=Priority.EMERGENCY,
        content=CONTENT,
        recipients={
            Channel.SMS: [(f"+32470{i:06d}", "nl") for i in range(500)] + [("0470 00 00 01", "fr")],
            Channel.EMAIL: [("a@example.be", "nl"), ("A@EXAMPLE.BE", "nl"), ("b@example.be", "fr")],
        },
    )
    rows = Delivery.objects.filter(request=request)
    assert rows.filter(channel="sms").count() == 500  # "0470 00 00 01" is +32470000001 again
    assert rows.filter(channel="email").count() == 3  # the domain part is case-insensitive, the local part not
    assert set(rows.values_list("state", flat=True)) == {"queued"}
    assert rows.get(recipient="+32470000001").language == "nl"  # duplicate kept once, first language wins
    assert request.recipient_count == 503
    assert services.progress(request_id=request.pk)["sms"]["queued"] == 500


def test_invalid_recipients_are_named_and_nothing_is_written(municipality, sms_gateway):
    with pytest.raises(RuleError) as exc:
        _send(municipality, ["+32470000001", "12", "+3247", "not a number", "+32470000002"])
    message = exc.value.message
    assert "3 recipients" in message and "#2" in message and "#4" in message
    assert exc.value.field == "recipients"
    assert not SendRequest.objects.exists() and not Delivery.objects.exists()


def test_a_subject_on_two_lines_is_refused_before_anything_is_written(municipality, sms_gateway, email_gateway):
    with pytest.raises(RuleError) as caught:
        services.send_request_create(
            organisation_id=municipality.pk, created_by_id=None, purpose="alert", priority=Priority.ALERT,
            content={"nl": {"subject": "Hoogwater\r\nBcc: everyone@example.be", "text": "t"}},
            recipients={Channel.EMAIL: [("a@example.be", "nl")]},
        )  # fmt: skip
    assert caught.value.field == "subject"
    assert not SendRequest.objects.exists() and not Delivery.objects.exists()


def test_no_gateway_is_a_clear_error(municipality):
    with pytest.raises(RuleError) as exc:
        _send(municipality, ["+32470000001"])
    assert "gateway" in exc.value.message


def test_the_organisations_own_gateway_wins(municipality, sms_gateway):
    own = services.gateway_configure(
        name="own", kind="smpp", channel="sms", organisation=municipality, rate_per_s=10, concurrency=1
    )
    request = _send(municipality, ["+32470000001"])
    assert Delivery.objects.get(request=request).gateway_id == own.pk


def test_belgian_mobile_shortcut_agrees_with_the_full_check():
    import phonenumbers

    for prefix in range(450, 500):
        number = f"+32{prefix}123456"
        assert domain.normalise_phone(number) == number
        assert phonenumbers.is_valid_number(phonenumbers.parse(number))


def test_belgian_plain_numbers_shortcut_agrees_with_the_full_parse():
    """The quick path for ``09 360 12 34``-style numbers gives what phonenumbers' full parse gives, and
    leaves every number it does not recognise to that parse."""
    import random

    import phonenumbers

    rng = random.Random(7)
    forms = ["0{n}", "+32{n}", "0032{n}", "0{a} {b}", "+32 {a} {b}", "0{a}/{b}", "0{a}.{b}", "0{a}-{b}"]
    for _ in range(20_000):
        national = str(rng.randrange(10**7, 10**9))
        cut = rng.randrange(1, len(national))
        raw = rng.choice(forms).format(n=national, a=national[:cut], b=national[cut:])
        quick = domain._be_common(raw)
        try:
            parsed = phonenumbers.parse(raw, "BE")
            full = (
                phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                if phonenumbers.is_valid_number(parsed)
                else None
            )
        except phonenumbers.NumberParseException:
            full = None
        if quick is not None:
            assert quick == full, raw
        if full is None:
            with pytest.raises(domain.RecipientError):
                domain.normalise_phone(raw)
        else:
            assert domain.normalise_phone(raw) == full, raw


def _claim(gateway_id, worker, limit, lease=60.0):
    async def go():
        async with await psycopg.AsyncConnection.connect(database_url_for_tests(), autocommit=True) as conn:
            return await outbox.claim(conn, gateway_id=gateway_id, worker=worker, limit=limit, lease_s=lease)

    return run_async(go)


@pytest.mark.django_db(transaction=True)
def test_emergency_overtakes_queued_information(municipality, sms_gateway):
    bulk = _send(municipality, [f"+32470{i:06d}" for i in range(50)], Priority.BULK)
    emergency = _send(municipality, [f"+32480{i:06d}" for i in range(5)], Priority.EMERGENCY)
    code = _send(municipality, ["+32490000001"], Priority.VERIFICATION)
    claimed = _claim(sms_gateway.pk, "w1", 7)
    assert [c.request_id for c in claimed] == [code.pk] + [emergency.pk] * 5 + [bulk.pk]


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_claim_the_same_row(municipality, sms_gateway):
    _send(municipality, [f"+32470{i:06d}" for i in range(100)])
    first = _claim(sms_gateway.pk, "w1", 60)
    second = _claim(sms_gateway.pk, "w2", 60)
    assert len(first) == 60 and len(second) == 40
    assert not {c.id for c in first} & {c.id for c in second}


@pytest.mark.django_db(transaction=True)
def test_expired_lease_comes_back_flagged(municipality, sms_gateway):
    _send(municipality, ["+32470000001", "+32470000002"])
    _claim(sms_gateway.pk, "dead-worker", 2, lease=0.05)
    time.sleep(0.2)

    async def reap():
        async with await psycopg.AsyncConnection.connect(database_url_for_tests(), autocommit=True) as conn:
            return await outbox.reap(conn)

    assert run_async(reap) == 2
    rows = list(Delivery.objects.all())
    assert all(r.state == "queued" and r.possible_duplicate and r.attempts == 1 for r in rows)
    again = _claim(sms_gateway.pk, "w2", 10)
    assert len(again) == 2 and all(c.possible_duplicate for c in again)


@pytest.mark.django_db(transaction=True)
def test_deliveries_still_queued_after_the_expiry_end_expired_and_others_are_left(municipality, sms_gateway):
    from datetime import timedelta

    from django.utils import timezone

    late = services.send_request_create(
        organisation_id=municipality.pk, created_by_id=None, purpose="alert", priority=Priority.ALERT,
        content=CONTENT, recipients={Channel.SMS: [("+32470000001", "nl"), ("+32470000002", "nl")]},
        expires_at=timezone.now() - timedelta(seconds=1),
    )  # fmt: skip
    Delivery.objects.filter(request=late, recipient="+32470000002").update(state="submitted")
    fresh = _send(municipality, ["+32470000003"])

    async def expire():
        async with await psycopg.AsyncConnection.connect(database_url_for_tests(), autocommit=True) as conn:
            return await outbox.expire(conn)

    assert run_async(expire) == 1
    states = dict(Delivery.objects.values_list("recipient", "state"))
    assert states == {"+32470000001": "expired", "+32470000002": "submitted", "+32470000003": "queued"}
    assert "expired before" in Delivery.objects.get(recipient="+32470000001").error
    assert Delivery.objects.get(request=fresh).final_at is None


@pytest.mark.django_db(transaction=True)
def test_rate_holds_across_workers(sms_gateway):
    Gateway.objects.filter(pk=sms_gateway.pk).update(rate_per_s=200, tokens=0)

    async def two_workers():
        url = database_url_for_tests()
        async with (
            await psycopg.AsyncConnection.connect(url, autocommit=True) as a,
            await psycopg.AsyncConnection.connect(url, autocommit=True) as b,
        ):
            granted = 0
            start = time.monotonic()
            while time.monotonic() - start < 1.0:
                for conn in (a, b):
                    granted += await outbox.take_tokens(conn, gateway_id=sms_gateway.pk, want=50)
            return granted, time.monotonic() - start

    granted, elapsed = run_async(two_workers)
    # At most one second of burst (200) plus 200/s for the time that passed, whatever the number of workers.
    assert granted <= 200 + 200 * elapsed + 1
    assert granted >= 150
