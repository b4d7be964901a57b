"""The voice channel's pure rules: trunk settings, billing per started minute, retries, dialling."""

from __future__ import annotations

import pytest

from tocsin.delivery.channels import voice
from tocsin.delivery.channels.voice import CallState, Outcome, Report


def test_ba_8_postpaid_voice_units_are_per_started_60_seconds_of_message():
    """BA-8-POSTPAID: a voice message is billed per started minute of what was played; nothing unanswered."""
    assert voice.billed_units(0) == 0
    assert voice.billed_units(0.02) == 1
    assert voice.billed_units(59.98) == 1
    assert voice.billed_units(60.00) == 1
    assert voice.billed_units(60.02) == 2
    assert voice.billed_units(3000 * 0.02) == 1  # 3,000 frames of 20 ms: exactly 60 s (float noise ignored)


def test_ba_8_postpaid_answered_calls_are_delivered_and_billed_unanswered_ones_not():
    played = Report(outcome=Outcome.ANSWERED, frames_played=3001)
    result = voice.result_of(7, 1, played, (120.0,))
    assert (result.state, result.units, result.acknowledged) == ("delivered", 2, False)
    acked = voice.result_of(7, 1, Report(outcome=Outcome.ACKNOWLEDGED, frames_played=100), (120.0,))
    assert (acked.state, acked.units, acked.acknowledged) == ("delivered", 1, True)
    machine = voice.result_of(7, 1, Report(outcome=Outcome.ANSWERING_MACHINE, frames_played=100), ())
    assert (machine.state, machine.units) == ("delivered", 1)
    busy = voice.result_of(7, 1, Report(outcome=Outcome.BUSY, status=486), (120.0,))
    assert busy.units == 0


def test_busy_and_no_answer_follow_the_trunks_retry_schedule_then_fail():
    schedule = (120.0, 300.0)
    busy = Report(outcome=Outcome.BUSY, status=486, detail="Busy Here")
    first = voice.result_of(1, 1, busy, schedule)
    assert (first.state, first.retry_in) == ("retry", 120.0)
    assert "busy (486)" in first.error
    assert voice.result_of(1, 2, Report(outcome=Outcome.NO_ANSWER), schedule).retry_in == 300.0
    last = voice.result_of(1, 3, busy, schedule)
    assert last.state == "failed" and last.retry_in is None


def test_numbers_refused_for_good_are_not_tried_again():
    assert voice.outcome_of_status(404) is Outcome.REJECTED
    assert voice.outcome_of_status(604) is Outcome.REJECTED
    assert voice.outcome_of_status(486) is Outcome.BUSY
    assert voice.outcome_of_status(480) is Outcome.NO_ANSWER
    assert voice.outcome_of_status(503) is Outcome.FAILED  # the trunk is overloaded: later
    rejected = voice.result_of(1, 1, Report(outcome=Outcome.REJECTED, status=404), (120.0, 300.0))
    assert rejected.state == "failed"


def test_trunk_settings_default_and_each_mistake_names_its_key():
    config = voice.parse_config({"server": "trunk.example:5070", "password": "x"})
    assert config.server == ("trunk.example", 5070) and config.domain == "trunk.example:5070"
    assert config.codecs == (8, 0) and config.retry_after_s == (120.0, 300.0, 900.0) and config.repeat == 2
    for bad, key in [
        ({}, "server"),
        ({"server": "a b"}, "server"),
        ({"server": "trunk:99999"}, "server"),
        ({"server": "t", "codecs": ["G729"]}, "codecs"),
        ({"server": "t", "retry_after_s": [1, 2, 3, 4, 5, 6]}, "retry_after_s"),
        ({"server": "t", "retry_after_s": "120"}, "retry_after_s"),
        ({"server": "t", "ring_timeout_s": 0}, "ring_timeout_s"),
        ({"server": "t", "repeat": True}, "repeat"),
        ({"server": "t", "caller_id": "BE-Alert"}, "caller_id"),
        ({"server": "t", "username": "a@b"}, "username"),
        ({"server": "t", "display_name": 'x"<sip:evil>'}, "display_name"),
        ({"server": "t", "number_format": "local"}, "number_format"),
    ]:
        with pytest.raises(voice.ConfigError) as caught:
            voice.parse_config(bad)
        assert caught.value.key == key, bad


def test_dial_string_per_trunk_format():
    assert voice.dial_string("+3292345678", "e164") == "+3292345678"
    assert voice.dial_string("+3292345678", "national") == "092345678"
    assert voice.dial_string("+31201234567", "national") == "+31201234567"  # abroad stays international
    assert voice.dial_string("+3292345678", "00") == "003292345678"


def test_a_call_moves_only_along_its_transition_table():
    call = voice.Call(target="sip:x@y", language="nl")
    call.move(CallState.RINGING)
    call.move(CallState.ANSWERED)
    with pytest.raises(RuntimeError):
        call.move(CallState.RINGING)
    call.move(CallState.PLAYING)
    call.move(CallState.WAITING)
    call.move(CallState.ENDED)
    with pytest.raises(RuntimeError):
        call.move(CallState.PLAYING)


def test_answering_machine_detection_counts_voiced_frames_and_bridges_short_gaps():
    call = voice.Call(target="sip:x@y", language="nl")
    loud, quiet = 1000.0**2, 10.0**2
    for _ in range(50):
        call.heard(loud)
    for _ in range(10):  # 200 ms breath: bridged
        call.heard(quiet)
    for _ in range(50):
        call.heard(loud)
    assert call.longest_voiced == 110
    for _ in range(20):  # 400 ms: the run ends
        call.heard(quiet)
    call.heard(loud)
    assert call.voiced_run == 1 and call.longest_voiced == 110


def test_a_trunk_that_refuses_us_does_not_use_up_the_recipients_tries():
    """STYLE 11: a wrong password (or missing speech) is not the number's fault: the try is not counted and
    the call waits for the set-up to be fixed."""
    refused = Report(outcome=Outcome.FAILED, status=403, detail="the trunk refused our credentials", auth_failed=True)
    result = voice.result_of(1, 3, refused, (120.0, 300.0))
    assert (result.state, result.uncounted, result.retry_in) == ("retry", True, 60.0)


def test_booleans_and_numbers_given_as_text_on_the_command_line():
    config = voice.parse_config({"server": "t", "register": "false", "machine_detection": "no", "ring_timeout_s": "20"})
    assert config.register is False and config.machine_detection is False and config.ring_timeout_s == 20
    with pytest.raises(voice.ConfigError) as caught:
        voice.parse_config({"server": "t", "register": "maybe"})
    assert caught.value.key == "register"
