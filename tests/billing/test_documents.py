"""The billing documents: the order form (BA-8-PREPAID) and the monthly statement, rendered for real with
Debian's poppler (pdftoppm, pdftotext) and read back; the statement's CSV read with the csv module."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from tests.organisations.factories import UserFactory
from tocsin.billing import documents, domain, selectors, services
from tocsin.billing.models import OrderForm
from tocsin.organisations.models import Organisation, User

pytestmark = pytest.mark.django_db

ACCENTED = "Gemeente Łódź-Zottegem é"
HYPERLINK = '=HYPERLINK("https://evil.example/x","click")'


def unicode_font() -> bool:
    return Path(str(getattr(settings, "TOCSIN_PDF_FONT", documents.FONT))).is_file()


def euro(text: str) -> str:
    """What the PDF shows for an amount: the € sign with DejaVu, spelled out in the core font."""
    return text if unicode_font() else text.replace("€", "EUR")


def render(pdf: bytes, tmp_path: Path, name: str) -> tuple[list[Path], str]:
    """The PDF as PNG pages at 50 dpi and as text (layout kept, so table rows stay on one line)."""
    if not (shutil.which("pdftoppm") and shutil.which("pdftotext")):
        pytest.skip("poppler-utils is not installed: `make test` installs it with apt-get; this machine could not.")
    assert pdf.startswith(b"%PDF-")
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(source), str(tmp_path / name)], check=True, timeout=60)
    pages = sorted(tmp_path.glob(f"{name}-*.png"))
    for page in pages:
        assert page.stat().st_size > 0
        assert page.read_bytes().startswith(b"\x89PNG")
    out = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(source), "-"], check=True, timeout=60,
                         capture_output=True)  # fmt: skip
    return pages, out.stdout.decode("utf-8")


@pytest.fixture
def order(muni_admin: User) -> OrderForm:
    muni_admin.organisation.contact_email = "info@zottegem.be"
    muni_admin.organisation.save(update_fields=["contact_email"])
    day = timezone.localdate() + timedelta(days=20)
    return services.order_submit(actor=muni_admin, units="5000", requested_delivery=day, reference="PO 2026/117")


def test_ba_8_prepaid_order_form_has_number_package_amounts_delivery_and_rule(order, tmp_path):
    pages, text = render(documents.order_form_pdf(order), tmp_path, "order")
    assert len(pages) == 1
    assert "Bestelbon / Bon de commande / Order form" in text
    assert order.number in text and order.number.startswith("BB-")
    assert "5000" in text
    assert euro("€ 0.0500") in text  # the package's unit price excl. VAT, 4 decimals
    assert euro("€ 250.00") in text  # 5000 x €0.0500, excl. VAT
    assert euro("€ 52.50") in text and "21%" in text  # VAT at the tariff's rate
    assert euro("€ 302.50") in text  # incl. VAT
    assert order.requested_delivery.isoformat() in text
    assert timezone.localdate().isoformat() in text  # submitted today
    assert "BA-8-PREPAID" in text and "14 days" in text
    assert "Gemeente Zottegem" in text and "44021" in text and "info@zottegem.be" in text
    assert order.submitted_by.full_name in text and "admin@zottegem.be" in text
    assert "PO 2026/117" in text and "submitted" in text


def test_order_amounts_are_decimal_to_the_cent_half_up(order):
    order.units, order.unit_price = 3, Decimal("0.0550")  # 0.165 → 0.17, half up
    money = documents.order_amounts(order)
    assert money == {"net": Decimal("0.17"), "vat_rate": Decimal("0.2100"), "vat": Decimal("0.04"),
                     "total": Decimal("0.21")}  # fmt: skip
    assert all(isinstance(v, Decimal) for v in money.values())


def test_names_with_accents_and_polish_letters_survive(order, tmp_path):
    org = order.organisation
    org.name = ACCENTED
    org.save(update_fields=["name"])
    order.refresh_from_db()
    _pages, text = render(documents.order_form_pdf(order), tmp_path, "accents")
    statement = selectors.statement(org, timezone.localdate().strftime("%Y-%m"))
    _pages, text2 = render(documents.statement_pdf(statement), tmp_path, "accents-statement")
    if not unicode_font():
        pytest.skip("DejaVu Sans is absent: the core font prints '?' for Ł (`make fonts` installs it)")
    assert ACCENTED in text and ACCENTED in text2
    assert "€ 250.00" in text


def test_statement_of_an_activated_entity_renders_on_one_page(municipality, tmp_path):
    services.activation_book(municipality)
    month = timezone.localdate(municipality.activated_at).strftime("%Y-%m")
    statement = selectors.statement(municipality, month)
    assert statement["fees"]  # the activation and the first year's subscription
    pages, text = render(documents.statement_pdf(statement), tmp_path, "statement")
    assert len(pages) == 1
    assert "Gemeente Zottegem" in text and month in text
    assert "Total incl. VAT" in text and euro(documents.eur(statement["total"])) in text
    assert "activation" in text and "subscription" in text
    assert "BA-7.4" in text


def test_statement_of_an_entity_without_bookings(municipality, tmp_path):
    statement = selectors.statement(municipality, "2020-01")
    pages, text = render(documents.statement_pdf(statement), tmp_path, "empty")
    assert len(pages) == 1 and "2020-01" in text and "Total" in text and euro("€ 0.00") in text


def long_statement(org: Organisation) -> dict[str, Any]:
    """A month with 60 usage rows, a long memo and a memo that is a spreadsheet formula."""
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    usage = [
        {"alert_id": 1000 + i, "event": f"Overstroming Dender {i} " + "zeer lange gebeurtenisnaam " * (i % 7 == 0) * 3,
         "channel": "voice" if i % 2 else "sms", "units": 1200 + i, "prepaid_units": 1000, "postpaid_units": 200 + i,
         "amount": Decimal("0.055") * (200 + i)}
        for i in range(60)
    ]  # fmt: skip
    for row in usage:
        row["amount"] = domain.cents(row["amount"])
    fees = [
        {"at": start, "kind": "subscription", "memo": "subscription 2026", "amount": Decimal("788.88"), "units": 0},
        {"at": start, "kind": "package", "memo": "order BB-2026-000001: 5000 units " + "x" * 280,
         "amount": Decimal("250.00"), "units": 5000},
        {"at": start, "kind": "credit", "memo": HYPERLINK, "amount": Decimal("-12.34"), "units": 0},
        {"at": start, "kind": "credit", "memo": "+32 471 12 34 56", "amount": Decimal("-1.00"), "units": 0},
    ]  # fmt: skip
    postpaid = sum((u["amount"] for u in usage), Decimal(0))
    net = sum((f["amount"] for f in fees), Decimal(0)) + postpaid
    vat = domain.vat(net, Decimal("0.2100"))
    return {
        "organisation": org, "month": start.strftime("%Y-%m"), "start": start, "end": start + timedelta(days=31),
        "opening_receivable": Decimal("100.00"), "opening_units": 3000, "fees": fees, "usage": usage,
        "units_in": 5000, "units_used": 60000, "units_expired": 0, "postpaid_amount": postpaid, "net": net,
        "vat_rate": Decimal("0.2100"), "vat": vat, "total": net + vat, "closing_receivable": Decimal("100.00") + net,
        "closing_units": 3000 + 5000 - 60000,
    }  # fmt: skip


def test_statement_with_60_usage_rows_goes_on_over_pages(municipality, tmp_path):
    statement = long_statement(municipality)
    pages, text = render(documents.statement_pdf(statement), tmp_path, "long")
    assert len(pages) > 1
    info = subprocess.run(["pdfinfo", str(tmp_path / "long.pdf")], capture_output=True, check=True).stdout.decode()
    assert re.search(rf"^Pages:\s+{len(pages)}$", info, re.M)
    assert "Gemeente Zottegem" in text and statement["month"] in text and "Total incl. VAT" in text
    for i in (0, 29, 59):  # every row is there, none lost at a page break
        assert str(1000 + i) in text
    headings = re.findall(r"^\s*Alert\s+Event\s+Channel\s+Units\s+Pre-paid\s+Post-paid\s+Amount$", text, re.M)
    assert len(headings) == len(pages)  # the table's headings repeated on each page it goes on to
    assert euro(documents.eur(statement["total"])) in text
    assert "BA-7.4" in text


def test_statement_csv_has_sections_plain_amounts_and_neutralised_formulas(municipality):
    statement = long_statement(municipality)
    out = documents.statement_csv(statement)
    assert out.startswith("\ufeffsection;item;detail;units;amount\r\n")
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["section", "item", "detail", "units", "amount"]
    assert all(len(r) == 5 for r in rows)
    sections = [r[0] for r in rows[1:]]
    assert sections.count("fee") == 4 and sections.count("usage") == 60
    assert sections[0] == "opening" and sections[-1] == "closing" and "totals" in sections
    assert ["opening", "receivable", "", "", "100.00"] in rows
    credit = next(r for r in rows if "HYPERLINK" in r[2])
    assert credit[2] == "'" + HYPERLINK and credit[1].endswith(" credit")
    assert ["fee", credit[1], "'+32 471 12 34 56", "0", "-1.00"] in rows
    assert credit[4] == "-12.34"  # our own negative number stays a number
    usage = next(r for r in rows if r[1] == "alert 1003 voice")
    assert usage[3] == "1203" and usage[4] == "11.17" and "(pre-paid 1000, post-paid 203)" in usage[2]
    total = next(r for r in rows if r[1] == "total incl. VAT")
    assert total[4] == f"{statement['total']:.2f}" and "." in total[4] and "," not in total[4]
    assert ["totals", "VAT", "21%", "", f"{statement['vat']:.2f}"] in rows


def test_statement_csv_neutralises_a_cell_that_starts_with_a_formula(municipality):
    statement = long_statement(municipality)
    statement["fees"] = []
    statement["usage"] = [{"alert_id": 7, "event": HYPERLINK, "channel": "sms", "units": 1, "prepaid_units": 1,
                           "postpaid_units": 0, "amount": Decimal("0.00")}]  # fmt: skip
    rows = list(csv.reader(io.StringIO(documents.statement_csv(statement).lstrip("\ufeff")), delimiter=";"))
    usage = next(r for r in rows if r[0] == "usage")
    assert usage[2].startswith("'=HYPERLINK(")
    # A section or item never comes from a person, but the guard is on every text cell all the same.
    assert documents._safe("@SUM(A1)") == "'@SUM(A1)" and documents._safe("-1") == "'-1"
    assert documents._safe("+32") == "'+32" and documents._safe("plain") == "plain"


def test_an_order_form_for_another_submitter_names_that_person(order, tmp_path):
    other = UserFactory(organisation=order.organisation, full_name="Anneleen Vercauteren", email="av@zottegem.be")
    order.submitted_by = other
    order.save(update_fields=["submitted_by"])
    _pages, text = render(documents.order_form_pdf(order), tmp_path, "other")
    assert "Anneleen Vercauteren" in text and "av@zottegem.be" in text


def test_without_dejavu_the_core_font_spells_the_euro_out(order, tmp_path, settings):
    settings.TOCSIN_PDF_FONT = str(tmp_path / "absent.ttf")
    org = order.organisation
    org.name = ACCENTED
    org.save(update_fields=["name"])
    order.refresh_from_db()
    pages, text = render(documents.order_form_pdf(order), tmp_path, "core")
    assert len(pages) == 1
    assert "EUR 250.00" in text and "Gemeente ?" in text  # Ł is outside Latin-1; the é survives
    _pages, text = render(documents.statement_pdf(long_statement(org)), tmp_path, "core-statement")
    assert "Total incl. VAT" in text and "é" in text
