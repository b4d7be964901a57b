"""`tocsin gateway`: configure gateways from the console, checked, audited, secrets never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import database_url_for_tests
from tocsin.audit.models import AuditEntry
from tocsin.delivery.models import Gateway

pytestmark = pytest.mark.django_db(transaction=True)


def _tocsin(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url_for_tests()}
    return subprocess.run([sys.executable, "-m", "tocsin.cli", "gateway", *args], capture_output=True, text=True,
                          timeout=60, env=env)  # fmt: skip


def test_set_list_and_change_a_gateway_with_its_password_kept_out_of_sight(tmp_path):
    secrets = tmp_path / "smsc.json"
    secrets.write_text(json.dumps({"host": "smsc.operator.example", "port": 2775, "system_id": "tocsin",
                                   "password": "hunter2-smpp"}))  # fmt: skip
    out = _tocsin("set", "operator-smsc", "--kind", "smpp", "--rate", "80", "--concurrency", "2",
                  "--config-file", str(secrets), "--set", "source_addr=BE-Alert")  # fmt: skip
    assert out.returncode == 0, out.stderr
    gateway = Gateway.objects.get(name="operator-smsc")
    assert (gateway.channel, gateway.rate_per_s, gateway.concurrency) == ("sms", 80, 2)
    assert gateway.config["password"] == "hunter2-smpp" and gateway.config["source_addr"] == "BE-Alert"
    listing = _tocsin("list")
    assert "operator-smsc: smpp (sms), 80/s, 2 connection(s)" in listing.stdout
    assert "hunter2" not in listing.stdout
    entry = AuditEntry.objects.get(action="gateway.configured")
    assert "hunter2" not in json.dumps(entry.data) and entry.data["config"]["password"] == "••••"
    # A later change keeps what it does not mention.
    assert _tocsin("set", "operator-smsc", "--rate", "40").returncode == 0
    gateway.refresh_from_db()
    assert gateway.rate_per_s == 40 and gateway.config["password"] == "hunter2-smpp"


def test_bad_gateway_settings_name_the_field_and_change_nothing():
    out = _tocsin("set", "half", "--kind", "smpp", "--set", "host=smsc.example")
    assert out.returncode == 1 and "config" in out.stderr and "port, system_id" in out.stderr
    out = _tocsin("set", "fast", "--kind", "smtp", "--set", "host=mail.example", "--rate", "0")
    assert out.returncode == 1 and out.stderr.startswith("rate_per_s:")
    assert "Traceback" not in out.stderr
    assert not Gateway.objects.exists() and not AuditEntry.objects.filter(action="gateway.configured").exists()


def test_kannel_urls_prints_the_signed_reply_url_for_kannel_conf():
    assert _tocsin("set", "kannel", "--kind", "kannel", "--set", "url=http://127.0.0.1:13013/cgi-bin/sendsms",
                   "--set", "callback_base=https://tocsin.example.be").returncode == 0  # fmt: skip
    out = _tocsin("kannel-urls", "kannel")
    gateway = Gateway.objects.get()
    assert f'get-url = "https://tocsin.example.be/api/v1/gateways/kannel/{gateway.pk}/mo?s=' in out.stdout


def test_set_keeps_text_as_text_and_a_disabled_gateway_disabled():
    assert _tocsin("set", "sms", "--kind", "smpp", "--set", "host=smsc.example", "--set", "port=2775",
                   "--set", "system_id=0123", "--set", "source_addr=8850", "--disable").returncode == 0  # fmt: skip
    gateway = Gateway.objects.get()
    assert gateway.config == {"host": "smsc.example", "port": 2775, "system_id": "0123", "source_addr": "8850"}
    assert _tocsin("set", "sms", "--rate", "50").returncode == 0
    gateway.refresh_from_db()
    assert not gateway.enabled and gateway.rate_per_s == 50  # a later change does not switch it back on
    assert _tocsin("set", "sms", "--enable").returncode == 0
    gateway.refresh_from_db()
    assert gateway.enabled
