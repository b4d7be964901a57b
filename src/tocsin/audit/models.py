from __future__ import annotations

from django.db import models


class AuditEntry(models.Model):
    """One link of the append-only, hash-chained audit log (invariant 5).

    A PostgreSQL trigger (migration 0002) refuses UPDATE and DELETE, and each
    entry's ``entry_hash`` covers its content and the previous entry's hash,
    so a changed or removed row breaks the chain at that row.
    """

    # Assigned under an advisory lock (services.audit_record), so a rolled-back
    # transaction leaves no gap and a gap always means a deleted entry.
    seq = models.BigIntegerField(primary_key=True)
    at = models.DateTimeField()
    action = models.CharField(max_length=64, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=254, blank=True)
    actor_organisation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    organisation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"
