from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from tocsin.audit.models import AuditEntry
from tocsin.organisations.domain import gettext_noop


def audit_entries_for(*, actor: Any, limit: int = 200) -> QuerySet[AuditEntry]:
    """Entries an actor may read: the crisis centre sees all, others their own organisation's.

    Administrators only: the log names people.
    """
    if "admin" not in actor.roles:
        raise PermissionError(gettext_noop("Only administrators read the audit log."))
    qs = AuditEntry.objects.all()
    if not actor.organisation.is_crisis_centre:
        org_id = actor.organisation_id
        qs = qs.filter(Q(organisation_id=org_id) | Q(actor_organisation_id=org_id))
    return qs.order_by("-seq")[:limit]
