"""The receiver's accounts (issue 8): configured by the central, linked to the registry (KB-7-ARC), keys
sealed at rest, zones mapped to detection codes (KB-14), unknown accounts recorded for claiming."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag
from django.db import connection

from tocsin.alarms import services as alarms
from tocsin.alarms.domain import FieldErrors
from tocsin.alarms.services import as_member
from tocsin.arc import services
from tocsin.arc.models import DiscoveredAccount, ReceiverAccount
from tocsin.audit.models import AuditEntry
from tocsin.organisations.services import AccessDenied, NotFound
from tocsin.protocols import sia_dc09

KEY = "0123456789abcdef0123456789abcdef"  # 32 hex digits: an AES-128 key


def test_kb_7_arc_account_linked_to_the_centrals_own_system(central_op, other_op, mvalues):
    system = alarms.system_register(actor=as_member(central_op), values=mvalues())
    row = services.account_set(actor=as_member(central_op), account="#1a2b", system_reference=system.reference)
    assert (row.account, row.system_id) == ("1A2B", system.pk)
    with pytest.raises(FieldErrors) as exc:  # another central's system is not one of theirs
        services.account_set(actor=as_member(other_op), account="1A2B", system_reference=system.reference)
    assert exc.value.errors[0].field == "system_reference"
    # The same account number at another central is another account.
    assert services.account_set(actor=as_member(other_op), account="1A2B").pk != row.pk


def test_keys_are_sealed_at_rest_and_usable_by_the_receiver(central_op):
    row = services.account_set(actor=as_member(central_op), account="1234", key=KEY, encryption_required=True)
    raw = bytes(ReceiverAccount.objects.get(pk=row.pk).key_sealed)
    assert bytes.fromhex(KEY) not in raw and KEY.encode() not in raw
    key = services.account_key(row)
    assert key == bytes.fromhex(KEY)
    frame = sia_dc09.build_frame("SIA-DCS", 1, "1234", "#1234|NBA01", key=key, timestamp=sia_dc09.parse_timestamp(
        "_11:10:00,10-12-2019"))  # fmt: skip
    reader = sia_dc09.FrameReader()
    (parsed,) = reader.feed(frame)
    message = sia_dc09.parse_message(parsed, key=key)
    assert isinstance(message, sia_dc09.Message) and message.data == "#1234|NBA01"
    # Leaving the key empty keeps it; a sealed key moved to another account does not open.
    again = services.account_set(actor=as_member(central_op), account="1234", encryption_required=True)
    assert services.account_key(again) == bytes.fromhex(KEY)
    other = services.account_set(actor=as_member(central_op), account="5678")
    other.key_sealed = again.key_sealed
    with pytest.raises(InvalidTag):  # AES-GCM refuses a key bound to another account
        services.account_key(other)
    with connection.cursor() as cursor:
        cursor.execute("SELECT data::text FROM audit_auditentry WHERE action LIKE 'arc.%%'")
        assert all(KEY not in r[0] for r in cursor.fetchall())


def test_bad_account_settings_name_each_field_and_change_nothing(central_op):
    with pytest.raises(FieldErrors) as exc:
        services.account_set(
            actor=as_member(central_op), account="XYZ", key="short", ahead_s=99999, device_tz="Mars/Olympus",
            poll_interval_s=5,
        )  # fmt: skip
    assert {e.field for e in exc.value.errors} == {"account", "key", "ahead_s", "device_tz", "poll_interval_s"}
    assert not ReceiverAccount.objects.exists()
    with pytest.raises(FieldErrors) as exc:
        services.account_set(actor=as_member(central_op), account="ABC", encryption_required=True)
    assert exc.value.errors[0].field == "encryption_required"
    assert not ReceiverAccount.objects.exists()
    for zone in ("Europe", "Europe/" + "x" * 300, "../etc"):  # a directory, a name too long for the file system
        with pytest.raises(FieldErrors) as exc:
            services.account_set(actor=as_member(central_op), account="ABC", device_tz=zone)
        assert [e.field for e in exc.value.errors] == ["device_tz"]


def test_only_a_centrals_writers_configure_accounts(registry_admin, central_op):
    from tests.organisations.factories import UserFactory

    with pytest.raises(AccessDenied):
        services.account_set(actor=as_member(registry_admin), account="ABC")
    viewer = UserFactory(organisation=central_op.organisation, email="v@noord.be", roles=["viewer"])
    with pytest.raises(AccessDenied):
        services.account_set(actor=as_member(viewer), account="ABC")


def test_kb_14_zones_map_to_detection_codes(central_op, other_op):
    services.account_set(actor=as_member(central_op), account="ABC")
    zone = services.zone_set(
        actor=as_member(central_op), account="abc", zone="3", detection_code="GLV-03", label="Hall"
    )
    assert zone.detection_code == "GLV-03"
    assert services.zone_set(actor=as_member(central_op), account="ABC", zone="3", detection_code="GLV-3").pk == zone.pk
    with pytest.raises(NotFound):
        services.zone_set(actor=as_member(other_op), account="ABC", zone="3", detection_code="X")
    with pytest.raises(FieldErrors):
        services.zone_set(actor=as_member(central_op), account="ABC", zone="3 4", detection_code="")


def test_unknown_accounts_are_recorded_and_claimed(central_op, central):
    services.account_discovered(central_id=central.pk, account="beef", source="192.0.2.7:5000")
    services.account_discovered(central_id=central.pk, account="BEEF", source="192.0.2.7:5001")
    found = DiscoveredAccount.objects.get()
    assert (found.account, found.frames, found.claimed_at) == ("BEEF", 2, None)
    services.account_set(actor=as_member(central_op), account="BEEF")
    found.refresh_from_db()
    assert found.claimed_at is not None
    assert AuditEntry.objects.filter(action="arc.account_created").count() == 1


def test_the_receiver_command_serves_alarm_centrals_only(registry, capsys):
    from tocsin import cli

    assert cli.main(["receiver", "--central", str(registry.pk), "--tcp", "0"]) == 2
    assert "not an alarm central" in capsys.readouterr().err
