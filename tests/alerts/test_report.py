"""The report of an alert: timeline, figures per channel, units and replies, as CSV and PDF — no personal data
(BA-7.4)."""

from __future__ import annotations

import pytest

from tests.alerts.test_launch import TEXTS, audience, operator  # noqa: F401 — fixtures
from tests.delivery.test_sms_smpp import _drain
from tocsin.alerts import services

pytestmark = pytest.mark.django_db(transaction=True)


def test_ba_7_4_report_has_the_figures_and_no_recipient(operator, audience, peers, as_user):  # noqa: F811
    alert = services.alert_create(actor=operator, event="Overstroming", channels=["sms"], texts=TEXTS,
                                  targets={"areas": [audience["area"]]})  # fmt: skip
    services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="3")
    _drain(timeout=10)
    client = as_user(operator)
    csv = client.get(f"/alerts/{alert.pk}/report.csv").content.decode("utf-8-sig")
    assert "channel sms;delivered;3" in csv and "billing;sms_units;3" in csv
    assert "timeline;" in csv and ";drafted operator@zottegem.be" in csv and "launched" in csv
    assert "+3247" not in csv
    pdf = client.get(f"/alerts/{alert.pk}/report.pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")
    assert b"+3247" not in pdf.content


def test_the_pdf_report_embeds_a_unicode_font_for_any_text(operator, audience, peers, as_user):  # noqa: F811
    """An event named in Polish or with a € sign comes out whole (DejaVu Sans, installed by make test): the
    embedded font's ToUnicode map holds Ł (U+0141) and € (U+20AC), where the core font would print '?'."""
    alert = services.alert_create(actor=operator, event="Powódź – Łódź €", channels=["sms"], texts=TEXTS,
                                  targets={"areas": [audience["area"]]})  # fmt: skip
    pdf = as_user(operator).get(f"/alerts/{alert.pk}/report.pdf").content
    assert b"DejaVuSans" in pdf
    assert b"> <0141>" in pdf and b"> <20AC>" in pdf  # the ToUnicode map: Ł and € are in the text
