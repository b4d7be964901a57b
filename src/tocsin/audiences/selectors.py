"""Reads of contact lists and BIN groups, always through the acting user or organisation (invariant 4).

Contacts are personal data: reading or exporting them is audited. BIN group
members are citizens: entities get counts, never names or numbers (BA-7.4).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from tocsin.audiences import domain
from tocsin.audiences.models import BinGroup, BinMembership, BinSender, Contact, ContactList
from tocsin.audit.services import audit_record
from tocsin.organisations.domain import Audience, Kind, Role, check_may_target, gettext_noop
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import AccessDenied, NotFound, access_check

ACTIVE = "active"  # citizens.domain.RegistrationStatus.ACTIVE: the only status that receives messages

# --- contact lists ------------------------------------------------------------------------


def contact_list_list(*, actor: User) -> QuerySet[ContactList]:
    """The organisation's lists with their number of contacts; any member reads them."""
    access_check(actor)
    return ContactList.objects.filter(organisation_id=actor.organisation_id).annotate(contact_count=Count("contacts"))


def contact_list_get(*, actor: User, list_id: int) -> ContactList:
    contact_list = contact_list_list(actor=actor).filter(pk=list_id).first()
    if contact_list is None:
        raise NotFound(gettext_noop("No such contact list."))
    return contact_list


def contact_list_contacts(*, actor: User, list_id: int, ip: str | None = None) -> QuerySet[Contact]:
    """The contacts of a list. Names and numbers are personal data: each reading is audited (BA-7.4)."""
    contact_list = contact_list_get(actor=actor, list_id=list_id)
    contacts = Contact.objects.filter(contact_list=contact_list).order_by("name", "pk")
    audit_record(
        action="personal_data.read",
        actor=actor,
        organisation_id=actor.organisation_id,
        object_type="contact_list",
        object_id=contact_list.pk,
        data={"count": contact_list.contact_count},  # type: ignore[attr-defined]
        ip=ip,
    )
    return contacts


def contact_get(*, actor: User, contact_id: int, ip: str | None = None) -> Contact:
    access_check(actor)
    contact = (
        Contact.objects.select_related("contact_list")
        .filter(pk=contact_id, contact_list__organisation_id=actor.organisation_id)
        .first()
    )
    if contact is None:
        raise NotFound(gettext_noop("No such contact."))
    audit_record(
        action="personal_data.read",
        actor=actor,
        organisation_id=actor.organisation_id,
        object_type="contact",
        object_id=contact.pk,
        ip=ip,
    )
    return contact


def contact_list_export(*, actor: User, list_id: int, ip: str | None = None) -> str:
    """The list as CSV (``;``-separated UTF-8 with a byte-order mark, as spreadsheets in Belgium open it).

    The same layout imports again unchanged. A copy of personal data leaves the
    platform: only writers may take it, and the audit log keeps who did (BA-7.4).
    """
    access_check(actor)
    if not actor.has_role(Role.ADMIN, Role.OPERATOR):
        raise AccessDenied(gettext_noop("Only an administrator or an operator of your organisation may do this."))
    contact_list = contact_list_get(actor=actor, list_id=list_id)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(domain.csv_header())
    count = 0
    for contact in Contact.objects.filter(contact_list=contact_list).order_by("name", "pk").iterator(chunk_size=2000):
        writer.writerow(
            domain.csv_cells(
                domain.ContactData(
                    name=contact.name,
                    organisation=contact.organisation,
                    mobile=contact.mobile,
                    landline=contact.landline,
                    email=contact.email,
                    language=contact.language,
                    notes=contact.notes,
                )
            )
        )
        count += 1
    audit_record(
        action="personal_data.export",
        actor=actor,
        organisation_id=actor.organisation_id,
        object_type="contact_list",
        object_id=contact_list.pk,
        data={"count": count},
        ip=ip,
    )
    return out.getvalue()


def contact_list_recipients_for_send(
    *, organisation: Organisation, list_ids: Iterable[int]
) -> dict[str, list[tuple[str, str]]]:
    """The addresses of the organisation's own lists, de-duplicated, per kind: mobile, landline, email.

    Each value is a list of (address, language) pairs, as the outbox takes them.
    Own lists only: another organisation's list is NotFound (invariant 4).
    Type-1 and type-2 entities alike (BA-4-T2: lists are what a type-2 entity
    may alert). No quota: an entity sends to its own lists as often as it
    chooses (BA-7-LISTS).
    """
    check_may_target(Kind(organisation.kind), Audience.CONTACT_LISTS, bin_option=organisation.bin_option)
    wanted = set(list_ids)
    found = set(ContactList.objects.filter(pk__in=wanted, organisation=organisation).values_list("pk", flat=True))
    if not wanted or found != wanted:
        raise NotFound(gettext_noop("No such contact list."))
    out: dict[str, dict[str, str]] = {"mobile": {}, "landline": {}, "email": {}}
    rows = Contact.objects.filter(contact_list_id__in=found).order_by("pk")
    for mobile, landline, email, language in rows.values_list("mobile", "landline", "email", "language").iterator():
        for kind, value in (("mobile", mobile), ("landline", landline), ("email", email.lower())):
            if value:
                out[kind].setdefault(value, language)
    return {kind: list(values.items()) for kind, values in out.items()}


# --- BIN groups --------------------------------------------------------------------------------


def bin_join_path(group: BinGroup) -> str:
    """Where a citizen joins with this group's code (the citizen portal serves it)."""
    return f"/bin/join/{group.code}/"


def bin_join_url(group: BinGroup) -> str:
    return settings.BASE_URL.rstrip("/") + bin_join_path(group)


def bin_group_list(*, actor: User) -> QuerySet[BinGroup]:
    """The organisation's BIN groups, and the groups the actor is coordinator or police officer of.

    The officer may serve a group of another organisation (a municipality's group,
    a police zone's officer): that person sees the group to approve its senders.
    Each group carries its member counts, never who the members are (BA-7.4).
    """
    access_check(actor)
    reachable = Q(memberships__registration__status=ACTIVE, memberships__registration__opt_out_bin=False)
    return (
        BinGroup.objects.filter(
            Q(organisation_id=actor.organisation_id) | Q(police_officer=actor) | Q(coordinator=actor)
        )
        .select_related("organisation", "coordinator", "police_officer", "police_officer__organisation")
        .annotate(member_count=Count("memberships", distinct=True))
        .annotate(reachable_count=Count("memberships", filter=reachable, distinct=True))
        .order_by("name", "pk")
    )


def bin_group_get(*, actor: User, group_id: int) -> BinGroup:
    group = bin_group_list(actor=actor).filter(pk=group_id).first()
    if group is None:
        raise NotFound(gettext_noop("No such BIN group."))
    return group


def bin_sender_list(*, actor: User, group_id: int) -> QuerySet[BinSender]:
    group = bin_group_get(actor=actor, group_id=group_id)
    return (
        BinSender.objects.filter(group=group)
        .select_related("user", "approved_by_coordinator", "approved_by_police", "revoked_by")
        .order_by("user__full_name", "pk")
    )


def bin_group_may_send(*, group_id: int, user: User) -> None:
    """Refuse (RuleError, BA-7-BIN) unless the user is a sender approved by the group's current
    coordinator and current police officer; another organisation's group is NotFound.

    An approval counts only from the person in that post now: a new coordinator
    or officer approves again.
    """
    access_check(user)
    group = BinGroup.objects.filter(pk=group_id, organisation_id=user.organisation_id).first()
    if group is None:
        raise NotFound(gettext_noop("No such BIN group."))
    org = user.organisation
    check_may_target(Kind(org.kind), Audience.BIN_GROUPS, bin_option=org.bin_option)
    if not user.has_role(Role.ADMIN, Role.OPERATOR):
        raise AccessDenied(gettext_noop("Only an administrator or an operator of your organisation may do this."))
    sender = BinSender.objects.filter(group=group, user=user).first()
    state = None
    if sender is not None:
        state = domain.SenderState(
            revoked=sender.revoked_at is not None,
            coordinator_approved=sender.approved_by_coordinator_id == group.coordinator_id,
            police_approved=sender.approved_by_police_id == group.police_officer_id,
        )
    domain.check_may_send(state)


def bin_group_members_for_send(*, organisation: Organisation, group_ids: Iterable[int]) -> list[int]:
    """The registrations a send to these BIN groups reaches: ids only, each once.

    BA-7-BIN: an entity with the BIN option reaches the members of its own BIN
    groups and nobody else; another organisation's group is NotFound. Members
    who paused, are not verified yet, or opted out of BIN messages are left out.
    """
    check_may_target(Kind(organisation.kind), Audience.BIN_GROUPS, bin_option=organisation.bin_option)
    wanted = set(group_ids)
    found = set(BinGroup.objects.filter(pk__in=wanted, organisation=organisation).values_list("pk", flat=True))
    if not wanted or found != wanted:
        raise NotFound(gettext_noop("No such BIN group."))
    return list(
        BinMembership.objects.filter(group_id__in=found, registration__status=ACTIVE, registration__opt_out_bin=False)
        .order_by("registration_id")
        .values_list("registration_id", flat=True)
        .distinct()
    )


def bin_groups_of_registration(*, registration_id: int) -> QuerySet[BinGroup]:
    """The groups a citizen belongs to, for the citizen's own page (names of the groups and entities only)."""
    return (
        BinGroup.objects.filter(memberships__registration_id=registration_id)
        .select_related("organisation")
        .order_by("name", "pk")
    )


_BAD_CODE = gettext_noop("This invitation code is not valid.")


def bin_group_by_code(*, code: str) -> BinGroup:
    """The group behind an invitation code (for the citizen's join page); NotFound for a wrong code,
    or when the owning organisation is not active or lost its BIN option."""
    normalised = domain.invitation_code_normalise(code)
    group = BinGroup.objects.select_related("organisation").filter(code=normalised).first() if normalised else None
    if group is None or not group.organisation.is_active or not group.organisation.bin_option:
        raise NotFound(_BAD_CODE)
    return group


def bin_sender_candidates(*, actor: User, group_id: int) -> QuerySet[User]:
    """Members of the owning organisation who could be proposed as senders (admins and operators)."""
    group = bin_group_get(actor=actor, group_id=group_id)
    if group.organisation_id != actor.organisation_id:
        return User.objects.none()
    return (
        User.objects.filter(organisation_id=group.organisation_id, is_active=True)
        .filter(Q(roles__contains=[Role.ADMIN.value]) | Q(roles__contains=[Role.OPERATOR.value]))
        .exclude(pk__in=BinSender.objects.filter(group=group, revoked_at__isnull=True).values("user_id"))
        .order_by("full_name")
    )
