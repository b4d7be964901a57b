"""The billing documents as PDF and CSV: the order form (bestelbon, BA-8-PREPAID) and the monthly statement.

Counts and amounts only: a statement names the entity, never a recipient (BA-7.4). Money arrives as
``Decimal`` already rounded where the ledger rounds it; here it is only formatted, never computed in float.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from fpdf import FPDF
from fpdf.fonts import FontFace

from tocsin.billing import domain, services
from tocsin.billing.models import OrderForm

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian's fonts-dejavu-core, as the alert report
FOOTER = "Counts and amounts only; no personal data (BA-7.4)."
PREPAID_RULE = "BA-8-PREPAID: received at least 14 days before the requested delivery date"
# Long free text (memos, event names) is cut so that one table row can never outgrow a page.
MAX_CELL = 160
LABELS = 95  # mm: the order form's trilingual labels on one line
HEADINGS = FontFace(emphasis="BOLD", fill_color=(225, 225, 225))


# --- formatting ---------------------------------------------------------------------------------------------


def eur(amount: Decimal) -> str:
    """``€ 240.00``: two decimals, a dot, no thousands separator (the same in nl, fr and en)."""
    return f"€ {amount:.2f}"


def unit_price(price: Decimal) -> str:
    return f"€ {price:.4f}"


def percent(rate: Decimal) -> str:
    """``0.2100`` → ``21%``, ``0.0550`` → ``5.5%``."""
    return f"{(rate * 100).normalize():f}%"


def _day(value: datetime | date) -> str:
    if isinstance(value, datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value.isoformat()


def _cut(text: Any, limit: int = MAX_CELL) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- the PDF base ---------------------------------------------------------------------------------------------


def _same(text: str) -> str:
    return text


def _latin1(text: str) -> str:
    """The core font covers Latin-1 only: the euro sign is spelled out, other characters become '?'."""
    text = text.replace("€", "EUR").replace("…", "...")
    return text.encode("latin-1", "replace").decode("latin-1")


class _Document(FPDF):
    """A4 in DejaVu Sans when installed (ł, ő, €, Greek …), else in the core Helvetica; a footer with the
    page number on every page."""

    def __init__(self, title: str, footer: str = "") -> None:
        super().__init__(format="A4")
        font_file = Path(str(getattr(settings, "TOCSIN_PDF_FONT", FONT)))
        bold_file = font_file.with_name(font_file.stem + "-Bold" + font_file.suffix)
        self.clean: Callable[[str], str]
        if font_file.is_file():
            self.add_font("body", "", str(font_file))
            self.add_font("body", "B", str(bold_file if bold_file.is_file() else font_file))
            self.add_font("body", "I", str(font_file))
            self.family, self.clean = "body", _same
        else:
            self.family, self.clean = "Helvetica", _latin1
        self.footer_text = footer
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(True, margin=18)
        self.set_title(self.clean(title))
        self.set_creator("Tocsin")
        self.add_page()

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(self.family, "I", 7)
        text = f"{self.footer_text}   {self.page_no()}/{{nb}}" if self.footer_text else f"{self.page_no()}/{{nb}}"
        self.cell(0, 4, self.clean(text), align="C")

    def heading(self, text: str, size: int = 16) -> None:
        self.set_font(self.family, "B", size)
        self.multi_cell(0, size * 0.5, self.clean(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.family, size=9)

    def section(self, text: str) -> None:
        self.ln(3)
        self.set_font(self.family, "B", 11)
        self.cell(0, 7, self.clean(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.family, size=9)

    def fields(self, rows: Iterable[tuple[str, str]], label_width: float = 70) -> None:
        """Label and value pairs, the value wrapped when long."""
        rest = self.epw - label_width
        self.set_font(self.family, size=9)  # a table takes the font in use: never a heading's
        with self.table(col_widths=(label_width, rest), first_row_as_headings=False, borders_layout="NONE",
                        line_height=5.5, text_align=("LEFT", "LEFT"), padding=(0.5, 1)) as table:  # fmt: skip
            for label, value in rows:
                row = table.row()
                row.cell(self.clean(label), style=FontFace(emphasis="BOLD"))
                row.cell(self.clean(value))

    def grid(self, headings: Sequence[str], rows: Iterable[Sequence[str]], widths: Sequence[float],
             align: Sequence[str]) -> None:  # fmt: skip
        """A table that wraps long cells and goes on over pages, repeating its headings."""
        with self.table(col_widths=tuple(widths), text_align=tuple(align), headings_style=HEADINGS,
                        borders_layout="HORIZONTAL_LINES", line_height=4.5, padding=(0.8, 1),
                        repeat_headings=1) as table:  # fmt: skip
            table.row([self.clean(h) for h in headings])
            for cells in rows:
                table.row([self.clean(c) for c in cells])

    def render(self) -> bytes:
        return bytes(self.output())


# --- the order form ---------------------------------------------------------------------------------------------


def order_amounts(order: OrderForm) -> dict[str, Decimal]:
    """Amount excl. VAT (units x unit price, to the cent, half up), VAT at the tariff in force on the day
    the order was submitted, total incl. VAT."""
    net = domain.cents(order.unit_price * order.units)
    rate = services.tariff_at(timezone.localtime(order.submitted_at).date()).vat_rate
    vat = domain.vat(net, rate)
    return {"net": net, "vat_rate": rate, "vat": vat, "total": net + vat}


def order_form_pdf(order: OrderForm) -> bytes:
    """The bestelbon for a package of pre-paid units, as sent to the supplier and the crisis-centre team."""
    org, by = order.organisation, order.submitted_by
    money = order_amounts(order)
    pdf = _Document(f"Bestelbon {order.number}", footer=f"Tocsin · {order.number}")
    pdf.heading("Bestelbon / Bon de commande / Order form")
    pdf.set_font(pdf.family, "B", 13)
    pdf.cell(0, 9, pdf.clean(order.number), new_x="LMARGIN", new_y="NEXT")
    pdf.fields([
        ("Datum / Date / Date submitted", _day(order.submitted_at)),
        ("Status / Statut / Status", order.status + (f" ({order.reason})" if order.reason else "")),
    ], label_width=LABELS)  # fmt: skip
    pdf.section("Entiteit / Entité / Entity")
    pdf.fields([
        ("Naam / Nom / Name", org.name),
        ("NIS-code / Code INS / NIS code", org.nis_code or "-"),
        ("E-mail / Courriel / Contact e-mail", org.contact_email or "-"),
        ("Eigen referentie / Référence / Reference", order.reference or "-"),
    ], label_width=LABELS)  # fmt: skip
    pdf.section("Besteld door / Commandé par / Submitted by")
    pdf.fields([("Naam / Nom / Name", by.full_name), ("E-mail / Courriel / E-mail", by.email)], label_width=LABELS)
    pdf.section("Bestelling / Commande / Order")
    pdf.fields([
        ("Pakket / Paquet / Package", f"{order.units} units (pre-paid)"),
        ("Eenheidsprijs / Prix unitaire / Unit price excl. VAT", unit_price(order.unit_price)),
        ("Bedrag / Montant / Amount excl. VAT", eur(money["net"])),
        (f"Btw / TVA / VAT {percent(money['vat_rate'])}", eur(money["vat"])),
        ("Totaal / Total / Total incl. VAT", eur(money["total"])),
        ("Leveringsdatum / Date de livraison / Requested delivery", _day(order.requested_delivery)),
    ], label_width=LABELS)  # fmt: skip
    pdf.ln(4)
    pdf.set_font(pdf.family, "B", 9)
    pdf.multi_cell(0, 5, pdf.clean(PREPAID_RULE), new_x="LMARGIN", new_y="NEXT")
    return pdf.render()


# --- the monthly statement ----------------------------------------------------------------------------------


def _fee_rows(statement: dict[str, Any]) -> list[list[str]]:
    return [[_day(f["at"]), f["kind"], _cut(f["memo"]), str(f["units"] or ""), eur(f["amount"])]
            for f in statement["fees"]]  # fmt: skip


def _usage_rows(statement: dict[str, Any]) -> list[list[str]]:
    return [
        [str(u["alert_id"] or "-"), _cut(u["event"]), u["channel"], str(u["units"]), str(u["prepaid_units"]),
         str(u["postpaid_units"]), eur(u["amount"])]
        for u in statement["usage"]
    ]  # fmt: skip


def statement_pdf(statement: dict[str, Any]) -> bytes:
    """One entity's month: opening balances, bookings, usage per alert and channel, totals, closing."""
    s = statement
    name = s["organisation"].name
    # The entity and month in every page's footer: a page printed alone still says whose month it is.
    pdf = _Document(f"Statement {name} {s['month']}", footer=f"{name} · {s['month']} · {FOOTER}")
    pdf.heading("Afrekening / Relevé / Statement")
    pdf.set_font(pdf.family, "B", 13)
    pdf.multi_cell(0, 7, pdf.clean(f"{name} - {s['month']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.section("Opening balance")
    pdf.fields([("Amount receivable", eur(s["opening_receivable"])), ("Pre-paid units", str(s["opening_units"]))])
    pdf.section("Fees and bookings")
    if s["fees"]:
        pdf.grid(["Date", "Kind", "Memo", "Units", "Amount"], _fee_rows(s), (22, 24, 88, 20, 26),
                 ("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT"))  # fmt: skip
    else:
        pdf.cell(0, 6, "None.", new_x="LMARGIN", new_y="NEXT")
    pdf.section("Usage per alert and channel")
    if s["usage"]:
        headings = ["Alert", "Event", "Channel", "Units", "Pre-paid", "Post-paid", "Amount"]
        align = ("LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
        pdf.grid(headings, _usage_rows(s), (16, 60, 20, 20, 20, 20, 24), align)
    else:
        pdf.cell(0, 6, "None.", new_x="LMARGIN", new_y="NEXT")
    pdf.section("Totals")
    pdf.fields([
        ("Post-paid amount", eur(s["postpaid_amount"])),
        ("Net excl. VAT", eur(s["net"])),
        (f"VAT {percent(s['vat_rate'])}", eur(s["vat"])),
        ("Total incl. VAT", eur(s["total"])),
    ])  # fmt: skip
    pdf.section("Pre-paid units")
    pdf.fields([
        ("Opening", str(s["opening_units"])),
        ("In", str(s["units_in"])),
        ("Used", str(s["units_used"])),
        ("Expired", str(s["units_expired"])),
        ("Closing", str(s["closing_units"])),
    ])  # fmt: skip
    pdf.section("Closing balance")
    pdf.fields([("Amount receivable", eur(s["closing_receivable"]))])
    return pdf.render()


def _plain(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _statement_rows(s: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    rows = [
        ("opening", "receivable", "", "", _plain(s["opening_receivable"])),
        ("opening", "pre-paid units", "", str(s["opening_units"]), ""),
    ]
    # The memo alone in its cell: typed by people, it is what the formula guard below must see first.
    rows += [("fee", f"{_day(f['at'])} {f['kind']}", f["memo"], str(f["units"]), _plain(f["amount"]))
             for f in s["fees"]]  # fmt: skip
    rows += [
        ("usage", f"alert {u['alert_id'] or '-'} {u['channel']}",
         f"{u['event']} (pre-paid {u['prepaid_units']}, post-paid {u['postpaid_units']})",
         str(u["units"]), _plain(u["amount"]))
        for u in s["usage"]
    ]  # fmt: skip
    rows += [
        ("totals", "post-paid amount", "", "", _plain(s["postpaid_amount"])),
        ("totals", "net excl. VAT", "", "", _plain(s["net"])),
        ("totals", "VAT", percent(s["vat_rate"]), "", _plain(s["vat"])),
        ("totals", "total incl. VAT", "", "", _plain(s["total"])),
        ("totals", "pre-paid units in", "", str(s["units_in"]), ""),
        ("totals", "pre-paid units used", "", str(s["units_used"]), ""),
        ("totals", "pre-paid units expired", "", str(s["units_expired"]), ""),
        ("closing", "receivable", "", "", _plain(s["closing_receivable"])),
        ("closing", "pre-paid units", "", str(s["closing_units"]), ""),
    ]
    return rows


def _safe(text: str) -> str:
    # A cell starting with = + - @ would run as a formula in a spreadsheet (memos and event names are typed
    # by people). Only text is neutralised: our own numbers, "-12.34" among them, stay numbers.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def statement_csv(statement: dict[str, Any]) -> str:
    """The statement as rows ``section;item;detail;units;amount``, UTF-8 with a BOM (spreadsheets)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["section", "item", "detail", "units", "amount"])
    for section, item, detail, units, amount in _statement_rows(statement):
        writer.writerow([_safe(section), _safe(item), _safe(detail), units, amount])
    return "\ufeff" + out.getvalue()
