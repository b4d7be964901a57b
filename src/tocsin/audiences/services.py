"""Writes for contact lists (BA-7-LISTS) and BIN groups (BA-7-BIN).

Every staff-facing function takes the acting user (``actor``) and finds its
objects only inside the actor's organisation: another organisation's list or
group is NotFound, exactly like one that does not exist (invariant 4).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from tocsin.audiences import domain
from tocsin.audiences.domain import ContactData, ImportProblem
from tocsin.audiences.models import BinGroup, BinMembership, BinSender, Contact, ContactList
from tocsin.audiences.selectors import bin_group_by_code
from tocsin.audit.services import audit_record
from tocsin.organisations.domain import Audience, Kind, Role, RuleError, allowed_audiences, gettext_noop
from tocsin.organisations.models import Organisation, User
from tocsin.organisations.services import AccessDenied, NotFound, access_check

CONTACT_FIELDS = ("name", "organisation", "mobile", "landline", "email", "language", "notes")


# --- who may act -------------------------------------------------------------------


def require_lists_allowed(org: Organisation) -> None:
    """Contact lists belong to alerting entities, type 1 and type 2 alike (BA-4-T1, BA-4-T2)."""
    if Audience.CONTACT_LISTS not in allowed_audiences(Kind(org.kind), bin_option=org.bin_option):
        raise AccessDenied(
            gettext_noop("Only alerting entities (type 1 or type 2) keep contact lists."), rule="BA-4-T2"
        )


def require_bin_allowed(org: Organisation) -> None:
    if Audience.BIN_GROUPS not in allowed_audiences(Kind(org.kind), bin_option=org.bin_option):
        raise AccessDenied(
            gettext_noop("Only an alerting entity with the BIN option keeps BIN groups."), rule="BA-7-BIN"
        )


def require_list_writer(actor: User) -> None:
    access_check(actor)
    if not actor.has_role(Role.ADMIN, Role.OPERATOR):
        raise AccessDenied(gettext_noop("Only an administrator or an operator of your organisation may do this."))
    require_lists_allowed(actor.organisation)


def _require_bin_admin(actor: User) -> None:
    """Appointing a group's coordinator and police officer decides who controls delegation: admins only."""
    access_check(actor)
    if not actor.has_role(Role.ADMIN):
        raise AccessDenied(gettext_noop("Only an administrator of your organisation may manage BIN groups."))
    require_bin_allowed(actor.organisation)


def _audit(
    action: str, *, actor: User | None, org_id: int | None, kind: str, pk: int, data: dict[str, Any] | None = None
) -> None:
    audit_record(action=action, actor=actor, organisation_id=org_id, object_type=kind, object_id=pk, data=data)


# --- contact lists -------------------------------------------------------------------


def _clean_list_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise RuleError(gettext_noop("Enter the list's name."), field="name")
    if len(name) > 200:
        raise RuleError(gettext_noop("At most %(limit)s characters."), field="name", params={"limit": 200})
    return name


def _name_taken(field_name: str) -> RuleError:
    return RuleError(gettext_noop("Your organisation already has one with this name."), field=field_name)


def _list_for_update(actor: User, list_id: int) -> ContactList:
    contact_list = (
        ContactList.objects.select_for_update().filter(pk=list_id, organisation_id=actor.organisation_id).first()
    )
    if contact_list is None:
        raise NotFound(gettext_noop("No such contact list."))
    return contact_list


def contact_list_create(*, actor: User, name: str, description: str = "", is_test: bool = False) -> ContactList:
    require_list_writer(actor)
    name = _clean_list_name(name)
    with transaction.atomic():
        try:
            with transaction.atomic():
                contact_list = ContactList.objects.create(
                    organisation_id=actor.organisation_id,
                    name=name,
                    description=(description or "").strip(),
                    is_test=is_test,
                    created_by=actor,
                )
        except IntegrityError:
            raise _name_taken("name") from None
        _audit(
            "contact_list.created",
            actor=actor,
            org_id=actor.organisation_id,
            kind="contact_list",
            pk=contact_list.pk,
            data={"name": name},
        )
    return contact_list


def contact_list_update(
    *, actor: User, list_id: int, name: str | None = None, description: str | None = None
) -> ContactList:
    require_list_writer(actor)
    if name is not None:
        name = _clean_list_name(name)
    with transaction.atomic():
        contact_list = _list_for_update(actor, list_id)
        if name is not None:
            contact_list.name = name
        if description is not None:
            contact_list.description = description.strip()
        contact_list.updated_at = timezone.now()
        try:
            with transaction.atomic():
                contact_list.save()
        except IntegrityError:
            raise _name_taken("name") from None
        _audit(
            "contact_list.updated",
            actor=actor,
            org_id=actor.organisation_id,
            kind="contact_list",
            pk=contact_list.pk,
            data={"name": contact_list.name},
        )
    return contact_list


def contact_list_delete(*, actor: User, list_id: int) -> None:
    require_list_writer(actor)
    with transaction.atomic():
        contact_list = _list_for_update(actor, list_id)
        count = contact_list.contacts.count()
        _audit(
            "contact_list.deleted",
            actor=actor,
            org_id=actor.organisation_id,
            kind="contact_list",
            pk=contact_list.pk,
            data={"name": contact_list.name, "contacts": count},
        )
        contact_list.delete()


# --- contacts ---------------------------------------------------------------------------


def _default_language(org: Organisation) -> str:
    return org.languages[0] if org.languages else "nl"


def _duplicate_in_list(contact_list: ContactList, data: ContactData, *, exclude: int | None = None) -> None:
    """Mobile and e-mail identify a contact within its list (the list row is locked by the caller)."""
    others = Contact.objects.filter(contact_list=contact_list)
    if exclude is not None:
        others = others.exclude(pk=exclude)
    if data.mobile and others.filter(mobile=data.mobile).exists():
        raise RuleError(gettext_noop("A contact of this list already has this mobile number."), field="mobile")
    if data.email and others.filter(email__iexact=data.email).exists():
        raise RuleError(gettext_noop("A contact of this list already has this e-mail address."), field="email")


def _contact_values(contact: Contact) -> dict[str, str]:
    return {name: getattr(contact, name) for name in CONTACT_FIELDS}


def contact_create(
    *,
    actor: User,
    list_id: int,
    name: str,
    organisation: str = "",
    mobile: str = "",
    landline: str = "",
    email: str = "",
    language: str = "",
    notes: str = "",
) -> Contact:
    require_list_writer(actor)
    values = {
        "name": name,
        "organisation": organisation,
        "mobile": mobile,
        "landline": landline,
        "email": email,
        "language": language,
        "notes": notes,
    }
    with transaction.atomic():
        contact_list = _list_for_update(actor, list_id)  # first: another organisation's list is 404, not 422
        data = domain.contact_clean(values, default_language=_default_language(actor.organisation))
        _duplicate_in_list(contact_list, data)
        contact = Contact.objects.create(contact_list=contact_list, **asdict(data))
        _audit(
            "contact.created",
            actor=actor,
            org_id=actor.organisation_id,
            kind="contact",
            pk=contact.pk,
            data={"list": contact_list.pk},
        )
    return contact


def _contact_for_update(actor: User, contact_id: int) -> tuple[ContactList, Contact]:
    list_id = (
        Contact.objects.filter(pk=contact_id, contact_list__organisation_id=actor.organisation_id)
        .values_list("contact_list_id", flat=True)
        .first()
    )
    if list_id is None:
        raise NotFound(gettext_noop("No such contact."))
    contact_list = _list_for_update(actor, list_id)
    contact = Contact.objects.filter(pk=contact_id, contact_list=contact_list).first()
    if contact is None:
        raise NotFound(gettext_noop("No such contact."))
    return contact_list, contact


def contact_update(*, actor: User, contact_id: int, **changes: str | None) -> Contact:
    """Change some fields of a contact (those given and not None); the whole contact is checked again."""
    require_list_writer(actor)
    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown:
        raise RuleError(gettext_noop("Unknown field."), field=sorted(unknown)[0])
    with transaction.atomic():
        contact_list, contact = _contact_for_update(actor, contact_id)
        values = _contact_values(contact)
        values.update({k: v for k, v in changes.items() if v is not None})
        data = domain.contact_clean(values, default_language=_default_language(actor.organisation))
        _duplicate_in_list(contact_list, data, exclude=contact.pk)
        for key, value in asdict(data).items():
            setattr(contact, key, value)
        contact.updated_at = timezone.now()
        contact.save()
        _audit(
            "contact.updated",
            actor=actor,
            org_id=actor.organisation_id,
            kind="contact",
            pk=contact.pk,
            data={"list": contact_list.pk, "fields": sorted(k for k, v in changes.items() if v is not None)},
        )
    return contact


def contact_delete(*, actor: User, contact_id: int) -> None:
    require_list_writer(actor)
    with transaction.atomic():
        contact_list, contact = _contact_for_update(actor, contact_id)
        _audit(
            "contact.deleted",
            actor=actor,
            org_id=actor.organisation_id,
            kind="contact",
            pk=contact.pk,
            data={"list": contact_list.pk},
        )
        contact.delete()


# --- CSV import -----------------------------------------------------------------------


@dataclass
class ImportReport:
    """What an import did, and per row what it refused (rows with a problem are not imported)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    problems: list[ImportProblem] = field(default_factory=list)


def import_problem_text(problem: ImportProblem) -> str:
    """A report line's message in the active language (the domain keeps the English template)."""
    text = gettext(problem.template)
    return text % problem.params if problem.params else text


class _Index:
    """The list's contacts by mobile and by e-mail, kept in step with the rows as they are applied."""

    def __init__(self, contacts: list[Contact]):
        self.by_mobile: dict[str, Contact] = {}
        self.by_email: dict[str, Contact] = {}
        for contact in contacts:
            self.add(contact)

    def add(self, contact: Contact) -> None:
        if contact.mobile:
            self.by_mobile[contact.mobile] = contact
        if contact.email:
            self.by_email[contact.email.lower()] = contact

    def remove(self, contact: Contact) -> None:
        if contact.mobile and self.by_mobile.get(contact.mobile) is contact:
            del self.by_mobile[contact.mobile]
        if contact.email and self.by_email.get(contact.email.lower()) is contact:
            del self.by_email[contact.email.lower()]


def contact_list_import(*, actor: User, list_id: int, data: bytes | str) -> ImportReport:
    """Import a CSV into a list, in one transaction, with a per-row report.

    A row with a problem is reported (row, field, message) and skipped; the
    valid rows are imported. A row whose mobile or e-mail is already on the
    list updates that contact (columns absent from the file are left as they
    are), so importing the same file twice changes nothing the second time.
    A problem with the file itself (encoding, header) refuses everything.
    """
    require_list_writer(actor)
    if not ContactList.objects.filter(pk=list_id, organisation_id=actor.organisation_id).exists():
        raise NotFound(gettext_noop("No such contact list."))  # before reading the file: nothing of it is told
    rows = list(domain.csv_rows(data))
    columns = set().union(*(row.values for row in rows)) if rows else set()
    default_language = _default_language(actor.organisation)
    report = ImportReport()
    with transaction.atomic():
        contact_list = _list_for_update(actor, list_id)
        index = _Index(list(Contact.objects.filter(contact_list=contact_list)))
        new: list[Contact] = []
        seen: set[int] = set()  # existing contacts a row matched
        changed: set[int] = set()  # … and changed
        now = timezone.now()
        for row in rows:
            clean, errors = domain.contact_errors(row.values, default_language=default_language)
            if clean is None:
                report.rejected += 1
                report.problems += [ImportProblem(row.number, e.field or "", e.template, e.params) for e in errors]
                continue
            by_mobile = index.by_mobile.get(clean.mobile) if clean.mobile else None
            by_email = index.by_email.get(clean.email.lower()) if clean.email else None
            if by_mobile is not None and by_email is not None and by_mobile is not by_email:
                report.rejected += 1
                report.problems.append(
                    ImportProblem(
                        row.number,
                        "email",
                        gettext_noop(
                            "This mobile number and this e-mail address belong to two different contacts of the list."
                        ),
                    )
                )
                continue
            target = by_mobile or by_email
            if target is None:
                contact = Contact(contact_list=contact_list, created_at=now, updated_at=now, **asdict(clean))
                new.append(contact)
                index.add(contact)
                continue
            if target.pk is not None:
                seen.add(target.pk)
            # Columns the file does not have leave the contact's values as they are.
            wanted = {k: v for k, v in asdict(clean).items() if k in columns}
            if all(getattr(target, k) == v for k, v in wanted.items()):
                continue
            index.remove(target)
            for key, value in wanted.items():
                setattr(target, key, value)
            index.add(target)
            if target.pk is not None:
                # Saved at once, in file order: a number freed by one row may be taken by the next.
                target.updated_at = now
                target.save(update_fields=[*wanted, "updated_at"])
                changed.add(target.pk)
        Contact.objects.bulk_create(new, batch_size=2000)
        report.created = len(new)
        report.updated = len(changed)
        report.unchanged = len(seen - changed)
        _audit(
            "contact_list.imported",
            actor=actor,
            org_id=actor.organisation_id,
            kind="contact_list",
            pk=contact_list.pk,
            data={
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected,
            },
        )
    return report


# --- BIN groups (BA-7-BIN) ---------------------------------------------------------------


def _active_user_by_email(email: str) -> User | None:
    email = (email or "").strip()
    if not email:
        return None
    return User.objects.select_related("organisation").filter(email__iexact=email, is_active=True).first()


def _coordinator(actor: User, email: str) -> User:
    user = _active_user_by_email(email)
    if user is None or user.organisation_id != actor.organisation_id:
        raise RuleError(
            gettext_noop("The BIN coordinator is an active member of your organisation: enter their e-mail address."),
            field="coordinator_email",
            rule="BA-7-BIN",
        )
    return user


def _police_officer(actor: User, email: str) -> User:
    user = _active_user_by_email(email)
    # One answer for every refusal: the form tells nobody which addresses exist elsewhere.
    if user is None or not (
        user.organisation_id == actor.organisation_id or user.organisation.kind == Kind.POLICE_ZONE.value
    ):
        raise RuleError(
            gettext_noop(
                "The responsible police officer is an active member of your organisation or of a police zone: "
                "enter their e-mail address."
            ),
            field="police_officer_email",
            rule="BA-7-BIN",
        )
    return user


def _two_people(coordinator: User, officer: User) -> None:
    if coordinator.pk == officer.pk:
        raise RuleError(
            gettext_noop("The BIN coordinator and the police officer are two different people."),
            field="police_officer_email",
            rule="BA-7-BIN",
        )


def _group_for_update(actor: User, group_id: int) -> BinGroup:
    group = BinGroup.objects.select_for_update().filter(pk=group_id, organisation_id=actor.organisation_id).first()
    if group is None:
        raise NotFound(gettext_noop("No such BIN group."))
    return group


def _new_code() -> str:
    # 80 random bits: a clash is practically impossible, and the unique index would refuse one anyway.
    return domain.invitation_code_new()


def bin_group_create(
    *, actor: User, name: str, coordinator_email: str, police_officer_email: str, description: str = ""
) -> BinGroup:
    _require_bin_admin(actor)
    name = _clean_list_name(name)
    coordinator = _coordinator(actor, coordinator_email)
    officer = _police_officer(actor, police_officer_email)
    _two_people(coordinator, officer)
    with transaction.atomic():
        try:
            with transaction.atomic():
                group = BinGroup.objects.create(
                    organisation_id=actor.organisation_id,
                    name=name,
                    description=(description or "").strip(),
                    code=_new_code(),
                    coordinator=coordinator,
                    police_officer=officer,
                    created_by=actor,
                )
        except IntegrityError:
            raise _name_taken("name") from None
        _audit(
            "bin_group.created",
            actor=actor,
            org_id=actor.organisation_id,
            kind="bin_group",
            pk=group.pk,
            data={"name": name, "coordinator": coordinator.pk, "police_officer": officer.pk},
        )
    return group


def bin_group_update(
    *,
    actor: User,
    group_id: int,
    name: str | None = None,
    description: str | None = None,
    coordinator_email: str | None = None,
    police_officer_email: str | None = None,
) -> BinGroup:
    """Change a group. A new coordinator or officer must approve the senders again (BA-7-BIN)."""
    _require_bin_admin(actor)
    if name is not None:
        name = _clean_list_name(name)
    coordinator = _coordinator(actor, coordinator_email) if coordinator_email is not None else None
    officer = _police_officer(actor, police_officer_email) if police_officer_email is not None else None
    with transaction.atomic():
        group = _group_for_update(actor, group_id)
        if name is not None:
            group.name = name
        if description is not None:
            group.description = description.strip()
        if coordinator is not None:
            group.coordinator = coordinator
        if officer is not None:
            group.police_officer = officer
        _two_people(group.coordinator, group.police_officer)
        try:
            with transaction.atomic():
                group.save()
        except IntegrityError:
            raise _name_taken("name") from None
        _audit(
            "bin_group.updated",
            actor=actor,
            org_id=actor.organisation_id,
            kind="bin_group",
            pk=group.pk,
            data={"name": group.name, "coordinator": group.coordinator_id, "police_officer": group.police_officer_id},
        )
    return group


def bin_group_delete(*, actor: User, group_id: int) -> None:
    _require_bin_admin(actor)
    with transaction.atomic():
        group = _group_for_update(actor, group_id)
        members = group.memberships.count()
        _audit(
            "bin_group.deleted",
            actor=actor,
            org_id=actor.organisation_id,
            kind="bin_group",
            pk=group.pk,
            data={"name": group.name, "members": members},
        )
        group.delete()


def bin_group_code_renew(*, actor: User, group_id: int) -> BinGroup:
    """A new invitation code (the old one leaked): the old link stops working, members stay."""
    _require_bin_admin(actor)
    with transaction.atomic():
        group = _group_for_update(actor, group_id)
        group.code = _new_code()
        group.save(update_fields=["code"])
        _audit("bin_group.code_renewed", actor=actor, org_id=actor.organisation_id, kind="bin_group", pk=group.pk)
    return group


# --- delegated senders ------------------------------------------------------------------------


def _group_seen_by(actor: User, group_id: int) -> BinGroup:
    """The group for its own organisation, or for its coordinator and police officer (who may be elsewhere)."""
    group = (
        BinGroup.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .filter(pk=group_id)
        .filter(Q(organisation_id=actor.organisation_id) | Q(police_officer=actor) | Q(coordinator=actor))
        .first()
    )
    if group is None:
        raise NotFound(gettext_noop("No such BIN group."))
    return group


def bin_sender_nominate(*, actor: User, group_id: int, user_id: int) -> BinSender:
    """Propose a member of the owning organisation as a sender; the two approvals follow (BA-7-BIN)."""
    access_check(actor)
    with transaction.atomic():
        group = _group_for_update(actor, group_id)
        if not (actor.has_role(Role.ADMIN) or actor.pk == group.coordinator_id):
            raise AccessDenied(
                gettext_noop("Only an administrator or the group's BIN coordinator proposes senders."),
                rule="BA-7-BIN",
            )
        user = User.objects.filter(pk=user_id, organisation_id=group.organisation_id, is_active=True).first()
        if user is None:
            raise NotFound(gettext_noop("No such member."))
        if not user.has_role(Role.ADMIN, Role.OPERATOR):
            raise RuleError(
                gettext_noop("A sender needs the administrator or operator role."), field="user", rule="BA-7-BIN"
            )
        sender, created = BinSender.objects.get_or_create(group=group, user=user, defaults={"nominated_by": actor})
        if not created:
            if sender.revoked_at is None:
                return sender
            # A new delegation after a revocation starts over: both approvals again.
            sender.nominated_at = timezone.now()
            sender.nominated_by = actor
            sender.approved_by_coordinator_at = sender.approved_by_police_at = sender.revoked_at = None
            sender.approved_by_coordinator = sender.approved_by_police = sender.revoked_by = None
            sender.save()
        _audit(
            "bin_sender.nominated",
            actor=actor,
            org_id=group.organisation_id,
            kind="bin_group",
            pk=group.pk,
            data={"user": user.pk},
        )
    return sender


def _sender(group: BinGroup, user_id: int) -> BinSender:
    sender = BinSender.objects.select_for_update().filter(group=group, user_id=user_id).first()
    if sender is None:
        raise NotFound(gettext_noop("This person is not proposed as a sender of this group."))
    return sender


def bin_sender_approve(*, actor: User, group_id: int, user_id: int) -> BinSender:
    """The coordinator's or the police officer's approval, whichever the actor is for this group."""
    access_check(actor)
    with transaction.atomic():
        group = _group_seen_by(actor, group_id)
        sender = _sender(group, user_id)
        if sender.revoked_at is not None:
            raise RuleError(
                gettext_noop("This delegation was revoked; propose the person again first."),
                field="user",
                rule="BA-7-BIN",
            )
        now = timezone.now()
        if actor.pk == group.coordinator_id:
            sender.approved_by_coordinator, sender.approved_by_coordinator_at, as_ = actor, now, "coordinator"
        elif actor.pk == group.police_officer_id:
            sender.approved_by_police, sender.approved_by_police_at, as_ = actor, now, "police"
        else:
            raise AccessDenied(
                gettext_noop("Only the group's BIN coordinator or its police officer approves senders."),
                rule="BA-7-BIN",
            )
        sender.save()
        _audit(
            "bin_sender.approved",
            actor=actor,
            org_id=group.organisation_id,
            kind="bin_group",
            pk=group.pk,
            data={"user": user_id, "as": as_},
        )
    return sender


def bin_sender_revoke(*, actor: User, group_id: int, user_id: int) -> BinSender:
    """Any of the two approvers, or an administrator of the owning organisation, ends a delegation."""
    access_check(actor)
    with transaction.atomic():
        group = _group_seen_by(actor, group_id)
        is_owner_admin = actor.organisation_id == group.organisation_id and actor.has_role(Role.ADMIN)
        if not (is_owner_admin or actor.pk in (group.coordinator_id, group.police_officer_id)):
            raise AccessDenied(
                gettext_noop("Only an administrator, the BIN coordinator or the police officer revokes a sender."),
                rule="BA-7-BIN",
            )
        sender = _sender(group, user_id)
        if sender.revoked_at is None:
            sender.revoked_at = timezone.now()
            sender.revoked_by = actor
            sender.save(update_fields=["revoked_at", "revoked_by"])
            _audit(
                "bin_sender.revoked",
                actor=actor,
                org_id=group.organisation_id,
                kind="bin_group",
                pk=group.pk,
                data={"user": user_id},
            )
    return sender


# --- citizens joining (called by the citizen portal, never by staff) ------------------------------


def bin_group_join(*, code: str, registration_id: int) -> BinMembership:
    """A citizen joins a BIN group with its code; joining twice is harmless (BA-7-BIN, BA-7.3)."""
    from tocsin.citizens.models import Registration

    group = bin_group_by_code(code=code)
    with transaction.atomic():
        registration = Registration.objects.select_for_update().filter(pk=registration_id).first()
        if registration is None:
            raise NotFound(gettext_noop("No such registration."))
        if registration.opt_out_bin:
            raise RuleError(
                gettext_noop("You chose to receive no BIN messages; change that choice first to join a BIN group."),
                field="opt_out_bin",
                rule="BA-7-BIN",
            )
        membership, created = BinMembership.objects.get_or_create(group=group, registration=registration)
        if created:
            # No registration id in the log: the entity's administrators read it (BA-7.4).
            _audit("bin_group.joined", actor=None, org_id=group.organisation_id, kind="bin_group", pk=group.pk)
    return membership


def bin_group_leave(*, group_id: int, registration_id: int) -> None:
    with transaction.atomic():
        membership = (
            BinMembership.objects.select_related("group")
            .filter(group_id=group_id, registration_id=registration_id)
            .first()
        )
        if membership is None:
            raise NotFound(gettext_noop("You are not a member of this BIN group."))
        membership.delete()
        _audit("bin_group.left", actor=None, org_id=membership.group.organisation_id, kind="bin_group", pk=group_id)
