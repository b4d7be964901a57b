"""Portal pages for contact lists and BIN groups: forms, the import report, counts only, no inline script."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.audiences.factories import registration
from tests.organisations.factories import UserFactory
from tocsin.audiences import services
from tocsin.audiences.models import BinGroup, BinSender, Contact, ContactList


def _no_inline_script(content: bytes) -> None:
    html = content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline <script> (CSP is script-src 'self')"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"


def test_lists_page_create_and_detail(muni_admin, as_user):
    client = as_user(muni_admin)
    page = client.get(reverse("web:lists"))
    assert page.status_code == 200 and b'<label for="id_name"' in page.content
    assert reverse("web:lists").encode() in page.content  # the nav link
    _no_inline_script(page.content)
    created = client.post(reverse("web:lists"), {"name": "Schools", "description": ""})
    contact_list = ContactList.objects.get()
    assert created.url == reverse("web:list_detail", args=[contact_list.pk])
    detail = client.get(created.url)
    assert detail.status_code == 200
    _no_inline_script(detail.content)


def test_list_detail_add_contact_errors_on_the_field(muni_admin, as_user):
    contact_list = services.contact_list_create(actor=muni_admin, name="Schools")
    client = as_user(muni_admin)
    url = reverse("web:list_detail", args=[contact_list.pk])
    bad = client.post(url, {"action": "add", "contact-name": "X", "contact-mobile": "123"})
    assert bad.status_code == 400
    assert b'id="id_contact-mobile-error"' in bad.content
    assert not Contact.objects.exists()
    ok = client.post(url, {"action": "add", "contact-name": "X", "contact-mobile": "0470123456"})
    assert ok.status_code == 302
    assert Contact.objects.get().mobile == "+32470123456"


def test_import_form_shows_the_per_row_report(muni_admin, as_user):
    contact_list = services.contact_list_create(actor=muni_admin, name="Schools")
    client = as_user(muni_admin)
    upload = SimpleUploadedFile("list.csv", b"name;mobile\nGood;0470123456\nBad;12\n", content_type="text/csv")
    page = client.post(
        reverse("web:list_detail", args=[contact_list.pk]),
        {"action": "import", "import-file": upload},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert page.status_code == 200
    html = page.content.decode()
    assert "Import report" in html and "This is not a valid phone number." in html
    assert re.search(r'<td class="num">3</td><td>mobile</td>', html)
    assert Contact.objects.get().name == "Good"


def test_export_link_downloads_csv(muni_admin, as_user):
    contact_list = services.contact_list_create(actor=muni_admin, name="Schools")
    services.contact_create(actor=muni_admin, list_id=contact_list.pk, name="A", email="a@x.be")
    response = as_user(muni_admin).get(reverse("web:list_export", args=[contact_list.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "a@x.be" in response.content.decode("utf-8-sig")


def test_viewer_sees_no_forms_and_cannot_post(municipality, muni_admin, as_user):
    contact_list = services.contact_list_create(actor=muni_admin, name="Schools")
    viewer = UserFactory(organisation=municipality, roles=["viewer"])
    client = as_user(viewer)
    page = client.get(reverse("web:list_detail", args=[contact_list.pk]))
    assert page.status_code == 200 and b'name="action"' not in page.content
    assert client.post(reverse("web:list_detail", args=[contact_list.pk]), {"action": "delete"}).status_code == 403
    assert ContactList.objects.exists()


def test_contact_page_edit_and_delete(muni_admin, as_user):
    contact_list = services.contact_list_create(actor=muni_admin, name="Schools")
    contact = services.contact_create(actor=muni_admin, list_id=contact_list.pk, name="A", email="a@x.be")
    client = as_user(muni_admin)
    url = reverse("web:contact_detail", args=[contact.pk])
    assert client.get(url).status_code == 200
    saved = client.post(url, {"action": "save", "name": "B", "email": "b@x.be", "language": "de"})
    assert saved.status_code == 302
    contact.refresh_from_db()
    assert (contact.name, contact.email, contact.language) == ("B", "b@x.be", "de")
    assert client.post(url, {"action": "delete"}).status_code == 302
    assert not Contact.objects.exists()


@pytest.fixture
def bin_world(make_org, police_zone):
    org = make_org("municipality", name="Gemeente Oudenaarde", nis_code="45035", bin_option=True)
    admin = UserFactory(organisation=org, roles=["admin"])
    coordinator = UserFactory(organisation=org, roles=["viewer"])
    officer = UserFactory(organisation=police_zone, roles=["viewer"])
    sender = UserFactory(organisation=org, roles=["operator"], full_name="Olga Operator")
    return admin, coordinator, officer, sender


def test_ba_7_bin_groups_pages_with_join_link_qr_and_counts_only(bin_world, as_user):
    """BA-7-BIN pages; BA-7.4: the member count is shown, never a member's name or number."""
    admin, coordinator, officer, sender = bin_world
    client = as_user(admin)
    index = client.get(reverse("web:bin_groups"))
    assert index.status_code == 200 and reverse("web:bin_groups").encode() in index.content
    created = client.post(reverse("web:bin_groups"), {"name": "BIN Bevere", "coordinator_email": coordinator.email,
                                                       "police_officer_email": officer.email})  # fmt: skip
    assert created.status_code == 302
    group = BinGroup.objects.get()
    citizen = registration(name="Jan Janssens")
    services.bin_group_join(code=group.code, registration_id=citizen.pk)
    page = client.get(created.url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in html and f"/bin/join/{group.code}/" in html
    assert "Janssens" not in html
    _no_inline_script(page.content)
    nominated = client.post(created.url, {"action": "nominate", "sender-user": sender.pk})
    assert nominated.status_code == 302
    assert "Olga Operator" in client.get(created.url).content.decode()


def test_ba_7_bin_coordinator_and_officer_approve_in_the_portal(bin_world, as_user):
    admin, coordinator, officer, sender = bin_world
    group = services.bin_group_create(actor=admin, name="BIN", coordinator_email=coordinator.email,
                                      police_officer_email=officer.email)  # fmt: skip
    services.bin_sender_nominate(actor=admin, group_id=group.pk, user_id=sender.pk)
    url = reverse("web:bin_group_detail", args=[group.pk])
    for person in (coordinator, officer):
        client = as_user(person)
        page = client.get(url)
        assert page.status_code == 200 and b'value="approve"' in page.content
        assert client.post(url, {"action": "approve", "user": sender.pk}).status_code == 302
    row = BinSender.objects.get()
    assert row.approved_by_coordinator_id == coordinator.pk and row.approved_by_police_id == officer.pk
    refused = as_user(admin).post(url, {"action": "approve", "user": sender.pk})
    assert refused.status_code == 403


def test_bin_nav_hidden_without_the_option(muni_admin, as_user):
    page = as_user(muni_admin).get(reverse("web:dashboard"))
    assert reverse("web:bin_groups").encode() not in page.content
