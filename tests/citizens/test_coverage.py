"""Entities see counts only (BA-7.4), police zones not even those (BA-4-T1); the crisis centre looks a
registration up only with a stated reason; the delivery engine streams each contact value once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from django.utils import timezone

from tests.organisations.factories import UserFactory
from tocsin.audit.models import AuditEntry
from tocsin.citizens import selectors
from tocsin.citizens.models import CitizenAddress, ContactPoint, Registration
from tocsin.geo import domain
from tocsin.geo.domain import Area, area_from_json
from tocsin.geo.models import Address
from tocsin.organisations.domain import RuleError
from tocsin.organisations.services import AccessDenied

pytestmark = pytest.mark.django_db

COVERAGE = "/api/v1/citizens/coverage"
LOOKUP = "/api/v1/citizens/lookup"
GENT_CENTRE = [[3.70, 51.03], [3.75, 51.03], [3.75, 51.07], [3.70, 51.07], [3.70, 51.03]]


@dataclass
class Point:
    kind: str
    value: str
    sms: bool = False
    voice: bool = False
    verified: bool = True


@dataclass
class Person:
    name: str
    language: str = "nl"
    at: list[str] = field(default_factory=lambda: ["work"])  # keys of the `register` fixture
    points: list[Point] = field(default_factory=list)
    status: str = "active"
    deaf: bool = False
    opt_out_general: bool = False


def make(register: dict[str, Address], person: Person) -> Registration:
    """A registration written straight to the tables, as the services leave it after verification."""
    now = timezone.now()
    registration = Registration.objects.create(
        name=person.name, language=person.language, status=person.status, deaf=person.deaf,
        opt_out_general=person.opt_out_general, consent_version="test", consent_at=now,
        paused_at=now if person.status == "paused" else None,
    )  # fmt: skip
    for p in person.points:
        ContactPoint.objects.create(
            registration=registration, kind=p.kind, value=p.value, sms=p.sms, voice=p.voice,
            verified_at=now if p.verified else None,
        )  # fmt: skip
    for label, key in zip(["home", "work", "school", "family", "other"], person.at, strict=False):
        a = register[key]
        CitizenAddress.objects.create(
            registration=registration, label=label, address_id=a.pk, text=a.label(), postcode=a.postcode,
            nis_code=a.municipality_id, lon=a.lon, lat=a.lat, cell=domain.cell_of(a.lon, a.lat),
        )  # fmt: skip
    return registration


def mobile(number: str, *, voice: bool = True, verified: bool = True) -> Point:
    return Point("mobile", number, sms=True, voice=voice, verified=verified)


def email(address: str, *, verified: bool = True) -> Point:
    return Point("email", address, verified=verified)


PEOPLE = [
    # In Zottegem (home) and Gent (work): counted once per area, twice in the address count for both.
    Person("An Peeters", "nl", ["home", "work"], [mobile("+32470000001"), email("an@example.be")]),
    Person("Benoît Dupont", "fr", ["school"], [mobile("+32470000002", voice=False)]),
    # Deaf: the services keep voice off on every point (BA-7.3); text only.
    Person("Carla Janssens", "nl", ["work"], [mobile("+32470000003", voice=False)], deaf=True),
    Person("Dirk Paused", "nl", ["work"], [mobile("+32470000004")], status="paused"),
    Person("Eva Pending", "nl", ["work"], [mobile("+32470000005", verified=False)], status="pending"),
    Person("Frank Optout", "de", ["school"], [email("frank@example.be")], opt_out_general=True),
    # An unverified e-mail address next to a verified mobile: only the mobile reaches anyone.
    Person("Greet Half", "en", ["work"],
           [mobile("+32470000007", voice=False), email("greet@example.be", verified=False)]),
]  # fmt: skip
PERSONAL = [p.name for p in PEOPLE] + [pt.value for p in PEOPLE for pt in p.points] + ["Kouter", "Veldstraat", "Markt"]


@pytest.fixture
def people(register) -> dict[str, Registration]:
    return {p.name: make(register, p) for p in PEOPLE}


def post(client, url: str, body: dict) -> object:
    return client.post(url, body, "application/json")


CASES = [
    (
        {"type": "municipalities", "nis_codes": ["44021"]},  # Gent: all but the paused and the pending
        {"people": 5, "addresses": 5, "by_language": {"nl": 2, "fr": 1, "de": 1, "en": 1},
         "by_channel": {"sms": 4, "voice": 1, "email": 2}},
    ),
    (
        {"type": "municipalities", "nis_codes": ["41081", "44021"]},  # An counted once, both her addresses
        {"people": 5, "addresses": 6, "by_language": {"nl": 2, "fr": 1, "de": 1, "en": 1},
         "by_channel": {"sms": 4, "voice": 1, "email": 2}},
    ),
    (
        {"type": "postcodes", "postcodes": ["9620"]},
        {"people": 1, "addresses": 1, "by_language": {"nl": 1}, "by_channel": {"sms": 1, "voice": 1, "email": 1}},
    ),
    (
        {"type": "polygon", "geometry": {"type": "Polygon", "coordinates": [GENT_CENTRE]}},
        {"people": 5, "addresses": 5, "by_language": {"nl": 2, "fr": 1, "de": 1, "en": 1},
         "by_channel": {"sms": 4, "voice": 1, "email": 2}},
    ),
    (
        {"type": "circle", "center": [3.7222, 51.0531], "radius_m": 100},  # the school only, not the work
        {"people": 2, "addresses": 2, "by_language": {"fr": 1, "de": 1},
         "by_channel": {"sms": 1, "voice": 0, "email": 1}},
    ),
    (
        {"type": "circle", "center": [4.40, 51.20], "radius_m": 1_000},  # Antwerp: nobody registered there
        {"people": 0, "addresses": 0, "by_language": {}, "by_channel": {"sms": 0, "voice": 0, "email": 0}},
        ),
]  # fmt: skip

# The API operation declares its body as `area: dict[str, Any]`, which django-ninja reads as a query parameter:
# every POST with the area as JSON body gets 422 ["query", "area"]. It needs `area: dict[str, Any] = Body(...)`.
# Strict: these turn red the day the operation is fixed, to drop the marker.


FIGURES = ("people", "addresses", "by_language", "by_channel")


def figures(result: dict) -> dict:
    return {key: result[key] for key in FIGURES}


@pytest.mark.parametrize(("area", "expected"), CASES)
def test_ba_7_4_coverage_gives_counts_per_area(people, cc_admin, area, expected):
    """The crisis centre's figures, exact (entities' small figures may be suppressed)."""
    result = selectors.coverage(actor=cc_admin, area=area_from_json(area))
    assert figures(result.__dict__) == expected


@pytest.mark.parametrize(("area", "expected"), CASES)
def test_ba_7_4_coverage_api_gives_counts_and_no_personal_data(people, cc_admin, api_client, area, expected):
    response = post(api_client(cc_admin), COVERAGE, area)
    assert response.status_code == 200, response.content
    assert figures(response.json()) == expected
    text = response.content.decode()
    assert not [value for value in PERSONAL if value in text]
    assert not any(str(r.public_id) in text for r in people.values())


def test_ba_7_4_coverage_holds_nothing_personal(people, muni_admin):
    """Counts only: whatever the area, the result has no name, number, address or registration id."""
    result = selectors.coverage(actor=muni_admin, area=area_from_json({"type": "postcodes", "postcodes": ["9000"]}))
    text = json.dumps(result.__dict__)
    assert set(result.__dict__) <= {*FIGURES, "suppressed"}
    assert not [value for value in PERSONAL if value in text]
    assert not any(str(r.public_id) in text for r in people.values())


def test_ba_7_4_a_municipality_sees_counts_too(people, muni_admin):
    assert selectors.coverage(actor=muni_admin, area=Area("postcodes", codes=("9000",))).people == 5


def test_ba_4_t1_a_police_zone_gets_no_coverage(people, police_admin):
    with pytest.raises(AccessDenied) as caught:
        selectors.coverage(actor=police_admin, area=Area("municipalities", codes=("44021",)))
    assert caught.value.rule == "BA-4-T1"


def test_ba_4_t1_a_police_zone_gets_403_from_the_api(people, police_admin, api_client):
    response = post(api_client(police_admin), COVERAGE, {"type": "municipalities", "nis_codes": ["44021"]})
    assert response.status_code == 403
    assert "BA-4-T1" in json.dumps(response.json())
    assert not [value for value in PERSONAL if value in response.content.decode()]


def test_ba_7_4_paused_and_pending_registrations_are_not_counted(register, people):
    area = Area("municipalities", codes=("44021",))
    assert selectors.area_count(area) == (7, 5)  # addresses of everyone, active people only
    Registration.objects.filter(name="Dirk Paused").update(status="active", paused_at=None)
    assert selectors.area_count(area) == (7, 6)
    Registration.objects.filter(name="Benoît Dupont").update(status="paused")
    assert selectors.area_count(area)[1] == 5


def test_coverage_refuses_an_unknown_code_naming_the_field(people, muni_admin):
    with pytest.raises(RuleError) as caught:
        selectors.coverage(actor=muni_admin, area=area_from_json({"type": "municipalities", "nis_codes": ["99999"]}))
    assert caught.value.field == "nis_codes"


def test_coverage_api_refuses_a_bad_area_naming_the_field(people, muni_admin, api_client):
    response = post(api_client(muni_admin), COVERAGE, {"type": "municipalities", "nis_codes": ["99999"]})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "nis_codes"]


# --- look-up by the crisis centre ------------------------------------------------------------------------


def test_ba_7_4_a_municipality_cannot_look_a_registration_up(people, muni_admin, api_client):
    response = post(api_client(muni_admin), LOOKUP, {"contact": "+32470000001", "reason": "Checking a complaint."})
    assert response.status_code == 403 and "BA-7.4" in json.dumps(response.json())
    assert "An Peeters" not in response.content.decode()
    assert not AuditEntry.objects.filter(action="citizen.looked_up").exists()


def test_ba_7_4_a_crisis_centre_operator_who_is_not_an_administrator_cannot_either(people, crisis_centre, api_client):
    operator = UserFactory(organisation=crisis_centre, email="cc-op@example.be", roles=["operator"])
    response = post(api_client(operator), LOOKUP, {"contact": "+32470000001", "reason": "Checking a complaint."})
    assert response.status_code == 403


@pytest.mark.parametrize("body", [{"contact": "+32470000001"}, {"contact": "+32470000001", "reason": "   because  "}])
def test_ba_7_4_a_look_up_needs_a_reason(people, cc_admin, api_client, body):
    response = post(api_client(cc_admin), LOOKUP, body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == "reason"
    assert "An Peeters" not in response.content.decode()


def test_ba_7_4_a_look_up_with_a_reason_is_audited(people, cc_admin, api_client):
    reason = "Citizen called 1771 asking why no SMS arrived."
    response = post(api_client(cc_admin), LOOKUP, {"contact": "0470 00 00 01", "reason": reason})
    assert response.status_code == 200, response.content
    [found] = response.json()
    assert found["name"] == "An Peeters" and found["id"] == str(people["An Peeters"].public_id)
    assert {p["value"] for p in found["contact_points"]} == {"+32470000001", "an@example.be"}
    entry = AuditEntry.objects.get(action="citizen.looked_up")
    assert entry.data["reason"] == reason and entry.data["found"] == 1
    assert entry.actor_id == cc_admin.pk and entry.object_id == str(people["An Peeters"].public_id)


# --- the stream for the delivery engine -----------------------------------------------------------------------


def stream(area: Area, **kwargs: bool) -> list[tuple[str, str, str]]:
    return list(selectors.area_contact_points(area, **kwargs))


GENT = Area("municipalities", codes=("44021",))


def test_the_stream_holds_every_verified_point_of_active_people_once(people):
    assert sorted(stream(GENT)) == [
        ("email", "an@example.be", "nl"),
        ("email", "frank@example.be", "de"),
        ("sms", "+32470000001", "nl"),
        ("sms", "+32470000002", "fr"),
        ("sms", "+32470000003", "nl"),
        ("sms", "+32470000007", "en"),
        ("voice", "+32470000001", "nl"),
    ]  # not the paused one (…04), not the pending one (…05), not the unverified e-mail address


def test_a_number_shared_by_two_registrations_is_streamed_once(register, people):
    make(register, Person("Bart Peeters", "fr", ["school", "work"], [mobile("+32470000001")]))
    points = stream(GENT)
    assert points.count(("sms", "+32470000001", "nl")) == 1  # in the language of the earliest registration
    assert len([p for p in points if p[1] == "+32470000001"]) == 2  # its SMS and its voice call, once each


def test_ba_7_3_a_deaf_persons_voice_point_is_never_streamed(register, people):
    """The services keep voice off for deaf people; the stream does not rely on it."""
    make(register, Person("Hanne Deaf", "nl", ["work"], [mobile("+32470000008", voice=True)], deaf=True))
    make(register, Person("Ivo Landline", "nl", ["work"], [Point("landline", "+3292101010", voice=True)], deaf=True))
    points = stream(GENT)
    assert ("sms", "+32470000008", "nl") in points
    assert not [p for p in points if p[0] == "voice" and p[1] in ("+32470000008", "+3292101010", "+32470000003")]


def test_ba_7_3_general_interest_messages_skip_those_who_opted_out(people):
    with_all = {value for _, value, _ in stream(GENT)}
    general = {value for _, value, _ in stream(GENT, general_interest=True)}
    assert with_all - general == {"frank@example.be"}


def test_ba_7_3_paused_registrations_are_not_streamed_until_resumed(people):
    assert "+32470000004" not in {value for _, value, _ in stream(GENT)}
    Registration.objects.filter(name="Dirk Paused").update(status="active", paused_at=None)
    assert {("sms", "+32470000004", "nl"), ("voice", "+32470000004", "nl")} <= set(stream(GENT))
    Registration.objects.filter(name="An Peeters").update(status="paused")
    assert "+32470000001" not in {value for _, value, _ in stream(GENT)}


def test_the_stream_follows_the_area(people):
    zottegem = stream(Area("postcodes", codes=("9620",)))
    assert sorted(zottegem) == [
        ("email", "an@example.be", "nl"),
        ("sms", "+32470000001", "nl"),
        ("voice", "+32470000001", "nl"),
    ]
    circle = Area("circle", domain.circle(3.7222, 51.0531, 100))
    assert {value for _, value, _ in stream(circle)} == {"+32470000002", "frank@example.be"}
