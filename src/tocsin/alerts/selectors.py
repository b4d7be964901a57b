"""Reads for alerts, always scoped to the acting organisation."""

from __future__ import annotations

from django.db.models import QuerySet

from tocsin.alerts.models import Alert
from tocsin.organisations.domain import gettext_noop
from tocsin.organisations.models import User
from tocsin.organisations.services import NotFound


def alert_list(*, actor: User) -> QuerySet[Alert]:
    return Alert.objects.filter(organisation_id=actor.organisation_id).order_by("-created_at")


def alert_get(*, actor: User, alert_id: int) -> Alert:
    alert = alert_list(actor=actor).filter(pk=alert_id).first()
    if alert is None:
        raise NotFound(gettext_noop("No such alert."))
    return alert
