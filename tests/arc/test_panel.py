"""`tocsin panel`, the simulated panel, against a real receiver; then the case builder reads what it sent
into an alarm case (issue 9), as an operator would see it."""

from __future__ import annotations

import pytest

from tests.arc.test_receiver import KEY, Running
from tests.conftest import database_url_for_tests
from tocsin.alarms.services import as_member
from tocsin.arc import services
from tocsin.arc.cases import build_cases
from tocsin.arc.models import AlarmCase, Signal
from tocsin.arc.receiver import Receiver
from tocsin.cli import main

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def running(central_op, central):
    services.account_set(actor=as_member(central_op), account="1234")
    services.account_set(actor=as_member(central_op), account="5678", key=KEY, encryption_required=True)
    run = Running(Receiver(dsn=database_url_for_tests(), central_id=central.pk))
    yield run
    run.stop()


def test_panel_events_acknowledged_and_read_into_a_case(running, capsys):
    port = str(running.tcp_port)
    assert main(["panel", "--port", port, "--account", "1234", "--code", "BA", "--zone", "3"]) == 0
    assert main(["panel", "--port", port, "--account", "5678", "--key", KEY, "--code", "130", "--zone", "4",
                 "--extended", "V=https://cam.example/1"]) == 0  # fmt: skip
    assert main(["panel", "--port", str(running.udp_port), "--udp", "--account", "1234", "--poll"]) == 0
    out = capsys.readouterr().out
    assert out.count("→ ACK") == 3 and "encrypted" in out
    assert Signal.objects.count() == 3
    build_cases()
    assert sorted(AlarmCase.objects.values_list("category", flat=True)) == ["burglary", "burglary"]


def test_panel_unknown_account_and_bad_arguments(running, capsys):
    assert main(["panel", "--port", str(running.tcp_port), "--account", "9999"]) == 1
    assert "NAK" in capsys.readouterr().out
    assert main(["panel", "--port", str(running.tcp_port), "--account", "1234", "--key", "short"]) == 2
    assert main(["panel", "--port", str(running.tcp_port), "--account", "1234", "--extended", "bad"]) == 2
