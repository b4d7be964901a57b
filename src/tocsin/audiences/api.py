"""API operations for contact lists (BA-7-LISTS) and BIN groups (BA-7-BIN): thin, one service each.

Citizens join a BIN group through the citizen portal, never through this staff API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from pydantic import AfterValidator

from tocsin.audiences import domain, selectors, services
from tocsin.audiences.models import BinGroup, BinSender, Contact, ContactList
from tocsin.organisations.models import User

router = Router(tags=["audiences"])


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; say so on the field instead of failing at the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]


def _actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined]


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


# --- schemas ---------------------------------------------------------------------------------


class ContactListIn(Schema):
    name: Text = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=2000)
    is_test: bool = False


class ContactListPatch(Schema):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)


class ContactListOut(Schema):
    id: int
    name: str
    description: str
    is_test: bool = False
    contact_count: int = 0
    created_at: datetime


class ContactIn(Schema):
    name: Text = Field(min_length=1, max_length=200)
    organisation: Text = Field(default="", max_length=200, description="organisation or role")
    mobile: Text = Field(default="", max_length=40, description="any notation; stored in E.164")
    landline: Text = Field(default="", max_length=40, description="any notation; stored in E.164")
    email: Text = Field(default="", max_length=254)
    language: Text = Field(default="", max_length=2, description="nl, fr, de or en; empty: the organisation's first")
    notes: Text = Field(default="", max_length=2000)


class ContactPatch(Schema):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    organisation: Text | None = Field(default=None, max_length=200)
    mobile: Text | None = Field(default=None, max_length=40)
    landline: Text | None = Field(default=None, max_length=40)
    email: Text | None = Field(default=None, max_length=254)
    language: Text | None = Field(default=None, max_length=2)
    notes: Text | None = Field(default=None, max_length=2000)


class ContactOut(Schema):
    id: int
    list: int
    name: str
    organisation: str
    mobile: str
    landline: str
    email: str
    language: str
    notes: str

    @staticmethod
    def resolve_list(obj: Contact) -> int:
        return obj.contact_list_id


class ImportProblemOut(Schema):
    row: int = Field(description="as a spreadsheet numbers it: the header is row 1")
    field: str
    msg: str


class ImportReportOut(Schema):
    created: int
    updated: int
    unchanged: int
    rejected: int
    problems: list[ImportProblemOut]


class PersonOut(Schema):
    id: int
    full_name: str
    email: str
    organisation: str

    @staticmethod
    def resolve_organisation(obj: User) -> str:
        return obj.organisation.name


class BinGroupIn(Schema):
    name: Text = Field(min_length=1, max_length=200)
    description: Text = Field(default="", max_length=2000)
    coordinator_email: Text = Field(max_length=254, description="an active member of your organisation")
    police_officer_email: Text = Field(
        max_length=254, description="an active member of your organisation or of a police zone"
    )


class BinGroupPatch(Schema):
    name: Text | None = Field(default=None, min_length=1, max_length=200)
    description: Text | None = Field(default=None, max_length=2000)
    coordinator_email: Text | None = Field(default=None, max_length=254)
    police_officer_email: Text | None = Field(default=None, max_length=254)


class BinGroupOut(Schema):
    """Counts only: who the members are is never shown to an entity (BA-7.4)."""

    id: int
    organisation: int
    name: str
    description: str
    invitation_code: str
    join_url: str
    coordinator: PersonOut
    police_officer: PersonOut
    member_count: int = 0
    reachable_count: int = Field(0, description="members who are active and accept BIN messages")
    created_at: datetime

    @staticmethod
    def resolve_organisation(obj: BinGroup) -> int:
        return obj.organisation_id

    @staticmethod
    def resolve_invitation_code(obj: BinGroup) -> str:
        return domain.invitation_code_shown(obj.code)

    @staticmethod
    def resolve_join_url(obj: BinGroup) -> str:
        return selectors.bin_join_url(obj)


class BinSenderOut(Schema):
    user: PersonOut
    nominated_at: datetime
    approved_by_coordinator_at: datetime | None
    approved_by_coordinator: int | None
    approved_by_police_at: datetime | None
    approved_by_police: int | None
    revoked_at: datetime | None

    @staticmethod
    def resolve_approved_by_coordinator(obj: BinSender) -> int | None:
        return obj.approved_by_coordinator_id

    @staticmethod
    def resolve_approved_by_police(obj: BinSender) -> int | None:
        return obj.approved_by_police_id


# --- contact lists ---------------------------------------------------------------------------


@router.get("/contact-lists", response=list[ContactListOut], summary="Your organisation's contact lists")
def contact_list_list(request: HttpRequest) -> list[ContactList]:
    return list(selectors.contact_list_list(actor=_actor(request)))


@router.post("/contact-lists", response={201: ContactListOut}, summary="Create a contact list (admin, operator)")
def contact_list_create(request: HttpRequest, payload: ContactListIn) -> Status[ContactList]:
    return Status(201, services.contact_list_create(actor=_actor(request), **payload.dict()))


@router.get("/contact-lists/{list_id}", response=ContactListOut)
def contact_list_get(request: HttpRequest, list_id: int) -> ContactList:
    return selectors.contact_list_get(actor=_actor(request), list_id=list_id)


@router.patch("/contact-lists/{list_id}", response=ContactListOut, summary="Rename or describe a list")
def contact_list_update(request: HttpRequest, list_id: int, payload: ContactListPatch) -> ContactList:
    actor = _actor(request)
    services.contact_list_update(actor=actor, list_id=list_id, **payload.dict())
    return selectors.contact_list_get(actor=actor, list_id=list_id)


@router.delete("/contact-lists/{list_id}", response={204: None}, summary="Delete a list and its contacts")
def contact_list_delete(request: HttpRequest, list_id: int) -> Status[None]:
    services.contact_list_delete(actor=_actor(request), list_id=list_id)
    return Status(204, None)


@router.get("/contact-lists/{list_id}/contacts", response=list[ContactOut], summary="The contacts of a list (audited)")
def contact_list_contacts(request: HttpRequest, list_id: int) -> list[Contact]:
    return list(selectors.contact_list_contacts(actor=_actor(request), list_id=list_id, ip=_ip(request)))


@router.post("/contact-lists/{list_id}/contacts", response={201: ContactOut}, summary="Add a contact")
def contact_create(request: HttpRequest, list_id: int, payload: ContactIn) -> Status[Contact]:
    return Status(201, services.contact_create(actor=_actor(request), list_id=list_id, **payload.dict()))


_CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "UTF-8 CSV, `;` or `,` separated, with a header row: "
        + ", ".join(domain.CSV_COLUMNS)
        + " (only name is required as a column).",
    }
}


@router.post(
    "/contact-lists/{list_id}/import",
    response=ImportReportOut,
    summary="Import contacts from CSV; returns the per-row report",
    description="The body is the CSV file itself (Content-Type: text/csv). Rows with a problem are reported "
    "and not imported; the others are, in one transaction. A row whose mobile or e-mail is already on the list "
    "updates that contact instead of adding another.",
    openapi_extra=_CSV_BODY,
)
def contact_list_import(request: HttpRequest, list_id: int) -> dict[str, object]:
    report = services.contact_list_import(
        actor=_actor(request), list_id=list_id, data=request.read(domain.MAX_IMPORT_BYTES + 1)
    )
    return {
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": report.rejected,
        "problems": [{"row": p.row, "field": p.field, "msg": services.import_problem_text(p)} for p in report.problems],
    }


@router.get(
    "/contact-lists/{list_id}/export",
    summary="The list as CSV (audited)",
    openapi_extra={"responses": {200: {"description": "CSV", "content": {"text/csv": {}}}}},
)
def contact_list_export(request: HttpRequest, list_id: int) -> HttpResponse:
    text = selectors.contact_list_export(actor=_actor(request), list_id=list_id, ip=_ip(request))
    response = HttpResponse(text.encode(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="contact-list-{list_id}.csv"'
    return response


@router.get("/contacts/{contact_id}", response=ContactOut)
def contact_get(request: HttpRequest, contact_id: int) -> Contact:
    return selectors.contact_get(actor=_actor(request), contact_id=contact_id, ip=_ip(request))


@router.patch("/contacts/{contact_id}", response=ContactOut, summary="Change some fields of a contact")
def contact_update(request: HttpRequest, contact_id: int, payload: ContactPatch) -> Contact:
    return services.contact_update(actor=_actor(request), contact_id=contact_id, **payload.dict())


@router.delete("/contacts/{contact_id}", response={204: None})
def contact_delete(request: HttpRequest, contact_id: int) -> Status[None]:
    services.contact_delete(actor=_actor(request), contact_id=contact_id)
    return Status(204, None)


# --- BIN groups ---------------------------------------------------------------------------------


@router.get(
    "/bin-groups",
    response=list[BinGroupOut],
    summary="Your organisation's BIN groups, and those you coordinate or are police officer of",
)
def bin_group_list(request: HttpRequest) -> list[BinGroup]:
    return list(selectors.bin_group_list(actor=_actor(request)))


@router.post("/bin-groups", response={201: BinGroupOut}, summary="Create a BIN group (admin; BIN option)")
def bin_group_create(request: HttpRequest, payload: BinGroupIn) -> Status[BinGroup]:
    actor = _actor(request)
    group = services.bin_group_create(actor=actor, **payload.dict())
    return Status(201, selectors.bin_group_get(actor=actor, group_id=group.pk))


@router.get("/bin-groups/{group_id}", response=BinGroupOut, summary="A BIN group with its member counts")
def bin_group_get(request: HttpRequest, group_id: int) -> BinGroup:
    return selectors.bin_group_get(actor=_actor(request), group_id=group_id)


@router.patch(
    "/bin-groups/{group_id}",
    response=BinGroupOut,
    summary="Change a BIN group; a new coordinator or officer approves the senders again",
)
def bin_group_update(request: HttpRequest, group_id: int, payload: BinGroupPatch) -> BinGroup:
    actor = _actor(request)
    services.bin_group_update(actor=actor, group_id=group_id, **payload.dict())
    return selectors.bin_group_get(actor=actor, group_id=group_id)


@router.delete("/bin-groups/{group_id}", response={204: None})
def bin_group_delete(request: HttpRequest, group_id: int) -> Status[None]:
    services.bin_group_delete(actor=_actor(request), group_id=group_id)
    return Status(204, None)


@router.post(
    "/bin-groups/{group_id}/renew-code",
    response=BinGroupOut,
    summary="A new invitation code; the old link stops working",
)
def bin_group_code_renew(request: HttpRequest, group_id: int) -> BinGroup:
    actor = _actor(request)
    services.bin_group_code_renew(actor=actor, group_id=group_id)
    return selectors.bin_group_get(actor=actor, group_id=group_id)


@router.get("/bin-groups/{group_id}/senders", response=list[BinSenderOut], summary="Delegated senders")
def bin_sender_list(request: HttpRequest, group_id: int) -> list[BinSender]:
    return list(selectors.bin_sender_list(actor=_actor(request), group_id=group_id))


@router.post(
    "/bin-groups/{group_id}/senders/{user_id}",
    response={201: BinSenderOut},
    summary="Propose a member as a sender (admin or BIN coordinator)",
)
def bin_sender_nominate(request: HttpRequest, group_id: int, user_id: int) -> Status[BinSender]:
    return Status(201, services.bin_sender_nominate(actor=_actor(request), group_id=group_id, user_id=user_id))


@router.post(
    "/bin-groups/{group_id}/senders/{user_id}/approve",
    response=BinSenderOut,
    summary="Approve a sender, as the group's BIN coordinator or as its police officer (BA-7-BIN)",
)
def bin_sender_approve(request: HttpRequest, group_id: int, user_id: int) -> BinSender:
    return services.bin_sender_approve(actor=_actor(request), group_id=group_id, user_id=user_id)


@router.post(
    "/bin-groups/{group_id}/senders/{user_id}/revoke",
    response=BinSenderOut,
    summary="End a delegation (admin, BIN coordinator or police officer)",
)
def bin_sender_revoke(request: HttpRequest, group_id: int, user_id: int) -> BinSender:
    return services.bin_sender_revoke(actor=_actor(request), group_id=group_id, user_id=user_id)
