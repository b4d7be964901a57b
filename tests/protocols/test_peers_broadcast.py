"""The broadcast peers really check what they are sent: the operator's CAP-over-HTTPS endpoint and the
osmo-cbc-like cell broadcast centre accept good requests and refuse each kind of bad one. No database."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from pyproj import Geod

from tests.peers import cbc as cbc_peer
from tests.peers.cbc import CellBroadcastCentre
from tests.peers.operator_lbsms import OperatorEndpoint, polygon_km2
from tocsin.protocols import cap

BRUSSELS = timezone(timedelta(hours=1))
SENT = datetime(2026, 11, 23, 18, 4, 5, tzinfo=BRUSSELS)
CAP_TYPE = {"Content-Type": "application/cap+xml"}
# About 0.1 by 0.1 degrees around Gent: ~77 km².
SQUARE = [(51.0, 3.7), (51.1, 3.7), (51.1, 3.8), (51.0, 3.8), (51.0, 3.7)]


# --- the operator's CAP over HTTPS ---------------------------------------------------------------


def make_alert(identifier: str = "BE-44021-2026-0042", *, msg_type: str = "Alert", sms: str | None = "Blijf binnen.",
               polygons: list | None = None, circles: list | None = None, **fields: Any) -> cap.Alert:  # fmt: skip
    area = cap.Area("Gent", polygons=polygons or [], circles=[(51.05, 3.72, 2.0)] if circles is None else circles,
                    geocodes=[("NIS", "44021")])  # fmt: skip
    info = cap.Info(event="Overstroming", urgency="Immediate", severity="Severe", certainty="Observed",
                    language="nl-BE", headline="Hoogwater", parameters=[("SMS_TEXT", sms)] if sms else [],
                    areas=[area])  # fmt: skip
    values: dict[str, Any] = dict(identifier=identifier, sender="alerts@gent.be", sent=SENT, status="Actual",
                                  msg_type=msg_type, scope="Public", infos=[info])  # fmt: skip
    values.update(fields)
    return cap.Alert(**values)


def reference_to(alert: cap.Alert) -> cap.Reference:
    return cap.Reference(alert.sender, alert.identifier, alert.sent)


@pytest.fixture
def operator() -> Iterator[OperatorEndpoint]:
    with OperatorEndpoint(duration_s=1.0) as endpoint:
        yield endpoint


@pytest.fixture
def client(operator: OperatorEndpoint) -> Iterator[httpx.Client]:
    with httpx.Client(verify=operator.client_ssl_context(), headers={"Authorization": "Bearer op-secret"}) as c:
        yield c


def post(client: httpx.Client, operator: OperatorEndpoint, document: bytes) -> httpx.Response:
    return client.post(operator.url, content=document, headers=CAP_TYPE)


def test_a_valid_alert_is_accepted_then_broadcast_with_growing_counts(operator, client):
    response = post(client, operator, cap.to_xml(make_alert()))
    assert response.status_code == 202, response.text
    reference = response.json()["reference"]
    [accepted] = operator.wait_for(1)
    assert accepted["reference"] == reference and accepted["identifier"] == "BE-44021-2026-0042"
    assert accepted["msg_type"] == "Alert" and accepted["languages"] == ["nl-BE"]
    assert accepted["sms_texts"] == ["Blijf binnen."]

    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = client.get(f"{operator.url}/{reference}")
        assert status.status_code == 200
        seen.append(status.json())
        if seen[-1]["state"] == "ended":
            break
        time.sleep(0.05)
    first, last = seen[0], seen[-1]
    assert first["state"] in ("accepted", "broadcasting")
    assert last["state"] == "ended"
    # A circle of 2 km at 300 handsets/km²: round(π·4·300) handsets, one cell per 500.
    assert last["handsets"] == 3770 and last["cells"] == 7
    assert last["sent"] == 3770 and last["delivered"] == int(3770 * 0.95)
    sent = [s["sent"] for s in seen]
    assert sent == sorted(sent), "sent never goes down"
    assert any(s["state"] == "broadcasting" and 0 < s["sent"] < s["handsets"] for s in seen)
    assert all(s["delivered"] == int(s["sent"] * 0.95) for s in seen)
    assert set(last) == {"reference", "identifier", "state", "cells", "handsets", "sent", "delivered"}


def test_polygon_area_is_close_to_the_geodesic_area():
    geodesic, _ = Geod(ellps="WGS84").polygon_area_perimeter([lon for _, lon in SQUARE], [lat for lat, _ in SQUARE])
    assert polygon_km2(SQUARE) == pytest.approx(abs(geodesic) / 1e6, rel=0.01)


def test_handsets_come_from_the_first_infos_polygons_and_circles(operator, client):
    alert = make_alert(polygons=[SQUARE], circles=[(51.05, 3.72, 1.0)])
    assert post(client, operator, cap.to_xml(alert)).status_code == 202
    expected = round((polygon_km2(SQUARE) + 3.141592653589793) * 300)
    assert operator.wait_for(1)[0]["handsets"] == expected


def cap_text(**changes: Any) -> str:
    return cap.to_xml(make_alert(**changes)).decode()


@pytest.mark.parametrize(
    ("document", "headers", "status", "reason"),
    [
        pytest.param(cap_text(), {"Authorization": "Bearer wrong"}, 401, "unauthorised", id="wrong-token"),
        pytest.param(cap_text(), {"Authorization": ""}, 401, "unauthorised", id="no-token"),
        pytest.param(cap_text(), {"Content-Type": "application/xml"}, 415, "application/cap+xml", id="content-type"),
        pytest.param(
            "<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x",
            {},
            400,
            "not well-formed",
            id="malformed",
        ),
        pytest.param(
            cap_text().replace("<sender>alerts@gent.be</sender>", ""), {}, 400, "not valid CAP 1.2", id="no-sender"
        ),
        pytest.param(
            cap_text().replace("<status>Actual</status>", "<status>Maybe</status>"),
            {},
            400,
            "not valid CAP 1.2",
            id="bad-status",
        ),
        pytest.param(cap_text(sms=None), {}, 400, "SMS_TEXT", id="no-sms-text"),
        pytest.param(cap_text(sms="x" * 1001), {}, 400, "more than 1000", id="sms-too-long"),
        pytest.param(cap_text(circles=[]), {}, 400, "<polygon> or <circle>", id="no-geometry"),
        pytest.param(
            cap_text(scope="Restricted", restriction="crisis cells"),
            {},
            400,
            "scope must be Public",
            id="restricted",
        ),
        pytest.param(cap_text(infos=[]), {}, 400, "at least one <info>", id="no-info"),
        pytest.param(
            cap_text().replace("?>", '?><!DOCTYPE alert [<!ENTITY x "boom">]>', 1), {}, 400, "DOCTYPE", id="doctype"
        ),
        pytest.param(cap_text().replace("?>", "?><!doctype alert>", 1), {}, 400, "DOCTYPE", id="doctype-lowercase"),
        pytest.param(
            "<valueName xmlns='urn:oasis:names:tc:emergency:cap:1.2'>x</valueName>",
            {},
            400,
            "not a CAP 1.2 alert",
            id="not-an-alert",
        ),
        pytest.param(cap_text().replace("51.05,3.72 2", "51.05;3.72 2"), {}, 400, "circle", id="bad-circle"),
    ],
)
def test_the_operator_refuses_what_it_cannot_broadcast(operator, client, document, headers, status, reason):
    response = client.post(operator.url, content=document.encode(), headers={**CAP_TYPE, **headers})
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]
    assert operator.accepted == [] and operator.rejected == [(status, response.json()["error"])]
    assert operator.requests == 1


def test_a_document_over_1_mib_is_refused_unread(operator, client):
    response = post(client, operator, b"<" + b"x" * (1024 * 1024))
    assert response.status_code == 413 and operator.accepted == []


def test_the_certificate_is_only_trusted_through_the_operators_ca(operator):
    with pytest.raises(httpx.ConnectError), httpx.Client() as untrusting:  # the system's CAs only
        untrusting.post(operator.url, content=cap.to_xml(make_alert()), headers=CAP_TYPE)
    assert operator.requests == 0


def test_status_needs_the_token_and_a_known_reference(operator, client):
    assert post(client, operator, cap.to_xml(make_alert())).status_code == 202
    assert client.get(f"{operator.url}/op-1", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get(f"{operator.url}/op-99").status_code == 404
    assert client.get(f"{operator.url}/op-1").status_code == 200


def test_cancel_marks_the_broadcast_cancelled(operator, client):
    alert = make_alert()
    reference = post(client, operator, cap.to_xml(alert)).json()["reference"]
    cancel = make_alert("BE-44021-2026-0043", msg_type="Cancel", references=[reference_to(alert)], infos=[])
    response = post(client, operator, cap.to_xml(cancel))
    assert response.status_code == 202, response.text
    assert client.get(f"{operator.url}/{reference}").json()["state"] == "cancelled"
    assert operator.accepted[-1]["msg_type"] == "Cancel" and operator.accepted[-1]["targets"] == [reference]
    time.sleep(1.1)  # past duration_s: a cancelled broadcast stays cancelled, its count frozen
    status = client.get(f"{operator.url}/{reference}").json()
    assert status["state"] == "cancelled" and status["sent"] < status["handsets"]


def test_cancel_or_update_of_an_unknown_alert_is_refused(operator, client):
    alert = make_alert()
    assert post(client, operator, cap.to_xml(alert)).status_code == 202
    elsewhere = cap.Reference("alerts@gent.be", "BE-44021-2026-9999", SENT)
    for msg_type in ("Cancel", "Update"):
        document = cap.to_xml(make_alert(f"BE-{msg_type}", msg_type=msg_type, references=[elsewhere]))
        response = post(client, operator, document)
        assert response.status_code == 400 and "references" in response.json()["error"]
    wrong_time = cap.Reference(alert.sender, alert.identifier, SENT + timedelta(seconds=1))
    response = post(client, operator, cap.to_xml(make_alert("BE-x", msg_type="Cancel", references=[wrong_time])))
    assert response.status_code == 400


def test_an_update_replaces_the_original(operator, client):
    alert = make_alert()
    first = post(client, operator, cap.to_xml(alert)).json()["reference"]
    update = make_alert("BE-44021-2026-0043", msg_type="Update", references=[reference_to(alert)], sms="Nu droog.")
    second = post(client, operator, cap.to_xml(update)).json()["reference"]
    assert client.get(f"{operator.url}/{first}").json()["state"] == "ended"
    assert client.get(f"{operator.url}/{second}").json()["state"] in ("accepted", "broadcasting")
    assert operator.accepted[-1]["sms_texts"] == ["Nu droog."]


def test_a_retried_document_gets_its_first_reference_and_a_reused_identifier_is_a_conflict(operator, client):
    document = cap.to_xml(make_alert())
    first = post(client, operator, document).json()["reference"]
    again = post(client, operator, document)
    assert again.status_code == 202 and again.json()["reference"] == first
    assert len(operator.accepted) == 1 and operator.duplicates == 1
    other = post(client, operator, cap.to_xml(make_alert(sms="Iets anders.")))
    assert other.status_code == 409


def test_fail_with_answers_every_post_until_cleared(operator, client):
    operator.fail_with = 503
    for _ in range(2):
        assert post(client, operator, cap.to_xml(make_alert())).status_code == 503
    operator.fail_with = None
    assert post(client, operator, cap.to_xml(make_alert())).status_code == 202
    assert operator.requests == 3 and [s for s, _ in operator.rejected] == [503, 503]


# --- the cell broadcast centre (osmo-cbc's ECBE REST API) ---------------------------------------

# What contrib/cbc-apitool.py sends for `create-cbs --msg-id 4370 --payload-data-utf8 …` (its defaults).
APITOOL_CBS: dict[str, Any] = {
    "cbe_name": "cbc_apitool",
    "category": "normal",
    "repetition_period": 5,
    "num_of_bcast": 999,
    "scope": {"scope_plmn": {}},
    "smscb_message": {
        "message_id": 4370,
        "serial_nr": {"serial_nr_decoded": {"geo_scope": "plmn_wide", "msg_code": 768, "update_nr": 0}},
        "payload": {"payload_decoded": {"character_set": "gsm", "data_utf8": "Test: stay inside"}},
    },
}
APITOOL_ETWS: dict[str, Any] = {
    **APITOOL_CBS,
    "smscb_message": {
        **APITOOL_CBS["smscb_message"],
        "message_id": 4352,
        "payload": {
            "payload_etws": {
                "warning_type": {"warning_type_decoded": "earthquake"},
                "emergency_user_alert": True,
                "popup_on_display": True,
            }
        },
    },
}


def changed(change) -> dict[str, Any]:
    body = copy.deepcopy(APITOOL_CBS)
    change(body)
    return body


def text_body(text: str, charset: str = "gsm") -> dict[str, Any]:
    return changed(lambda b: b["smscb_message"]["payload"].update(
        {"payload_decoded": {"character_set": charset, "data_utf8": text}}))  # fmt: skip


INVALID: dict[str, dict[str, Any]] = {
    "scope-cell-list": changed(lambda b: b.update(scope={"scope_cell_list": {"cgi": []}})),
    "no-repetition-period": changed(lambda b: b.pop("repetition_period")),
    "repetition-period-real": changed(lambda b: b.update(repetition_period=5.0)),
    "repetition-period-4096": changed(lambda b: b.update(repetition_period=4096)),
    "no-cbe-name": changed(lambda b: b.pop("cbe_name")),
    "unknown-category": changed(lambda b: b.update(category="urgent")),
    "misspelt-key": changed(lambda b: b.update(num_of_bcasts=1)),
    "msg-code-1024": changed(lambda b: b["smscb_message"]["serial_nr"]["serial_nr_decoded"].update(msg_code=1024)),
    "two-serial-nrs": changed(lambda b: b["smscb_message"]["serial_nr"].update(serial_nr_encoded=1)),
    "bare-serial-nr": changed(lambda b: b["smscb_message"].update(serial_nr=12288)),
    "no-character-set": changed(lambda b: b["smscb_message"]["payload"]["payload_decoded"].pop("character_set")),
    "long-language": changed(lambda b: b["smscb_message"]["payload"]["payload_decoded"].update(language="nld")),
    "bare-payload": changed(lambda b: b["smscb_message"].update(payload={"data_utf8": "x"})),
    "message-id-65536": changed(lambda b: b["smscb_message"].update(message_id=65536)),
    "etws-unknown-warning": changed(
        lambda b: b["smscb_message"].update(
            payload={"payload_etws": {"warning_type": {"warning_type_decoded": "earthquake_and_tsunami"}}}
        )
    ),
    "too-long-gsm": text_body("a" * 1406),  # 1406 septets need 1231 octets
    "too-long-gsm-extension": text_body("€" * 703),  # 703 extension characters: 1406 septets
    "too-long-ucs2": text_body("é" * 616, "ucs2"),
    "non-gsm-character": text_body("Blijf binnen 中", "gsm"),
    "emoji-in-ucs2": text_body("Blijf binnen 🚨", "ucs2"),
    "empty-text": text_body(""),
    "8bit-not-hex": text_body("zz", "8bit"),
}


@pytest.fixture
def centre() -> Iterator[CellBroadcastCentre]:
    with CellBroadcastCentre() as c:
        yield c


def test_the_body_cbc_apitool_sends_is_created(centre):
    response = httpx.post(f"{centre.url}/message", json=APITOOL_CBS)
    assert (response.status_code, response.text) == (201, "Created")
    assert centre.wait_for(1) == [APITOOL_CBS]
    message = centre.messages[4370]
    assert message["pages"] == 1 and message["text"] == "Test: stay inside" and message["language"] is None
    assert httpx.post(f"{centre.url}/message", json=APITOOL_ETWS).status_code == 201
    assert centre.messages[4352]["pages"] == 0


def test_a_message_id_in_use_is_a_conflict_until_deleted(centre):
    assert httpx.post(f"{centre.url}/message", json=APITOOL_CBS).status_code == 201
    again = httpx.post(f"{centre.url}/message", json=APITOOL_CBS)
    assert (again.status_code, again.text) == (409, "Could not allocate")
    deleted = httpx.delete(f"{centre.url}/message/4370")
    assert (deleted.status_code, deleted.text) == (200, "OK")
    gone = httpx.delete(f"{centre.url}/message/4370")
    assert (gone.status_code, gone.text) == (404, "Unknown message ID")
    assert centre.deleted == [4370] and centre.messages == {}
    assert httpx.post(f"{centre.url}/message", json=APITOOL_CBS).status_code == 201
    assert httpx.delete(f"{centre.url}/message/abc").status_code == 400
    assert httpx.delete(f"{centre.url}/message/65536").status_code == 400


@pytest.mark.parametrize("checker", ["jsonschema", "hand-written"])
@pytest.mark.parametrize("name", list(INVALID))
def test_the_centre_refuses_what_osmo_cbc_refuses_or_would_garble(centre, name, checker, monkeypatch):
    if checker == "hand-written":
        monkeypatch.setattr(cbc_peer, "jsonschema", None)  # as where jsonschema is not installed
    response = httpx.post(f"{centre.url}/message", json=INVALID[name])
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "text/plain" and response.text
    assert centre.created == [] and centre.rejected == [(400, response.text)]


@pytest.mark.parametrize("name", list(INVALID))
def test_the_hand_written_checker_agrees_with_jsonschema(name):
    pytest.importorskip("jsonschema")
    body = INVALID[name]
    try:
        cbc_peer.payload_pages(body["smscb_message"]["payload"])
        payload_ok = True
    except (KeyError, TypeError, ValueError):
        payload_ok = False
    schema_ok = cbc_peer.validate(body) is None
    assert (cbc_peer.schema_error(body) is None) == schema_ok
    assert not (schema_ok and payload_ok), "every INVALID body is refused by one check or the other"
    assert cbc_peer.schema_error(APITOOL_CBS) is None and cbc_peer.schema_error(APITOOL_ETWS) is None


@pytest.mark.parametrize(
    ("text", "charset", "pages"),
    [
        ("a" * 93, "gsm", 1),  # 93 septets: 82 octets (81.4)
        ("a" * 94, "gsm", 2),
        ("a" * 1405, "gsm", 15),  # the most 15 pages of 82 octets hold
        ("€" * 702, "gsm", 15),  # extension characters count two septets
        ("é" * 41, "ucs2", 1),
        ("é" * 615, "ucs2", 15),
        ("00" * 82, "8bit", 1),
    ],
)
def test_texts_up_to_15_pages_fit(centre, text, charset, pages):
    assert httpx.post(f"{centre.url}/message", json=text_body(text, charset)).status_code == 201
    assert centre.messages[4370]["pages"] == pages


def test_not_json_is_refused_as_osmo_cbc_does(centre):
    url = f"{centre.url}/message"
    for content, content_type in [
        (b"{", "application/json"),
        (b'{"repetition_period": NaN}', "application/json"),
        (b"[]", "application/json"),
        (httpx.Request("POST", url, json=APITOOL_CBS).content, "text/plain"),
    ]:
        response = httpx.post(url, content=content, headers={"Content-Type": content_type})
        assert response.status_code == 400, content
    assert centre.created == []


def test_refuse_misencoded_refuses_what_osmo_cbc_would_garble():
    with CellBroadcastCentre(refuse_misencoded=True) as strict:
        url = f"{strict.url}/message"
        assert httpx.post(url, json=text_body("Blijf binnen")).status_code == 201
        assert httpx.post(url, json=text_body("Restez à l'intérieur")).status_code == 400
        assert httpx.post(url, json=text_body("Restez à l'intérieur", "ucs2")).status_code == 400


def test_other_paths_and_methods(centre):
    assert httpx.post(f"{centre.url}/messages", json=APITOOL_CBS).status_code == 404
    assert httpx.delete(f"{centre.url}/other/1").status_code == 404
    response = httpx.get(f"{centre.url}/message")
    assert (response.status_code, response.text) == (501, "Not Implemented")
    assert httpx.put(f"{centre.url}/message", json=APITOOL_CBS).status_code == 501
