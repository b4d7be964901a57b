"""CAP 1.2: what we write is valid against the OASIS schema and reads back the same; what we read is safe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import xmlschema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tocsin.protocols import cap

SCHEMA = xmlschema.XMLSchema(str(Path(cap.__file__).parent / "schemas" / "CAP-v1.2.xsd"))
BRUSSELS = timezone(timedelta(hours=1))
SENT = datetime(2026, 11, 23, 18, 4, 5, tzinfo=BRUSSELS)


def flood_alert() -> cap.Alert:
    ring = [(51.06, 3.70), (51.06, 3.76), (51.03, 3.76), (51.03, 3.70), (51.06, 3.70)]
    area = cap.Area("Gent, Muide-Meulestede", polygons=[ring], circles=[(51.05, 3.72, 2.5)],
                    geocodes=[("NIS", "44021"), ("postcode", "9000")])  # fmt: skip
    common = dict(categories=["Met", "Safety"], event="Overstroming", response_types=["Shelter"], urgency="Immediate",
                  severity="Severe", certainty="Observed", onset=SENT, expires=SENT + timedelta(hours=6),
                  sender_name="Stad Gent", web="https://gent.be/hoogwater", areas=[area])  # fmt: skip
    return cap.Alert(
        identifier="BE-44021-2026-0042", sender="alerts@gent.be", sent=SENT, status="Actual", msg_type="Alert",
        scope="Public", infos=[
            cap.Info(language="nl-BE", headline="Hoogwater in de Muide", instruction="Blijf binnen & boven.", **common),
            cap.Info(language="fr-BE", headline="Crue à la Muide", instruction="Restez à l'étage <calme>.", **common),
        ],
    )  # fmt: skip


def test_ba_2_a_flood_alert_in_two_languages_is_valid_cap_and_reads_back():
    document = cap.to_xml(flood_alert())
    SCHEMA.validate(document.decode())
    assert document.startswith(b"<?xml") and b'xmlns="urn:oasis:names:tc:emergency:cap:1.2"' in document
    assert b"<polygon>51.06,3.7 51.06,3.76 51.03,3.76 51.03,3.7 51.06,3.7</polygon>" in document
    assert b"<sent>2026-11-23T18:04:05+01:00</sent>" in document
    assert cap.parse(document) == flood_alert()


def test_update_refers_to_the_original():
    original = flood_alert()
    update = flood_alert()
    update.identifier, update.msg_type = "BE-44021-2026-0043", "Update"
    update.references = [cap.Reference(original.sender, original.identifier, original.sent)]
    document = cap.to_xml(update)
    SCHEMA.validate(document.decode())
    assert b"<references>alerts@gent.be,BE-44021-2026-0042,2026-11-23T18:04:05+01:00</references>" in document
    assert cap.parse(document).references == update.references


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda a: setattr(a, "identifier", "has space"), "alert.identifier"),
        (lambda a: setattr(a, "sender", "a,b"), "alert.sender"),
        (lambda a: setattr(a, "scope", "Restricted"), "alert.restriction"),
        (lambda a: setattr(a, "scope", "Private"), "alert.addresses"),
        (lambda a: setattr(a, "msg_type", "Cancel"), "alert.references"),
        (lambda a: setattr(a, "status", "Real"), "alert.status"),
        (lambda a: setattr(a.infos[0], "severity", "Huge"), "info[0].severity"),
        (lambda a: setattr(a.infos[1], "categories", []), "info[1].category"),
        (lambda a: setattr(a.infos[0], "language", "nl_BE!"), "info[0].language"),
        (lambda a: a.infos[0].areas[0].polygons[0].pop(), "info[0].area[0].polygon[0]"),
        (lambda a: a.infos[0].areas[0].circles.append((95.0, 3.0, 1.0)), "info[0].area[0].circle[1]"),
        (lambda a: setattr(a.infos[0], "expires", SENT - timedelta(hours=1)), "info[0].expires"),
        (lambda a: setattr(a, "sent", datetime(2026, 11, 23)), "alert.sent"),
    ],
)
def test_invalid_alerts_are_refused_naming_the_element(change, path):
    alert = flood_alert()
    change(alert)
    with pytest.raises(cap.CapError) as exc:
        cap.to_xml(alert)
    assert exc.value.path == path


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE alert [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&x;</identifier></alert>"""


@pytest.mark.parametrize(
    ("document", "path", "words"),
    [
        (BILLION_LAUGHS, "document", "DOCTYPE"),
        (EXTERNAL, "document", "DOCTYPE"),
        (
            BILLION_LAUGHS.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="UTF-16"?>')
            .decode()
            .encode("utf-16"),
            "document",
            "DOCTYPE",
        ),
        (b"<alert>" + b"x" * (cap.MAX_BYTES + 1) + b"</alert>", "document", "larger"),
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.1'/>", "document", "not a CAP 1.2"),
        (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x", "document", "well-formed"),
        (cap.to_xml(flood_alert()).replace(b"+01:00</sent>", b"-00:00</sent>"), "alert.sent", "+00:00"),
        (cap.to_xml(flood_alert()).replace(b"<event>Overstroming</event>", b""), "info[0].event", "required"),
        (
            cap.to_xml(flood_alert()).replace(b" 51.06,3.7</polygon>", b"</polygon>"),
            "info[0].area[0].polygon[0]",
            "not closed",
        ),
        (cap.to_xml(flood_alert()).replace(b"2.5</circle>", b"far</circle>"), "info[0].area[0].circle[0]", "number"),
    ],
)
def test_untrusted_documents_are_read_safely(document, path, words):
    with pytest.raises(cap.CapError) as exc:
        cap.parse(document)
    assert exc.value.path == path and words in str(exc.value)


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\x85"), max_size=40
).map(str.strip)
_token = st.from_regex(r"[A-Za-z0-9._@:-]{1,30}", fullmatch=True)
_time = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)).map(
    lambda d: d.replace(microsecond=0)
)
_lat = st.floats(-89.9, 89.9).map(lambda v: round(v, 4))
_lon = st.floats(-179.9, 179.9).map(lambda v: round(v, 4))


@st.composite
def _area(draw):
    points = draw(st.lists(st.tuples(_lat, _lon), min_size=3, max_size=6))
    ring = [*points, points[0]]
    return cap.Area(
        desc=draw(_text.filter(bool)),
        polygons=draw(st.lists(st.just(ring), max_size=1)),
        circles=draw(st.lists(st.tuples(_lat, _lon, st.floats(0, 500).map(lambda v: round(v, 3))), max_size=2)),
        geocodes=draw(st.lists(st.tuples(_token, _token), max_size=2)),
    )


@st.composite
def _alert(draw):
    infos = [
        cap.Info(
            language=draw(st.sampled_from(["nl-BE", "fr-BE", "de-BE", "en"])),
            categories=draw(st.lists(st.sampled_from(cap.CATEGORY), min_size=1, max_size=3)),
            event=draw(_text.filter(bool)),
            response_types=draw(st.lists(st.sampled_from(cap.RESPONSE), max_size=2)),
            urgency=draw(st.sampled_from(cap.URGENCY)),
            severity=draw(st.sampled_from(cap.SEVERITY)),
            certainty=draw(st.sampled_from(cap.CERTAINTY)),
            headline=draw(_text),
            description=draw(_text),
            instruction=draw(_text),
            parameters=draw(st.lists(st.tuples(_token, _text), max_size=2)),
            areas=draw(st.lists(_area(), max_size=2)),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    return cap.Alert(
        identifier=draw(_token), sender=draw(_token), sent=draw(_time),
        status=draw(st.sampled_from(cap.STATUS)), msg_type="Alert", scope="Public", note=draw(_text), infos=infos,
    )  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_alert())
def test_any_alert_we_write_is_schema_valid_and_reads_back_the_same(alert):
    document = cap.to_xml(alert)
    SCHEMA.validate(document.decode())
    assert cap.parse(document) == alert


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_never_crashes_the_reader(data):
    try:
        cap.parse(data)
    except cap.CapError:
        pass
