"""The receiver's pages for an alarm central (issue 8): its accounts listed and searched, created and changed
(a key goes in and no page shows it again), zones mapped to detection codes (KB-14), the last signals and the
supervision faults of an account, discovered accounts claimed; refused input named by field with nothing written;
another central's accounts out of reach (invariant 4), and the pages closed to everyone but a central's members."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.organisations.factories import UserFactory
from tocsin.alarms import services as alarms
from tocsin.alarms.services import as_member
from tocsin.arc import services
from tocsin.arc.models import DiscoveredAccount, ReceiverAccount, Signal, SupervisionFault, ZoneMap
from tocsin.audit.models import AuditEntry

pytestmark = pytest.mark.django_db

KEY = "00112233445566778899aabbccddeeff"  # 32 hex digits: an AES-128 key
ASCII_KEY = "Sleutel-Noord-16"  # 16 characters: an AES-128 key given as text


@pytest.fixture(autouse=True)
def english(settings):
    """The pages in English, whatever the catalogues hold (the texts asserted are the source strings)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def system(central_op, mvalues):
    """An active alarm system of the central in the registry (KB-7-ARC)."""
    return alarms.system_register(actor=as_member(central_op), values=mvalues())


def form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "account": "1A2B",
        "system_reference": "",
        "key": "",
        "key_format": "auto",
        "ahead_s": "20",
        "behind_s": "40",
        "device_tz": "UTC",
        "poll_interval_s": "",
        "enabled": "1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def error_of(html: str, field_id: str) -> str:
    """The text of the first error shown beside an input (``<p class="error" id="<field_id>-error1">``)."""
    match = re.search(rf'<p class="error" id="{field_id}-error1"[^>]*>(.*?)</p>', html, re.S)
    assert match, f"no error beside {field_id}"
    return re.sub(r"<[^>]+>", " ", match.group(1))


def key_absent(html: str) -> None:
    for shape in (KEY, KEY.upper(), ASCII_KEY):
        assert shape not in html


def accounts_snapshot() -> tuple:
    return (
        tuple(ReceiverAccount.objects.order_by("pk").values_list(
            "pk", "central_id", "account", "system_id", "key_sealed", "encryption_required", "ahead_s", "behind_s",
            "device_tz", "poll_interval_s", "enabled", "updated_at")),
        tuple(ZoneMap.objects.order_by("pk").values_list("pk", "account_id", "zone", "detection_code", "label")),
        tuple(DiscoveredAccount.objects.order_by("pk").values_list("pk", "account", "claimed_at")),
    )  # fmt: skip


def signal(row: ReceiverAccount, n: int, at, events: list[dict[str, Any]], message_id: str = "SIA-DCS") -> Signal:
    return Signal.objects.create(
        account=row, central_id=row.central_id, received_at=at, message_id=message_id, sequence=f"{n:04d}",
        events=events, transport="tcp", digest=f"d{n}",
    )  # fmt: skip


# --- the list -----------------------------------------------------------------------------------------------------


def test_a_central_lists_and_searches_its_receiver_accounts(as_user, central_op, system, central):
    actor = as_member(central_op)
    services.account_set(actor=actor, account="1A2B", system_reference=system.reference)
    supervised = services.account_set(actor=actor, account="3C4D", key=KEY, encryption_required=True,
                                      poll_interval_s=3600)  # fmt: skip
    services.account_set(actor=actor, account="9999", enabled=False, poll_interval_s=600)
    SupervisionFault.objects.create(account=supervised, raised_at=timezone.now())
    ReceiverAccount.objects.filter(pk=supervised.pk).update(last_seen=timezone.now() - timedelta(hours=2))
    services.account_discovered(central_id=central.pk, account="BEEF", source="192.0.2.7:5000")
    client = as_user(central_op)

    page = client.get("/arc/accounts/")
    assert page.status_code == 200
    html = page.content.decode()
    counts = {k: re.search(rf'id="count-{k}"[^>]*>.*?<strong>(\d+)</strong>', html, re.S).group(1)  # type: ignore[union-attr]
              for k in ("accounts", "supervised", "faults", "discovered")}  # fmt: skip
    assert counts == {"accounts": "3", "supervised": "1", "faults": "1", "discovered": "1"}
    rows = re.findall(r"<tr>\s*<td data-label=\"Account\">.*?</tr>", html, re.S)
    assert len(rows) == 3
    first, faulty, disabled = rows
    assert f'href="/registry/systems/{system.reference}/"' in first and 'href="/arc/accounts/1A2B/"' in first
    assert "Open fault" not in first and "never" in first and "not supervised" in first
    assert "Open fault" in faulty and "every 1 h" in faulty and "required" in faulty
    assert 'class="badge off">no<' in disabled
    assert 'href="/arc/accounts/new/"' in html and 'href="/arc/discovered/"' in html
    key_absent(html)

    by_account = client.get("/arc/accounts/", {"q": "#3c4d"}).content.decode()
    assert "/arc/accounts/3C4D/" in by_account and "/arc/accounts/1A2B/" not in by_account
    by_system = client.get("/arc/accounts/", {"q": system.reference.lower()}).content.decode()
    assert "/arc/accounts/1A2B/" in by_system and "/arc/accounts/3C4D/" not in by_system
    faults = client.get("/arc/accounts/", {"show": "faults"}).content.decode()
    assert "/arc/accounts/3C4D/" in faults and "/arc/accounts/9999/" not in faults
    assert "No account matches" in client.get("/arc/accounts/", {"q": "FFFF"}).content.decode()
    assert client.get("/arc/accounts/", {"q": "a\x00b", "page": "x"}).status_code == 200


def test_the_list_is_paginated_fifty_a_page(as_user, central_op):
    for n in range(53):
        services.account_set(actor=as_member(central_op), account=f"{n + 0x100:X}")
    client = as_user(central_op)
    first = client.get("/arc/accounts/").content.decode()
    assert first.count('<td data-label="Account">') == 50 and "page 1 of 2" in first and 'rel="next"' in first
    second = client.get("/arc/accounts/", {"page": "2"}).content.decode()
    assert second.count('<td data-label="Account">') == 3 and 'rel="prev"' in second
    assert client.get("/arc/accounts/", {"page": "99"}).content.decode().count('<td data-label="Account">') == 3


def test_the_receiver_link_is_in_the_menu_of_a_centrals_writers_only(as_user, central_op, registry_admin):
    assert 'href="/arc/accounts/">Receiver<' in as_user(central_op).get("/").content.decode()
    assert 'href="/arc/accounts/"' not in as_user(registry_admin).get("/").content.decode()
    viewer = UserFactory(organisation=central_op.organisation, email="viewer@noord.be", roles=["viewer"])
    assert 'href="/arc/accounts/"' not in as_user(viewer).get("/").content.decode()


# --- create and change ------------------------------------------------------------------------------------------------


def test_an_account_created_with_a_key_never_shows_it_again(as_user, central_op, system, central):
    client = as_user(central_op)
    new = client.get("/arc/accounts/new/").content.decode()
    assert '<input type="password" id="f-key" name="key" value=""' in new
    assert 'autocomplete="new-password"' in new and 'name="key_format" value="hex"' in new
    assert '<option value="Europe/Brussels"' in new and 'name="clear_key"' not in new

    response = client.post("/arc/accounts/new/", form(
        account="#1a2b", system_reference=system.reference, key=KEY, key_format="hex", encryption_required="1",
        ahead_s="10", behind_s="30", device_tz="Europe/Brussels", poll_interval_s="3600",
    ))  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == "/arc/accounts/1A2B/"
    row = ReceiverAccount.objects.get()
    assert (row.central_id, row.account, row.system_id) == (central.pk, "1A2B", system.pk)
    assert (row.encryption_required, row.ahead_s, row.behind_s) == (True, 10, 30)
    assert (row.device_tz, row.poll_interval_s, row.enabled) == ("Europe/Brussels", 3600, True)
    assert services.account_key(row) == bytes.fromhex(KEY)
    assert AuditEntry.objects.filter(action="arc.account_created", object_id="1A2B").count() == 1

    page = client.get(response["Location"])
    html = page.content.decode()
    assert "Account 1A2B is saved." in html and "A key is stored" in html
    assert '<input type="password" id="f-key" name="key" value=""' in html and 'name="clear_key"' in html
    for path in ("/arc/accounts/", "/arc/accounts/new/", "/arc/discovered/", "/arc/accounts/1A2B/?zone=1",
                 f"/registry/systems/{system.reference}/"):  # fmt: skip
        key_absent(client.get(path).content.decode())
    key_absent(html)
    assert all(KEY not in str(e.data) for e in AuditEntry.objects.all())

    # A text key, told apart from hex by the choice: 16 characters of text are AES-128.
    response = client.post("/arc/accounts/new/", form(account="5E6F", key=ASCII_KEY, key_format="ascii"))
    assert response.status_code == 302
    assert services.account_key(ReceiverAccount.objects.get(account="5E6F")) == ASCII_KEY.encode()
    key_absent(client.get("/arc/accounts/5E6F/").content.decode())


def test_editing_keeps_the_key_unless_it_is_replaced_or_removed(as_user, central_op):
    services.account_set(actor=as_member(central_op), account="1A2B", key=KEY, encryption_required=True)
    client = as_user(central_op)
    edit = client.get("/arc/accounts/1A2B/").content.decode()
    assert 'name="encryption_required" value="1" checked' in edit and 'name="account"' not in edit

    response = client.post("/arc/accounts/1A2B/", form(account=None, encryption_required="1", poll_interval_s="900",
                                                       device_tz="Europe/Brussels"))  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/arc/accounts/1A2B/"
    row = ReceiverAccount.objects.get()
    assert services.account_key(row) == bytes.fromhex(KEY)  # empty: kept
    assert (row.poll_interval_s, row.device_tz, row.encryption_required) == (900, "Europe/Brussels", True)
    assert AuditEntry.objects.filter(action="arc.account_changed").latest("pk").data["key"] == "kept"

    # Removing the key while encryption stays required is refused, beside that box; nothing changes.
    before = accounts_snapshot()
    refused = client.post("/arc/accounts/1A2B/", form(account=None, clear_key="1", encryption_required="1"))
    assert refused.status_code == 422
    assert "only once a key is set" in error_of(refused.content.decode(), "f-encryption-required")
    assert accounts_snapshot() == before

    # Removed, and disabled: no key any more; a key typed at the same time is not stored.
    response = client.post("/arc/accounts/1A2B/", form(account=None, clear_key="1", key=KEY, enabled=None))
    assert response.status_code == 302
    row.refresh_from_db()
    assert services.account_key(row) is None and not row.enabled and not row.encryption_required
    html = client.get("/arc/accounts/1A2B/").content.decode()
    assert "No key" in html and "Disabled" in html


def test_bad_input_is_named_field_by_field_and_nothing_is_written(as_user, central_op):
    client = as_user(central_op)
    response = client.post("/arc/accounts/new/", form(
        account="XYZ", system_reference="AS-NONE", key="short", ahead_s="soon", behind_s="99999",
        device_tz="Europe", poll_interval_s="5",
    ))  # fmt: skip
    assert response.status_code == 422
    html = response.content.decode()
    assert "7 problems: nothing was saved." in html
    assert "3 to 16 hexadecimal digits" in error_of(html, "f-account")
    assert "No active system of your central" in error_of(html, "f-system-reference")
    assert "An AES key is 16, 24 or 32 characters" in error_of(html, "f-key")
    assert "Give 0 to 3600 seconds." in error_of(html, "f-ahead-s")
    assert "Give 0 to 3600 seconds." in error_of(html, "f-behind-s")
    assert "Unknown time zone." in error_of(html, "f-device-tz")
    assert "polling interval of 60 s" in error_of(html, "f-poll-interval-s")
    assert 'href="#f-ahead-s"' in html and 'aria-invalid="true"' in html
    assert 'value="XYZ"' in html and 'value="soon"' in html  # what was typed stays, except the key
    assert 'value="short"' not in html
    assert not ReceiverAccount.objects.exists() and not AuditEntry.objects.filter(action__startswith="arc.").exists()

    # NUL characters, absurd lengths, unknown choices: refused or ignored, never a 500.
    odd = form(account="AB\x00C", system_reference="A\x00S", key="k" * 5000, key_format="rot13", device_tz="x" * 300)
    odd = client.post("/arc/accounts/new/", {**odd, "ahead_s": "9" * 5000})
    assert odd.status_code == 422
    assert not ReceiverAccount.objects.exists()

    # An account the central has already is not overwritten from the new-account form.
    services.account_set(actor=as_member(central_op), account="1A2B", poll_interval_s=600)
    before = accounts_snapshot()
    again = client.post("/arc/accounts/new/", form(account="1a2b", poll_interval_s=""))
    assert again.status_code == 422
    assert "has this account already" in error_of(again.content.decode(), "f-account")
    assert accounts_snapshot() == before

    # The edit form refuses the same way and leaves the account as it was.
    refused = client.post("/arc/accounts/1A2B/", form(account=None, ahead_s="-3", device_tz="Mars/Olympus"))
    assert refused.status_code == 422
    assert "Give 0 to 3600 seconds." in error_of(refused.content.decode(), "f-ahead-s")
    assert "Unknown time zone." in error_of(refused.content.decode(), "f-device-tz")
    assert accounts_snapshot() == before


# --- zones, signals, faults -------------------------------------------------------------------------------------------


def test_kb_14_zones_are_added_and_changed_on_the_account_page(as_user, central_op):
    services.account_set(actor=as_member(central_op), account="1A2B")
    client = as_user(central_op)
    assert "No zones yet." in client.get("/arc/accounts/1A2B/").content.decode()

    response = client.post("/arc/accounts/1A2B/zones/", {"zone": "3", "detection_code": "GLV-03", "label": "Voordeur"})
    assert response.status_code == 302 and response["Location"] == "/arc/accounts/1A2B/#zones"
    client.post("/arc/accounts/1A2B/zones/", {"zone": "12", "detection_code": "PIR-12", "label": ""})
    html = client.get("/arc/accounts/1A2B/").content.decode()
    assert "Zone 3: detection code GLV-03 is saved." in html
    table = html[html.index('id="zone-table"') :]
    assert table.index("<code>12</code>") < table.index("<code>3</code>")  # in order of the zone
    assert "Voordeur" in table and 'href="/arc/accounts/1A2B/?zone=3#zone-form"' in table

    # "Change" fills the form with the zone; saving it again changes that zone, not a new one.
    prefilled = client.get("/arc/accounts/1A2B/", {"zone": "3"}).content.decode()
    assert 'name="zone" value="3"' in prefilled and 'name="detection_code" value="GLV-03"' in prefilled
    client.post("/arc/accounts/1A2B/zones/", {"zone": "3", "detection_code": "GLV-3B", "label": "Voordeur links"})
    assert list(ZoneMap.objects.order_by("zone").values_list("zone", "detection_code", "label")) == [
        ("12", "PIR-12", ""),
        ("3", "GLV-3B", "Voordeur links"),
    ]

    before = accounts_snapshot()
    refused = client.post("/arc/accounts/1A2B/zones/", {"zone": "zone 9!", "detection_code": "", "label": "x\x00"})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "1 to 8 letters or digits" in error_of(html, "f-zone")
    assert "Give the detection code" in error_of(html, "f-detection-code")
    assert 'id="zone-error-summary"' in html and 'value="zone 9!"' in html
    assert accounts_snapshot() == before


def test_the_last_twenty_signals_and_the_faults_of_an_account(as_user, central_op):
    row = services.account_set(actor=as_member(central_op), account="1A2B", poll_interval_s=3600)
    services.zone_set(actor=as_member(central_op), account="1A2B", zone="3", detection_code="GLV-03", label="Voordeur")
    start = timezone.now() - timedelta(hours=3)
    for n in range(22):
        signal(row, n, start + timedelta(minutes=n), [{"code": "RP", "zone": "", "area": "", "user": ""}])
    signal(row, 30, start + timedelta(hours=1), [{"code": "BA", "zone": "3", "area": "1", "user": ""},
                                                 {"code": "TA", "zone": "7", "area": "1", "user": ""}])  # fmt: skip
    signal(row, 31, start + timedelta(hours=2), [], message_id="NULL")
    SupervisionFault.objects.create(account=row, raised_at=start, last_seen=None, cleared_at=start + timedelta(hours=1))
    SupervisionFault.objects.create(account=row, raised_at=start + timedelta(hours=2, minutes=30), last_seen=start)

    html = as_user(central_op).get("/arc/accounts/1A2B/").content.decode()
    signals = html[html.index('id="signal-table"') : html.index('id="faults"')]
    assert signals.count('<td data-label="Received"') == 20
    assert signals.index(">NULL<") < signals.index(">BA<")  # the latest first
    assert "link test" in signals and "zone 3 (Voordeur)" in signals and "zone 7" in signals
    assert "TCP" in signals
    oldest = timezone.localtime(start).strftime("%Y-%m-%d %H:%M:%S")
    assert oldest not in signals  # 24 stored: the oldest ones are not shown
    faults = html[html.index('id="fault-table"') :]
    assert faults.count("<tr>") == 3 and "Open fault" in faults and "never" in faults
    assert 'class="badge fault">Open fault' in html[: html.index('id="facts"')]  # beside the title too


# --- discovered accounts ----------------------------------------------------------------------------------------------


def test_a_discovered_account_is_claimed_through_the_new_account_form(as_user, central_op, central, other_central):
    services.account_discovered(central_id=central.pk, account="abc123", source="192.0.2.7:5000")
    services.account_discovered(central_id=central.pk, account="ABC123", source="192.0.2.7:5001")
    services.account_discovered(central_id=other_central.pk, account="D00D", source="198.51.100.1:4000")
    client = as_user(central_op)

    html = client.get("/arc/discovered/").content.decode()
    assert "1 account waiting" in html and "ABC123" in html and "192.0.2.7:5001" in html and "D00D" not in html
    assert '<td data-label="Frames" class="num">2</td>' in html
    claim = re.search(r'<a class="button primary" href="([^"]+)">Claim', html)
    assert claim and claim.group(1) == "/arc/accounts/new/?account=ABC123"

    prefilled = client.get(claim.group(1).replace("&amp;", "&")).content.decode()
    assert 'name="account" value="ABC123"' in prefilled
    response = client.post("/arc/accounts/new/", form(account="ABC123", poll_interval_s="86400"))
    assert response.status_code == 302 and response["Location"] == "/arc/accounts/ABC123/"
    assert DiscoveredAccount.objects.get(central=central).claimed_at is not None
    assert DiscoveredAccount.objects.get(central=other_central).claimed_at is None
    after = client.get("/arc/discovered/").content.decode()
    assert "No unknown account has been heard." in after and ">ABC123</code>" not in after


# --- who may: isolation between centrals, and the others ------------------------------------------------------------


def test_another_central_gets_404_on_this_centrals_account_and_changes_nothing(as_user, central_op, other_op,
                                                                                central):  # fmt: skip
    services.account_set(actor=as_member(central_op), account="1A2B", key=KEY, poll_interval_s=600)
    services.zone_set(actor=as_member(central_op), account="1A2B", zone="1", detection_code="GLV-01")
    services.account_discovered(central_id=central.pk, account="BEEF", source="192.0.2.7:5000")
    before = accounts_snapshot()
    other = as_user(other_op)

    for path in ("/arc/accounts/1A2B/", "/arc/accounts/1a2b/?zone=1", "/arc/accounts/%231A2B/"):
        assert other.get(path).status_code == 404, path
    assert other.post("/arc/accounts/1A2B/", form(account=None, clear_key="1", enabled=None)).status_code == 404
    assert other.post("/arc/accounts/1A2B/zones/", {"zone": "1", "detection_code": "X"}).status_code == 404
    assert other.post("/arc/accounts/1A2B/zones/", {"zone": "2", "detection_code": "X"}).status_code == 404
    listed = other.get("/arc/accounts/", {"q": "1A2B"}).content.decode()
    assert "/arc/accounts/1A2B/" not in listed and "1 account" not in listed
    assert "BEEF" not in other.get("/arc/discovered/").content.decode()
    assert accounts_snapshot() == before
    # Odd numbers in the address are not found either, and answer no 500.
    for path in ("/arc/accounts/ZZZ/", "/arc/accounts/%00/", "/arc/accounts/" + "A" * 40 + "/"):
        assert as_user(central_op).get(path).status_code == 404, path


@pytest.mark.parametrize("path", ["/arc/accounts/", "/arc/accounts/new/", "/arc/accounts/1A2B/", "/arc/discovered/"])
def test_only_a_centrals_administrators_and_operators_open_the_receiver_pages(
    path, as_user, central_op, registry_admin, muni_admin
):
    services.account_set(actor=as_member(central_op), account="1A2B")
    before = accounts_snapshot()
    viewer = UserFactory(organisation=central_op.organisation, email="viewer@noord.be", roles=["viewer"])
    for someone in (registry_admin, muni_admin, viewer):
        client = as_user(someone)
        assert client.get(path).status_code in (403, 404), (someone.email, path)
        assert client.post(path, form(account="1A2B", enabled=None)).status_code in (403, 404, 405)
    assert client.post("/arc/accounts/1A2B/zones/", {"zone": "1", "detection_code": "X"}).status_code == 403
    assert accounts_snapshot() == before
    anonymous = Client().get(path)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_the_receiver_pages_ask_for_the_second_factor(central_op):
    from tests.organisations.factories import totp_device

    totp_device(central_op)
    client = Client()
    client.force_login(central_op)  # the password only
    session = client.session
    session["access_epoch"] = central_op.organisation.access_epoch
    session.save()
    response = client.get("/arc/accounts/")
    assert response.status_code == 302 and response["Location"] == "/login/verify/"
