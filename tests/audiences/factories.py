"""Set-up helpers for audiences tests: registrations are written through the model (the citizens
app owns sign-up); behaviour under test always goes through the audiences services."""

from __future__ import annotations

from django.utils import timezone

from tocsin.citizens.models import Registration


def registration(*, status: str = "active", opt_out_bin: bool = False, name: str = "Citizen") -> Registration:
    return Registration.objects.create(
        name=name, status=status, opt_out_bin=opt_out_bin, consent_version="1", consent_at=timezone.now()
    )
