"""The audit log is append-only and hash-chained (invariant 5)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.db import connection, transaction
from django.db.utils import InternalError, ProgrammingError
from hypothesis import given
from hypothesis import strategies as st

from tocsin.audit import chain
from tocsin.audit.models import AuditEntry
from tocsin.audit.services import audit_record, audit_verify, entry_fields


def _entries(n: int) -> list[tuple[dict, str, str]]:
    out, prev = [], chain.GENESIS
    for i in range(1, n + 1):
        fields = {name: None for name in chain.FIELDS} | {"seq": i, "action": f"a{i}", "data": {"i": i}}
        digest = chain.entry_digest(prev, fields)
        out.append((fields, prev, digest))
        prev = digest
    return out


@given(st.integers(min_value=1, max_value=30), st.data())
def test_changing_any_entry_is_found_at_that_entry(n, data):
    entries = _entries(n)
    assert chain.verify(entries) == (n, None)
    victim = data.draw(st.integers(min_value=0, max_value=n - 1))
    fields, prev, digest = entries[victim]
    entries[victim] = ({**fields, "action": "forged"}, prev, digest)
    count, broken = chain.verify(entries)
    assert count == victim
    assert broken is not None and broken.seq == victim + 1


def test_a_removed_entry_is_found():
    entries = _entries(5)
    del entries[2]
    count, broken = chain.verify(entries)
    assert (count, broken.seq) == (2, 3)


def test_a_cut_tail_is_found_with_a_recorded_head():
    entries = _entries(5)
    recorded = entries[-1][2]
    assert chain.verify(entries, recorded_head=recorded) == (5, None)
    count, broken = chain.verify(entries[:3], recorded_head=recorded)
    assert count == 3 and "removed" in broken.reason


def test_entries_chain_and_verify(db):
    for i in range(5):
        audit_record(action="test.event", data={"i": i})
    count, broken = audit_verify()
    assert broken is None and count == 5
    seqs = list(AuditEntry.objects.values_list("seq", flat=True))
    assert seqs == [1, 2, 3, 4, 5]


def test_rolled_back_entry_leaves_no_gap(db):
    audit_record(action="one")
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action="lost")
        raise RuntimeError
    audit_record(action="two")
    assert list(AuditEntry.objects.values_list("seq", "action")) == [(1, "one"), (2, "two")]
    assert audit_verify()[1] is None


def test_database_refuses_update_and_delete(db):
    entry = audit_record(action="kept")
    with pytest.raises((InternalError, ProgrammingError)), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="changed")
    with pytest.raises((InternalError, ProgrammingError)), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).action == "kept"


def _tamper(seq: int, action: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_no_update_delete")
        cursor.execute("UPDATE audit_auditentry SET action = %s WHERE seq = %s", [action, seq])
        cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_no_update_delete")


def test_tampering_by_the_table_owner_is_named(db):
    for i in range(4):
        audit_record(action="auth.signed_in", data={"i": i})
    _tamper(3, "auth.nothing_happened")
    count, broken = audit_verify()
    assert count == 2
    assert broken.seq == 3 and "changed" in broken.reason
    assert entry_fields(AuditEntry.objects.get(seq=3))["action"] == "auth.nothing_happened"


@pytest.mark.django_db(transaction=True)
def test_audit_verify_command_exits_non_zero_and_names_the_entry(settings):
    for i in range(3):
        audit_record(action="x", data={"i": i})
    env = _env_for_subprocess()
    ok = subprocess.run(
        [sys.executable, "-m", "tocsin.cli", "audit", "verify"], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0, ok.stderr
    assert "3 entries verified" in ok.stdout
    head = ok.stdout.split("head: #3 ")[1].split()[0]
    again = subprocess.run(
        [sys.executable, "-m", "tocsin.cli", "audit", "verify", "--head", head], capture_output=True, text=True, env=env
    )
    assert again.returncode == 0, again.stdout
    _tamper(2, "forged")
    bad = subprocess.run(
        [sys.executable, "-m", "tocsin.cli", "audit", "verify"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 1
    assert "entry #2" in bad.stdout


def _env_for_subprocess() -> dict[str, str]:
    """Point a child `tocsin` process at the test database."""
    import os

    db = connection.settings_dict
    url = f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url}
