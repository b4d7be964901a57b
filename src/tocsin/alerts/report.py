"""The report of one alert: timeline, figures per channel and state, units, replies — counts only, no
recipient, no personal data (BA-7.4). As rows (CSV) and as a one-page PDF."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.conf import settings

from tocsin.alerts import selectors
from tocsin.alerts.broadcasts import broadcast_summary
from tocsin.alerts.models import Alert
from tocsin.audit.models import AuditEntry
from tocsin.organisations.models import User


def alert_report(*, actor: User, alert_id: int) -> dict[str, Any]:
    from django.db.models import Sum

    from tocsin.delivery.models import Delivery
    from tocsin.delivery.services import progress

    alert = selectors.alert_get(actor=actor, alert_id=alert_id)
    channels: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for request_id in alert.send_request_ids:
        for channel, states in progress(request_id=request_id).items():
            for state, n in states.items():
                channels[channel][state] += n
    units = Delivery.objects.filter(request_id__in=alert.send_request_ids).aggregate(n=Sum("units"))["n"] or 0
    timeline = [
        (entry.at, entry.action.removeprefix("alert."), entry.actor_label)
        for entry in AuditEntry.objects.filter(object_type="alert", object_id=str(alert.pk)).order_by("seq")
    ]
    if alert.cancelled_at:
        timeline.append((alert.cancelled_at, "cancelled", ""))
    return {
        "alert": alert,
        "timeline": sorted(timeline, key=lambda row: row[0]),
        "channels": {ch: dict(states) for ch, states in channels.items()},
        "units": int(units),
        "acks": selectors.alert_acks(alert=alert),
        "broadcasts": broadcast_summary(alert),
    }


def _rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    alert: Alert = report["alert"]
    rows = [
        ("alert", "identifier", alert.identifier),
        ("alert", "event", alert.event),
        ("alert", "message", alert.msg_type),
        ("alert", "status", alert.status),
        ("alert", "severity", alert.severity),
        ("alert", "state", alert.state),
        ("alert", "recipients", str(alert.snapshot.get("total", ""))),
    ]
    rows += [("timeline", when.isoformat(), f"{what} {who}".strip()) for when, what, who in report["timeline"]]
    for channel, states in sorted(report["channels"].items()):
        rows += [(f"channel {channel}", state, str(n)) for state, n in sorted(states.items())]
    rows.append(("billing", "sms_units", str(report["units"])))
    for b in report["broadcasts"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(b["counts"].items()))
        rows.append((f"area broadcast {b['channel']}", b["gateway"], f"{b['state']} {counts}".strip()))
    rows += [("acknowledgements", kind, str(n)) for kind, n in report["acks"].items()]
    return rows


def report_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["section", "item", "value"])
    for section, item, value in _rows(report):
        # A cell starting with = + - @ would run as a formula in a spreadsheet.
        writer.writerow([section, item, "'" + value if value[:1] in ("=", "+", "-", "@") else value])
    return "\ufeff" + out.getvalue()


FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"  # Debian's fonts-dejavu-core


def _same(text: str) -> str:
    return text


def _latin1(text: str) -> str:
    """The core font covers Latin-1 only: without DejaVu, other characters become '?'."""
    return text.encode("latin-1", "replace").decode("latin-1")


def report_pdf(report: dict[str, Any]) -> bytes:
    """The report as PDF, in DejaVu Sans when installed (every text of the four languages and beyond: ł, ő,
    €, Greek …), else in the core Helvetica."""
    from fpdf import FPDF

    alert: Alert = report["alert"]
    pdf = FPDF(format="A4")
    font_file = Path(str(getattr(settings, "TOCSIN_PDF_FONT", FONT)))
    bold_file = font_file.with_name(font_file.stem + "-Bold" + font_file.suffix)
    if font_file.is_file():
        pdf.add_font("body", "", str(font_file))
        pdf.add_font("body", "B", str(bold_file if bold_file.is_file() else font_file))
        pdf.add_font("body", "I", str(font_file))
        family, clean = "body", _same
    else:
        family, clean = "Helvetica", _latin1
    pdf.set_title(clean(f"Tocsin report {alert.identifier}"))
    pdf.add_page()
    pdf.set_font(family, "B", 16)
    pdf.multi_cell(0, 9, clean(f"{alert.msg_type}: {alert.event}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=10)
    section = ""
    for sec, item, value in _rows(report):
        if sec != section:
            section = sec
            pdf.ln(3)
            pdf.set_font(family, "B", 11)
            pdf.cell(0, 7, clean(section.capitalize()), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font(family, size=10)
        pdf.cell(70, 6, clean(item))
        pdf.multi_cell(0, 6, clean(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "I", 8)
    pdf.multi_cell(0, 4, "Counts only: this report holds no recipient and no personal data (BA-7.4).")
    return bytes(pdf.output())
