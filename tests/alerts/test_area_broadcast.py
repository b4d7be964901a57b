"""Location-based SMS and cell broadcast, end to end against real peers on loopback: an operator endpoint
taking CAP over HTTPS (checked against the OASIS XSD) and a cell broadcast centre checking bodies as
osmo-cbc's ECBE parser does. Launch, the operator's counts, Update and Cancel (BA-2, BA-4-T1)."""

from __future__ import annotations

import time

import pytest

from tests.alerts.test_launch import _citizen
from tests.conftest import drain_mail_queue
from tests.delivery.test_sms_smpp import _drain
from tests.organisations.factories import UserFactory
from tests.peers.cbc import CellBroadcastCentre
from tests.peers.operator_lbsms import OperatorEndpoint
from tocsin.alerts import services
from tocsin.alerts.models import Alert, AreaBroadcast
from tocsin.delivery.services import gateway_set
from tocsin.geo.models import Municipality
from tocsin.organisations.domain import RuleError

pytestmark = pytest.mark.django_db(transaction=True)
AREA = {"type": "municipalities", "nis_codes": ["41081"]}
TEXTS = {
    "nl": {"headline": "Hoogwater", "sms": "Hoogwater in Zottegem: blijf binnen.",
           "cb": "Hoogwater in Zottegem. Blijf binnen, sluit ramen en deuren. Info: zottegem.be"},
    "fr": {"headline": "Crue", "sms": "Crue à Zottegem : restez à l'intérieur.",
           "cb": "Crue à Zottegem. Restez à l'intérieur."},
}  # fmt: skip


def _square(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


@pytest.fixture
def operator(municipality):
    return UserFactory(organisation=municipality, email="operator@zottegem.be", roles=["operator"])


@pytest.fixture
def outlines(register):
    Municipality.objects.filter(nis_code="41081").update(boundary=_square(3.76, 50.83, 3.86, 50.91), languages="nl")
    Municipality.objects.filter(nis_code="44021").update(boundary=_square(3.65, 51.0, 3.80, 51.1), languages="nl")


@pytest.fixture
def area_peers(settings, tmp_path, outlines, peers):
    settings.TOCSIN_BROADCAST_POLL_S = 0  # the operator's counts are read again at once, until it ends
    with OperatorEndpoint(duration_s=0.3) as operator_endpoint, CellBroadcastCentre() as cbc:
        ca = tmp_path / "operator-ca.pem"
        ca.write_bytes(operator_endpoint.ca_pem)
        gateway_set(name="operator-a", kind="cap-https",
                    config={"url": operator_endpoint.url, "token": "op-secret", "ca_file": str(ca)})  # fmt: skip
        gateway_set(name="cbc-a", kind="ecbe",
                    config={"url": cbc.url, "cbe_name": "tocsin", "coverage": ["41081", "44021"]})  # fmt: skip
        yield operator_endpoint, cbc


def _launch(operator, alert: Alert) -> Alert:
    preview = services.alert_preview(actor=operator, alert_id=alert.pk)
    return services.alert_launch(actor=operator, alert_id=alert.pk, confirmation=preview["confirmation"])


def test_ba_2_alert_goes_to_the_operator_and_the_cbc_then_is_updated_and_cancelled(operator, register, area_peers):
    operator_endpoint, cbc = area_peers
    _citizen(register, "An", "nl", "+32470300001")
    alert = services.alert_create(actor=operator, event="Overstroming", channels=["sms", "lbsms", "cb"],
                                  texts=TEXTS, targets={"areas": [AREA]})  # fmt: skip
    preview = services.alert_preview(actor=operator, alert_id=alert.pk)
    plan = {b["channel"]: b for b in preview["area_broadcasts"]}
    assert plan["cb"]["languages"] == ["nl"] and plan["cb"]["pages"] == {"nl": 1}
    assert plan["cb"]["beyond_area"] == 1  # the centre covers Gent too: the operator is told before launch
    assert preview["confirmation"] == "1"
    alert = services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="1")
    assert AreaBroadcast.objects.filter(alert=alert, state="queued").count() == 2  # with the launch, not after

    drain_mail_queue(("broadcast",))
    _drain(timeout=10)
    [received] = operator_endpoint.accepted  # valid against the XSD, with a polygon and SMS_TEXT per info
    assert received["msg_type"] == "Alert" and received["identifier"] == alert.identifier
    assert set(received["sms_texts"]) >= {"Hoogwater in Zottegem: blijf binnen."}
    [message] = cbc.created
    assert message["smscb_message"]["message_id"] == 4375  # EU-Alert: severe, immediate, observed
    assert cbc.messages[4375]["text"] == TEXTS["nl"]["cb"]
    lbsms = AreaBroadcast.objects.get(alert=alert, channel="lbsms")
    assert lbsms.state == "ended" and lbsms.counts["handsets"] > 0 and lbsms.counts["delivered"] > 0
    assert set(lbsms.counts) == {"cells", "handsets", "sent", "delivered"}  # counts, never numbers
    assert AreaBroadcast.objects.get(alert=alert, channel="cb").state == "broadcasting"

    update = services.alert_follow_up(actor=operator, alert_id=alert.pk, msg_type="Update")
    texts = {**TEXTS, "nl": {**TEXTS["nl"], "cb": "Hoogwater in Zottegem: het water zakt. Blijf nog binnen."}}
    services.alert_update(actor=operator, alert_id=update.pk, texts=texts)
    update = _launch(operator, update)
    drain_mail_queue(("broadcast",))
    assert cbc.deleted == [4375]  # osmo-cbc cannot replace a message: the original goes first
    assert cbc.created[-1]["smscb_message"]["serial_nr"]["serial_nr_decoded"]["update_nr"] == 1
    assert cbc.messages[4375]["text"].endswith("Blijf nog binnen.")
    assert operator_endpoint.accepted[-1]["msg_type"] == "Update"
    assert AreaBroadcast.objects.get(alert=alert, channel="cb").state == "ended"
    with pytest.raises(RuleError) as exc:  # the original was replaced: only the update is followed up now
        services.alert_follow_up(actor=operator, alert_id=alert.pk, msg_type="Cancel")
    assert exc.value.field == "alert_id" and update.identifier in str(exc.value.params)

    cancel = _launch(operator, services.alert_follow_up(actor=operator, alert_id=update.pk, msg_type="Cancel"))
    # The operator had sent every SMS of the update (ended): only the cell broadcast was still on the air.
    assert cancel.snapshot["broadcasts_withdrawn"] == 1
    drain_mail_queue(("broadcast",))
    assert cbc.deleted == [4375, 4375] and not cbc.messages
    states = dict(AreaBroadcast.objects.filter(alert=update).values_list("channel", "state"))
    assert states == {"lbsms": "ended", "cb": "withdrawn"}
    assert not AreaBroadcast.objects.filter(alert=cancel).exists()  # a Cancel withdraws; it broadcasts nothing
    assert set(Alert.objects.filter(msg_type__in=["Alert", "Update"]).values_list("state", flat=True)) == {
        "cancelled"
    }  # the whole chain


def test_ba_2_an_area_broadcast_alone_is_confirmed_by_typing_the_event(operator, area_peers):
    alert = services.alert_create(actor=operator, event="Gaslek", channels=["lbsms"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    assert services.alert_preview(actor=operator, alert_id=alert.pk)["confirmation"] == "Gaslek"
    with pytest.raises(RuleError) as exc:
        services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="0")
    assert exc.value.field == "confirmation" and not AreaBroadcast.objects.exists()
    services.alert_launch(actor=operator, alert_id=alert.pk, confirmation=" gaslek ")
    assert AreaBroadcast.objects.get().channel == "lbsms"


def test_a_cbc_whose_coverage_misses_the_area_is_left_out_and_cb_then_refused(operator, area_peers):
    _operator_endpoint, cbc = area_peers
    alert = services.alert_create(actor=operator, event="Brand", channels=["lbsms", "cb"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    gateway_set(name="cbc-gent", kind="ecbe", config={"url": cbc.url, "cbe_name": "tocsin", "coverage": ["44021"]})
    plan = services.alert_preview(actor=operator, alert_id=alert.pk)["area_broadcasts"]
    assert [b["gateway"] for b in plan] == ["operator-a", "cbc-a"]  # not the centre of Gent only
    gateway_set(name="cbc-a", kind="ecbe", config={"url": cbc.url, "cbe_name": "tocsin", "coverage": ["44021"]})
    with pytest.raises(RuleError) as exc:  # cell broadcast chosen, no centre covers the area: said, not skipped
        services.alert_preview(actor=operator, alert_id=alert.pk)
    assert exc.value.field == "channels"
    with pytest.raises(RuleError):
        services.alert_launch(actor=operator, alert_id=alert.pk, confirmation="Brand")
    assert not AreaBroadcast.objects.exists()


def test_ba_4_t1_an_entity_never_sends_through_another_entitys_gateway(operator, area_peers, make_org):
    operator_endpoint, _cbc = area_peers
    other = make_org("municipality", name="Gemeente Gent", nis_code="44021")
    gateway_set(name="operator-a", kind="cap-https", organisation_id=other.pk,
                config={"url": operator_endpoint.url, "token": "op-secret"})  # fmt: skip
    alert = services.alert_create(actor=operator, event="Brand", channels=["lbsms"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    with pytest.raises(RuleError) as exc:
        services.alert_preview(actor=operator, alert_id=alert.pk)
    assert exc.value.field == "channels"  # Gent's own operator gateway is not Zottegem's to use


def test_an_operator_in_trouble_is_tried_again_and_a_refusal_fails_at_once(operator, area_peers, tmp_path):
    operator_endpoint, _cbc = area_peers
    operator_endpoint.fail_with = 503
    alert = services.alert_create(actor=operator, event="Brand", channels=["lbsms"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    _launch(operator, alert)
    drain_mail_queue(("broadcast",))
    row = AreaBroadcast.objects.get()
    assert row.state == "queued" and row.attempts == 1 and "503" in row.error  # a job is scheduled to retry
    gateway_set(
        name="operator-b",
        kind="cap-https",
        config={"url": operator_endpoint.url, "token": "wrong", "ca_file": str(tmp_path / "operator-ca.pem")},
    )
    operator_endpoint.fail_with = None
    other = services.alert_create(actor=operator, event="Brand", channels=["lbsms"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    _launch(operator, other)
    drain_mail_queue(("broadcast",))
    refused = AreaBroadcast.objects.get(alert=other, gateway__name="operator-b")
    assert refused.state == "failed" and "401" in refused.error  # the same request would be refused again


def test_a_cancel_before_the_broadcast_went_out_withdraws_it_without_a_call(operator, area_peers):
    operator_endpoint, cbc = area_peers
    alert = services.alert_create(actor=operator, event="Brand", channels=["lbsms", "cb"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    alert = _launch(operator, alert)
    cancel = _launch(operator, services.alert_follow_up(actor=operator, alert_id=alert.pk, msg_type="Cancel"))
    assert cancel.snapshot["broadcasts_withdrawn"] == 0
    drain_mail_queue(("broadcast",))
    assert not operator_endpoint.accepted and not cbc.created
    assert set(AreaBroadcast.objects.values_list("state", flat=True)) == {"withdrawn"}


def test_an_operator_endpoint_with_an_untrusted_certificate_gets_nothing(operator, area_peers):
    operator_endpoint, _cbc = area_peers
    gateway_set(name="operator-a", kind="cap-https", config={"url": operator_endpoint.url, "token": "op-secret"})
    alert = services.alert_create(actor=operator, event="Brand", channels=["lbsms"], texts=TEXTS,
                                  targets={"areas": [AREA]})  # fmt: skip
    _launch(operator, alert)
    drain_mail_queue(("broadcast",))
    row = AreaBroadcast.objects.get()
    assert not operator_endpoint.accepted and row.state == "queued" and "CERTIFICATE_VERIFY_FAILED" in row.error


def test_ba_2_a_cancel_while_the_operator_did_not_answer_never_lets_the_alert_go_out_later(operator, area_peers):
    """The send got no answer it could trust (503) and waits for a retry; the entity cancels: the retry sends
    nothing, the operator is told, and a later send finds the broadcast withdrawn."""
    from tocsin.alerts import broadcasts

    operator_endpoint, _cbc = area_peers
    operator_endpoint.fail_with = 503
    alert = _launch(operator, services.alert_create(actor=operator, event="Brand", channels=["lbsms"],
                                                    texts=TEXTS, targets={"areas": [AREA]}))  # fmt: skip
    drain_mail_queue(("broadcast",))
    row = AreaBroadcast.objects.get()
    assert row.state == "queued" and row.attempts == 1
    operator_endpoint.fail_with = None
    cancel = _launch(operator, services.alert_follow_up(actor=operator, alert_id=alert.pk, msg_type="Cancel"))
    assert cancel.snapshot["broadcasts_withdrawn"] == 1  # in doubt: the operator is told
    time.sleep(2.2)  # the retry is due: it runs first (same lock), sees the alert cancelled and sends nothing
    drain_mail_queue(("broadcast",))
    row.refresh_from_db()
    assert row.state == "withdrawn"
    assert [r for r in operator_endpoint.rejected if r[0] == 400]  # it had never heard of the alert
    broadcasts.broadcast_send(row.pk)  # the retry, when its time comes
    row.refresh_from_db()
    assert row.state == "withdrawn" and not operator_endpoint.accepted
