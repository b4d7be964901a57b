"""Voice calls end to end: the dispatcher's SIP trunk against real phones on loopback — baresip (answers,
records what it hears, presses 1 as an RFC 4733 event) and SIPp (INFO, busy, no answer, digest, load)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.peers.phones import Baresip, Sipp, can_play_pcap, make_greeting, press_after, read_wav, require_programs
from tests.voice.harness import ALL_ENDED, call, run_until, trunk
from tocsin.delivery import speech
from tocsin.delivery.models import Attempt, Delivery, Gateway, Speech
from tocsin.protocols import rtp

pytestmark = pytest.mark.django_db(transaction=True)

NL = "+3292000001"
FR = "+3292000002"


@pytest.fixture(autouse=True)
def _phones_installed():
    require_programs("baresip", "sipp", "espeak-ng", "sox")


def _prompt(request_id: int, language: str) -> speech.Prompt:
    row = Speech.objects.get(request_id=request_id, language=language)
    return speech.Prompt(bytes(row.ulaw), bytes(row.alaw))


def _attempts(delivery: Delivery) -> list[Attempt]:
    return list(Attempt.objects.filter(delivery_id=delivery.pk).order_by("attempt"))


def test_ba_2_a_call_is_answered_heard_and_confirmed_with_1(municipality, tmp_path):
    """BA-2: the alert is spoken over SIP/RTP; the phone records exactly our audio; a 1 (RFC 4733) is recorded
    as the delivery's acknowledgement, and the call is billed per started minute (BA-8-POSTPAID)."""
    with Baresip(tmp_path, user=NL) as phone:
        trunk(phone.address)
        request = call(municipality, [(NL, "nl")])
        presser = press_after(phone, 4.0)  # 2 s of "Hallo?"-less silence, then the message starts
        run_until(ALL_ENDED, timeout=40)
        presser.result(5)
        phone.wait_for_hangup(10)
        phone.stop()
        heard = [read_wav(p) for p in phone.recordings()]
    delivery = Delivery.objects.get(request=request)
    assert delivery.state == "delivered" and delivery.acknowledged_at is not None
    assert delivery.units == 1
    [attempt] = _attempts(delivery)
    assert attempt.outcome == "acknowledged" and attempt.answered_at is not None and attempt.ringing_at is not None
    assert 0 < attempt.seconds_played < 60
    # What the phone heard holds our prompt sample for sample (the codec it chose, decoded the same way).
    prompt = _prompt(request.pk, "nl")
    pcm_a, pcm_u = rtp.decode(prompt.alaw, "alaw"), rtp.decode(prompt.ulaw, "ulaw")
    first_second = slice(8000, 8000 + 16000)  # 1 s from 0.5 s in, well inside the message
    assert len(heard) == 1
    assert pcm_a[first_second] in heard[0] or pcm_u[first_second] in heard[0]


def test_ba_2_unconfirmed_message_is_played_twice_then_the_call_ends(municipality, tmp_path):
    with Baresip(tmp_path, user=NL) as phone:
        trunk(phone.address)
        request = call(municipality, [(NL, "nl")])
        run_until(ALL_ENDED, timeout=60)
        phone.wait_for_hangup(10)
        phone.stop()
        heard = phone.heard_seconds()
    delivery = Delivery.objects.get(request=request)
    assert delivery.state == "delivered" and delivery.acknowledged_at is None
    [attempt] = _attempts(delivery)
    message = _prompt(request.pk, "nl").seconds
    assert attempt.outcome == "answered"
    # Two repetitions with 0.2 s between them (the trunk's pause_s), to the frame.
    assert attempt.seconds_played == pytest.approx(2 * message + 0.2, abs=0.05)
    # The phone heard: 2 s of listening, both repetitions, 1 s waiting for a 1 — give or take the last frames.
    assert heard[0] == pytest.approx(2.0 + 2 * message + 0.2 + 1.0, abs=0.6)


def test_answering_machine_gets_the_message_once_after_its_beep(municipality, tmp_path):
    greeting = make_greeting(tmp_path / "greeting.wav")
    with Baresip(tmp_path, user=NL, greeting=greeting) as phone:
        trunk(phone.address)
        request = call(municipality, [(NL, "nl")])
        run_until(ALL_ENDED, timeout=60)
        phone.stop()
    delivery = Delivery.objects.get(request=request)
    [attempt] = _attempts(delivery)
    assert attempt.outcome == "answering_machine" and delivery.state == "delivered"
    assert attempt.seconds_played == pytest.approx(_prompt(request.pk, "nl").seconds, abs=0.05)  # once
    assert delivery.acknowledged_at is None and delivery.units == 1


def test_a_1_sent_as_sip_info_is_an_acknowledgement(municipality, tmp_path):
    with Sipp("answer_info", tmp_path, calls=1, variables={"dtmf_after": "2500"}) as sipp:
        trunk(sipp.address)
        request = call(municipality, [(FR, "fr")])
        run_until(ALL_ENDED, timeout=40)
        assert sipp.wait(10) == 0, sipp.errors()
    delivery = Delivery.objects.get(request=request)
    assert delivery.acknowledged_at is not None and _attempts(delivery)[0].outcome == "acknowledged"


@pytest.mark.skipif(not can_play_pcap(), reason="SIPp replays RFC 4733 packets through a raw socket (root)")
def test_a_1_sent_as_an_rfc_4733_event_by_sipp_is_an_acknowledgement(municipality, tmp_path):
    with Sipp("answer_rfc4733", tmp_path, calls=1, variables={"dtmf_after": "2500"}) as sipp:
        trunk(sipp.address)
        request = call(municipality, [(FR, "fr")])
        run_until(ALL_ENDED, timeout=40)
        assert sipp.wait(10) == 0, sipp.errors()
    assert Delivery.objects.get(request=request).acknowledged_at is not None


def test_busy_is_tried_again_on_the_trunks_schedule(municipality, tmp_path):
    with Sipp("busy", tmp_path, calls=1) as sipp:
        trunk(sipp.address)
        request = call(municipality, [(NL, "nl")])
        run_until("SELECT count(*) = 1 FROM delivery_attempt", timeout=20)
        assert sipp.wait(10) == 0, sipp.errors()
    delivery = Delivery.objects.get(request=request)
    [attempt] = _attempts(delivery)
    assert (attempt.outcome, attempt.sip_status) == ("busy", 486)
    assert delivery.state == "queued" and delivery.units == 0 and "busy (486)" in delivery.error
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 50 < wait <= 60  # retry_after_s[0]


def test_no_answer_is_cancelled_after_the_ring_timeout_and_tried_again(municipality, tmp_path):
    with Sipp("noanswer", tmp_path, calls=1) as sipp:
        trunk(sipp.address)
        request = call(municipality, [(NL, "nl")])
        run_until("SELECT count(*) = 1 FROM delivery_attempt", timeout=20)
        assert sipp.wait(10) == 0, sipp.errors()  # CANCEL, 200, 487, ACK as the scenario expects
    delivery = Delivery.objects.get(request=request)
    [attempt] = _attempts(delivery)
    assert attempt.outcome == "no_answer" and attempt.sip_status == 487
    assert (attempt.ended_at - attempt.started_at).total_seconds() == pytest.approx(3, abs=1)  # ring_timeout_s
    assert delivery.state == "queued"


def test_the_last_try_of_the_schedule_fails_the_delivery(municipality, tmp_path):
    with Sipp("busy", tmp_path, calls=3) as sipp:
        trunk(sipp.address, retry_after_s=[0, 0])
        request = call(municipality, [(NL, "nl")])
        run_until(ALL_ENDED, timeout=30)
        assert sipp.wait(10) == 0, sipp.errors()
    delivery = Delivery.objects.get(request=request)
    assert delivery.state == "failed" and [a.outcome for a in _attempts(delivery)] == ["busy"] * 3


def test_digest_credentials_get_through_and_wrong_ones_take_the_trunk_down(municipality, tmp_path):
    with Sipp("auth", tmp_path / "right", calls=1) as sipp:
        trunk(sipp.address, username="tocsin", password="secret")
        request = call(municipality, [(NL, "nl")])
        run_until(ALL_ENDED, timeout=40)
        assert sipp.wait(10) == 0, sipp.errors()
    attempt = _attempts(Delivery.objects.get(request=request))[0]
    assert attempt.outcome == "answered"
    with Sipp("auth", tmp_path / "wrong", calls=1) as sipp:
        trunk(sipp.address, username="tocsin", password="not-the-secret")
        request = call(municipality, [(FR, "fr")])
        run_until("SELECT count(*) = 2 FROM delivery_attempt", timeout=20)
        assert sipp.wait(10) == 1  # the scenario's 403
    delivery = Delivery.objects.get(request=request)
    assert _attempts(delivery)[0].detail == "the trunk refused our credentials"
    assert delivery.state == "queued"  # not this number's fault: it waits for the trunk
    assert Gateway.objects.get(name="loopback-trunk").health == "down"


def test_speech_is_rendered_once_per_language_not_per_call(municipality, tmp_path):
    before = speech.renders
    with Sipp("answer_silent", tmp_path, calls=6) as sipp:
        trunk(sipp.address, machine_detection=False, repeat=1, ack_wait_s=0)
        numbers = [(f"+329200010{i}", "nl" if i % 2 else "fr") for i in range(6)]
        request = call(municipality, numbers)
        run_until(ALL_ENDED, timeout=40)
        assert sipp.wait(10) == 0, sipp.errors()
    assert speech.renders - before == 2
    assert sorted(Speech.objects.filter(request=request).values_list("language", flat=True)) == ["fr", "nl"]
    assert set(Delivery.objects.filter(request=request).values_list("state", flat=True)) == {"delivered"}


def test_the_trunks_call_limit_holds_across_workers(municipality, tmp_path):
    with Sipp("answer_silent", tmp_path, calls=12) as sipp:
        # Two calls per worker at most: the third slot has to go to the other worker.
        trunk(sipp.address, concurrency=3, rate_per_s=50, machine_detection=False, repeat=1, ack_wait_s=0,
              calls_per_worker=2)  # fmt: skip
        request = call(municipality, [(f"+32920002{i:02d}", "nl") for i in range(12)], {"nl": {"text": "Test."}})
        run_until(ALL_ENDED, timeout=60, dispatchers=2)
        assert sipp.wait(10) == 0, sipp.errors()
        most = sipp.max_concurrent()
    assert set(Delivery.objects.filter(request=request).values_list("state", flat=True)) == {"delivered"}
    assert 2 <= most <= 3
    assert len({a.worker for a in Attempt.objects.all()}) == 2  # both workers called


def test_a_voice_gateway_config_error_names_its_key(db):
    from tocsin.delivery import services
    from tocsin.organisations.domain import RuleError

    with pytest.raises(RuleError) as caught:
        services.gateway_set(name="t", kind="sip", config={"server": "trunk.example", "codecs": ["G729"]})
    assert caught.value.field == "config.codecs"
    assert not Gateway.objects.filter(name="t").exists()
