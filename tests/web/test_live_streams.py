"""A live page left open (the central's console, the emergency desk, an alert's dashboard) must not fall
silently to the sign-in page: each stream ends well before the session's idle time, and the browser's
reconnect (a request) keeps the session alive; a page whose stream got an error answer opens a new one."""

from pathlib import Path

from django.conf import settings

from tocsin.delivery.views import STREAM_S

STATIC = Path(__file__).resolve().parents[2] / "src" / "tocsin"


def test_a_stream_ends_before_the_session_would_expire():
    assert STREAM_S <= settings.SESSION_COOKIE_AGE / 3


def test_the_console_and_the_desk_reopen_a_stream_the_browser_gave_up():
    for script in ("arc/static/arc/console.js", "emergency/static/emergency/desk.js"):
        text = (STATIC / script).read_text()
        assert "EventSource.CLOSED" in text and "setTimeout(connect" in text, script
