"""What the registry administration keeps for the alarm centrals' work (issue 9): the approved
verification methods (KB-13, KB-23: the list the minister approves), the direct emergency numbers the
minister gave (KB-10), and the KB-11 exception of systems in police stations and the National Bank."""

from __future__ import annotations

import re

from django.db import transaction
from django.utils import timezone

from tocsin.alarms.domain import FieldErrors
from tocsin.alarms.models import AlarmSystem
from tocsin.alarms.services import Actor, require_registry
from tocsin.arc.models import DirectNumber, VerificationMethod
from tocsin.audit.services import audit_record
from tocsin.delivery.domain import RecipientError, normalise_phone
from tocsin.organisations.domain import ALARM_CENTRALS, Kind, RuleError, gettext_noop
from tocsin.organisations.models import Organisation
from tocsin.organisations.services import NotFound

_CODE = re.compile(r"[A-Z0-9]{2,8}")


def method_set(
    *,
    actor: Actor,
    code: str,
    name: str,
    goods: bool,
    personal: bool,
    active: bool = True,
    decision: str = "",
    create: bool = False,
) -> VerificationMethod:
    """Add or change an approved verification method; a method is withdrawn (inactive), never deleted.
    With ``create`` an existing code is refused instead of changed (the "new method" form)."""
    member = require_registry(actor)
    errors = []
    code = (code or "").strip().upper()
    if not _CODE.fullmatch(code):
        errors.append(RuleError(gettext_noop("A verification code is 2 to 8 letters or digits."), field="code"))
    if not (name or "").strip() or len(name) > 200:
        errors.append(RuleError(gettext_noop("Give the method's name (at most 200 characters)."), field="name"))
    if not goods and not personal and active:
        errors.append(RuleError(gettext_noop("Approve the method for goods alarms, personal alarms or both."),
                                field="goods"))  # fmt: skip
    if len(decision) > 200:
        errors.append(RuleError(gettext_noop("At most 200 characters."), field="decision"))
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        if create and VerificationMethod.objects.select_for_update().filter(code=code).exists():
            raise FieldErrors([RuleError(gettext_noop("This code exists: change that method from the list."),
                                         field="code")])  # fmt: skip
        row, created = VerificationMethod.objects.update_or_create(
            code=code,
            defaults={"name": name.strip(), "goods": goods, "personal": personal, "active": active,
                      "decision": decision.strip(), "updated_at": timezone.now()},
        )  # fmt: skip
        audit_record(action="arc.method_set", actor=member, organisation_id=member.organisation_id,
                     object_type="verification_method", object_id=code,
                     data={"created": created, "goods": goods, "personal": personal, "active": active})  # fmt: skip
    return row


def direct_number_set(
    *, actor: Actor, central_id: int, number: str, emergency_centre_id: int, decision: str = ""
) -> DirectNumber:
    """KB-10: record the direct emergency number the minister gave a central, and the centre it reaches."""
    member = require_registry(actor)
    errors = []
    central = Organisation.objects.filter(pk=central_id, kind__in=[k.value for k in ALARM_CENTRALS]).first()
    if central is None:
        errors.append(RuleError(gettext_noop("Choose an alarm central or internal alarm service."), field="central"))
    centre = Organisation.objects.filter(pk=emergency_centre_id, kind=Kind.EMERGENCY_CENTRE.value).first()
    if centre is None:
        errors.append(RuleError(gettext_noop("Choose an emergency centre."), field="emergency_centre"))
    digits = (number or "").strip()
    if not re.fullmatch(r"\+?[0-9 ./-]{3,20}", digits):
        errors.append(RuleError(gettext_noop("Give the number (3 to 20 digits)."), field="number"))
    else:
        try:
            digits = normalise_phone(digits) if len(re.sub(r"\D", "", digits)) > 6 else re.sub(r"\D", "", digits)
        except RecipientError:
            digits = re.sub(r"[^0-9+]", "", digits)
    if errors:
        raise FieldErrors(errors)
    assert central is not None and centre is not None
    with transaction.atomic():
        row, _ = DirectNumber.objects.update_or_create(
            central=central,
            defaults={"number": digits, "emergency_centre": centre, "decision": decision.strip()[:200],
                      "assigned_at": timezone.now(), "assigned_by": member},
        )  # fmt: skip
        audit_record(action="arc.direct_number_set", actor=member, organisation_id=member.organisation_id,
                     object_type="organisation", object_id=str(central.pk),
                     data={"number": digits, "emergency_centre": centre.pk})  # fmt: skip
    return row


def direct_number_withdraw(*, actor: Actor, central_id: int) -> None:
    member = require_registry(actor)
    with transaction.atomic():
        deleted, _ = DirectNumber.objects.filter(central_id=central_id).delete()
        if not deleted:
            raise NotFound(gettext_noop("This central has no direct emergency number."))
        audit_record(action="arc.direct_number_withdrawn", actor=member, organisation_id=member.organisation_id,
                     object_type="organisation", object_id=str(central_id))  # fmt: skip


def direct_signal_exception_set(*, actor: Actor, reference: str, allowed: bool) -> AlarmSystem:
    """KB-11: only a goods alarm in a police station or the National Bank may signal the emergency number
    directly; the registry administration marks those systems."""
    member = require_registry(actor)
    with transaction.atomic():
        system = AlarmSystem.objects.select_for_update().filter(reference=(reference or "").upper()[:12]).first()
        if system is None:
            raise NotFound(gettext_noop("No such alarm system."))
        if allowed and system.system_type != "goods":
            raise RuleError(gettext_noop("A personal alarm's signals never go to the emergency number directly."),
                            field="direct_signal_exception", rule="KB-20")  # fmt: skip
        system.direct_signal_exception = allowed
        system.save(update_fields=["direct_signal_exception"])
        audit_record(action="arc.direct_signal_exception", actor=member, organisation_id=member.organisation_id,
                     object_type="alarm_system", object_id=system.reference, data={"allowed": allowed})  # fmt: skip
    return system


def ensure_default_methods() -> None:
    """The methods a new platform starts with (``DEFAULT_METHODS``), added where missing (idempotent)."""
    from tocsin.arc.domain import DEFAULT_METHODS

    for code, name, goods, personal in DEFAULT_METHODS:
        VerificationMethod.objects.get_or_create(code=code, defaults={"name": name, "goods": goods,
                                                                      "personal": personal})  # fmt: skip
