"""Portal pages for contact lists and BIN groups: parse the form, call one service, show the result."""

from __future__ import annotations

from typing import Any

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from tocsin.audiences import domain, selectors, services
from tocsin.audiences import forms as f
from tocsin.audiences.services import ImportReport
from tocsin.organisations.domain import Role
from tocsin.organisations.models import User
from tocsin.organisations.services import AccessDenied, NotFound
from tocsin.web.views import _apply, _denied, client_ip


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _writer(user: User) -> bool:
    return user.has_role(Role.ADMIN, Role.OPERATOR)


# --- contact lists --------------------------------------------------------------------------


@login_required
def lists(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = f.ContactListForm(request.POST or None)
    try:
        if request.method == "POST" and form.is_valid():
            created = _apply(form, lambda: services.contact_list_create(actor=user, **form.cleaned_data))
            if created is not None:
                messages.success(request, _("The list %(name)s is created.") % {"name": created.name})
                return redirect("web:list_detail", list_id=created.pk)
        items = list(selectors.contact_list_list(actor=user))
    except AccessDenied as exc:
        return _denied(request, exc)
    ctx = {"items": items, "form": form, "can_write": _writer(user)}
    return render(request, "audiences/lists.html", ctx, status=400 if form.errors else 200)


def _list_or_404(user: User, list_id: int) -> Any:
    try:
        return selectors.contact_list_get(actor=user, list_id=list_id)
    except NotFound:
        raise Http404 from None


@login_required
def list_detail(request: HttpRequest, list_id: int) -> HttpResponse:
    user = _user(request)
    try:
        contact_list = _list_or_404(user, list_id)
    except AccessDenied as exc:
        return _denied(request, exc)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    edit = f.ContactListForm(
        request.POST if action == "edit" else None,
        initial={"name": contact_list.name, "description": contact_list.description},
        prefix="list",
    )
    add = f.ContactForm(request.POST if action == "add" else None, prefix="contact")
    upload = f.ImportForm(request.POST if action == "import" else None, request.FILES or None, prefix="import")
    report: ImportReport | None = None
    try:
        if action == "edit" and edit.is_valid():
            if _apply(edit, lambda: services.contact_list_update(actor=user, list_id=list_id, **edit.cleaned_data)):
                messages.success(request, _("Saved."))
                return redirect("web:list_detail", list_id=list_id)
        elif action == "delete":
            services.contact_list_delete(actor=user, list_id=list_id)
            messages.success(request, _("The list is deleted."))
            return redirect("web:lists")
        elif action == "add" and add.is_valid():
            if _apply(add, lambda: services.contact_create(actor=user, list_id=list_id, **add.cleaned_data)):
                messages.success(request, _("The contact is added."))
                return redirect("web:list_detail", list_id=list_id)
        elif action == "import" and upload.is_valid():
            data = upload.cleaned_data["file"].read(domain.MAX_IMPORT_BYTES + 1)
            report = _apply(upload, lambda: services.contact_list_import(actor=user, list_id=list_id, data=data))
            if report is not None:
                upload = f.ImportForm(prefix="import")
                contact_list = _list_or_404(user, list_id)
        contacts = list(selectors.contact_list_contacts(actor=user, list_id=list_id, ip=client_ip(request)))
    except AccessDenied as exc:
        return _denied(request, exc)
    except NotFound:
        raise Http404 from None
    ctx = {
        "contact_list": contact_list,
        "contacts": contacts,
        "edit": edit,
        "add": add,
        "upload": upload,
        "report": report,
        "problems": [(p.row, p.field, services.import_problem_text(p)) for p in report.problems] if report else [],
        "can_write": _writer(user),
    }
    failed = edit.errors or add.errors or upload.errors
    return render(request, "audiences/list_detail.html", ctx, status=400 if failed else 200)


@login_required
def list_export(request: HttpRequest, list_id: int) -> HttpResponse:
    user = _user(request)
    try:
        text = selectors.contact_list_export(actor=user, list_id=list_id, ip=client_ip(request))
    except NotFound:
        raise Http404 from None
    except AccessDenied as exc:
        return _denied(request, exc)
    response = HttpResponse(text.encode(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="contact-list-{list_id}.csv"'
    return response


@login_required
def contact_detail(request: HttpRequest, contact_id: int) -> HttpResponse:
    user = _user(request)
    try:
        contact = selectors.contact_get(actor=user, contact_id=contact_id, ip=client_ip(request))
    except NotFound:
        raise Http404 from None
    except AccessDenied as exc:
        return _denied(request, exc)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    initial = {name: getattr(contact, name) for name in services.CONTACT_FIELDS}
    form = f.ContactForm(request.POST if action == "save" else None, initial=initial)
    try:
        if action == "save" and form.is_valid():
            if _apply(form, lambda: services.contact_update(actor=user, contact_id=contact_id, **form.cleaned_data)):
                messages.success(request, _("Saved."))
                return redirect("web:list_detail", list_id=contact.contact_list_id)
        elif action == "delete":
            services.contact_delete(actor=user, contact_id=contact_id)
            messages.success(request, _("The contact is deleted."))
            return redirect("web:list_detail", list_id=contact.contact_list_id)
    except AccessDenied as exc:
        return _denied(request, exc)
    except NotFound:
        raise Http404 from None
    ctx = {"contact": contact, "form": form, "can_write": _writer(user)}
    return render(request, "audiences/contact_detail.html", ctx, status=400 if form.errors else 200)


# --- BIN groups ---------------------------------------------------------------------------------


@login_required
def bin_groups(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = f.BinGroupForm(request.POST or None)
    try:
        if request.method == "POST" and form.is_valid():
            group = _apply(form, lambda: services.bin_group_create(actor=user, **form.cleaned_data))
            if group is not None:
                messages.success(request, _("The BIN group %(name)s is created.") % {"name": group.name})
                return redirect("web:bin_group_detail", group_id=group.pk)
        items = list(selectors.bin_group_list(actor=user))
    except AccessDenied as exc:
        return _denied(request, exc)
    org = user.organisation
    ctx = {"items": items, "form": form, "can_manage": org.bin_option and user.has_role(Role.ADMIN)}
    return render(request, "audiences/bin_groups.html", ctx, status=400 if form.errors else 200)


@login_required
def bin_group_detail(request: HttpRequest, group_id: int) -> HttpResponse:
    user = _user(request)
    try:
        group = selectors.bin_group_get(actor=user, group_id=group_id)
        candidates = [
            (u.pk, f"{u.full_name} <{u.email}>") for u in selectors.bin_sender_candidates(actor=user, group_id=group_id)
        ]
    except NotFound:
        raise Http404 from None
    except AccessDenied as exc:
        return _denied(request, exc)
    action = request.POST.get("action", "") if request.method == "POST" else ""
    own = group.organisation_id == user.organisation_id
    initial = {
        "name": group.name,
        "description": group.description,
        "coordinator_email": group.coordinator.email,
        "police_officer_email": group.police_officer.email,
    }
    edit = f.BinGroupForm(request.POST if action == "edit" else None, initial=initial, prefix="group")
    nominate = f.NominateForm(request.POST if action == "nominate" else None, candidates=candidates, prefix="sender")
    decision = forms.Form(request.POST if action in {"approve", "revoke"} else None)
    try:
        done: object | None = None
        if action == "edit" and edit.is_valid():
            done = _apply(edit, lambda: services.bin_group_update(actor=user, group_id=group_id, **edit.cleaned_data))
        elif action == "nominate" and nominate.is_valid():
            done = _apply(
                nominate,
                lambda: services.bin_sender_nominate(
                    actor=user, group_id=group_id, user_id=nominate.cleaned_data["user"]
                ),
            )
        elif action in {"approve", "revoke"}:
            call = services.bin_sender_approve if action == "approve" else services.bin_sender_revoke
            raw = request.POST.get("user", "")
            user_id = int(raw) if raw.isdigit() else 0
            done = _apply(decision, lambda: call(actor=user, group_id=group_id, user_id=user_id))
        elif action == "renew":
            done = services.bin_group_code_renew(actor=user, group_id=group_id)
        elif action == "delete":
            services.bin_group_delete(actor=user, group_id=group_id)
            messages.success(request, _("The BIN group is deleted."))
            return redirect("web:bin_groups")
        if done is not None:
            messages.success(request, _("Saved."))
            return redirect("web:bin_group_detail", group_id=group_id)
        senders = list(selectors.bin_sender_list(actor=user, group_id=group_id))
    except AccessDenied as exc:
        return _denied(request, exc)
    except NotFound:
        raise Http404 from None
    join_url = selectors.bin_join_url(group)
    qr = segno.make(join_url, error="m").svg_inline(
        scale=4, title=_("QR code of the link to join %(name)s") % {"name": group.name}
    )
    ctx = {
        "group": group,
        "own": own,
        "senders": senders,
        "join_url": join_url,
        "code": domain.invitation_code_shown(group.code),
        "qr": qr,
        "edit": edit,
        "nominate": nominate,
        "decision": decision,
        "can_manage": own and user.has_role(Role.ADMIN),
        "can_nominate": own and (user.has_role(Role.ADMIN) or user.pk == group.coordinator_id) and candidates,
        "is_coordinator": user.pk == group.coordinator_id,
        "is_officer": user.pk == group.police_officer_id,
    }
    failed = edit.errors or nominate.errors or decision.errors
    return render(request, "audiences/bin_group_detail.html", ctx, status=400 if failed else 200)
