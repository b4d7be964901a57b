"""An alarm central imports its systems from a CSV through the portal and reads the report row by row (KB-7-ARC);
the registry administration sees its statistics on a map of Belgium — in headless chromium."""

# ruff: noqa: F811 — the registry's fixtures are imported from tests/alarms/conftest.py, then used as arguments

from __future__ import annotations

import csv
import io
import random
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.alarms.conftest import central, central_op, registry, registry_admin  # noqa: F401 — fixtures
from tests.e2e.conftest import signed_in
from tocsin.alarms import domain, services
from tocsin.alarms.models import AlarmSystem
from tocsin.alarms.services import as_member

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def snap(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"alarm-central-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _row(number: str, street: str, house: str, postcode: str, *, first_use: str, **cells: str) -> str:
    values = {
        "user_number": number, "alarm_report_number": "N001", "site_name": f"Site {number}", "site_street": street,
        "site_house_number": house, "site_postcode": postcode, "site_phone": "093601234", "user_name": "An Peeters",
        "user_address": "Markt 1, 9620 Zottegem", "user_email": "an.peeters@example.be", "property_nature": "shop",
        "risk_nature": "burglary", "system_type": "goods", "in_building": "yes", "siren": "yes",
        "siren_alarm_s": "120", "siren_sabotage_s": "300", "light": "yes", "light_until_switch_off": "yes",
        "first_use": first_use, "components_safe": "yes", "client_informed_on": first_use,
        "contact1_name": "Jan Peeters", "contact1_phone": "0478111222",
    }  # fmt: skip
    values.update(cells)
    out = io.StringIO()
    csv.writer(out).writerow([values.get(c, "") for c in domain.CSV_COLUMNS])
    return out.getvalue()


def test_kb_7_arc_central_imports_a_csv_through_the_page_and_reads_the_report(
    page, asgi_server, central_op, register, tmp_path
):
    day = (timezone.localdate() - timedelta(days=4)).isoformat()
    data = domain.csv_header() + "".join(
        [
            _row("U5001", "Markt", "1", "9620", first_use=day),
            _row("U5002", "Kouter", "12", "9000", first_use=day, system_type="personal_fixed",
                 risk_nature="aggression", property_nature="bank"),
            _row("U5003", "Veldstraat", "5", "9999", first_use=day),  # unknown postcode
            _row("U5004", "Veldstraat", "5", "9000", first_use=day, siren_alarm_s="600", light="no"),  # KB-17, KB-18
            _row("U5005", "Veldstraat", "5", "9000", first_use=day, user_email="not-an-address"),
        ]
    )  # fmt: skip
    path = tmp_path / "systems-noord.csv"
    path.write_text(data, encoding="utf-8")

    signed_in(page, asgi_server, central_op)
    page.goto(f"{asgi_server}/")
    page.get_by_role("link", name="Alarm systems").click()
    expect(page.locator("h1")).to_have_text("Our alarm systems")
    page.get_by_role("link", name="Import a CSV file").first.click()
    expect(page.locator("h1")).to_have_text("Import alarm systems from a CSV file")
    page.locator("summary", has_text="The columns").click()  # the explanation of every column
    expect(page.locator("#columns")).to_contain_text("site_postcode")
    snap(page, "import-desktop")

    page.locator("#f-file").set_input_files(str(path))
    page.locator("#f-file").focus()
    page.keyboard.press("Tab")  # by keyboard: the next stop is the Import button
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#count-created")).to_have_text("2")
    expect(page.locator("#count-refused")).to_have_text("3")
    rows = page.locator("#report-rows tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.nth(2)).to_contain_text("Unknown postcode 9999")
    expect(rows.nth(3)).to_contain_text("KB-17")
    expect(rows.nth(3)).to_contain_text("KB-18")
    expect(rows.nth(4)).to_contain_text("This is not an e-mail address.")
    assert AlarmSystem.objects.filter(central=central_op.organisation).count() == 2
    snap(page, "report-desktop")
    page.set_viewport_size(PHONE)
    snap(page, "report-phone")
    page.set_viewport_size(DESKTOP)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download the report (CSV)").click()
    report = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8-sig"))))
    assert {r["user_number"] for r in report if r["status"] == "refused"} == {"U5003", "U5004", "U5005"}
    assert any(r["rule"] == "KB-17" for r in report)

    # The list of the central's systems, on a desktop and on a phone.
    page.get_by_role("link", name="Our alarm systems").click()
    expect(page.locator("#total")).to_have_text("2 systems")
    snap(page, "list-desktop")
    page.set_viewport_size(PHONE)
    snap(page, "list-phone")
    page.set_viewport_size(DESKTOP)
    page.go_back()

    # The system the report links to: its data and its history.
    rows.nth(1).get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text("System AS")
    expect(page.locator("#versions")).to_contain_text("Registration")
    expect(page.locator("#sketch")).to_contain_text("Save the sketch")  # a fixed personal alarm (KB-21)
    snap(page, "system-desktop")
    page.set_viewport_size(PHONE)
    snap(page, "system-phone")
    page.set_viewport_size(DESKTOP)

    # The form, refused: the reasons beside the fields, with their rule; nothing written.
    page.goto(f"{asgi_server}/registry/systems/new/")
    page.locator("#f-user-number").fill("U5001")  # registered by the import
    page.locator("#f-alarm-report-number").select_option("N001")
    page.locator("#f-site-name").fill("Bakkerij")
    page.locator("#f-site-street").fill("Markt")
    page.locator("#f-site-house-number").fill("1")
    page.locator("#f-site-postcode").fill("9620")
    page.locator("#f-site-phone").fill("09 360 12 34")
    page.locator("#f-first-use").fill(day)
    page.locator("#f-siren").check()
    page.locator("#f-siren-alarm-s").fill("240")
    page.get_by_role("button", name="Register the system").click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#f-siren-alarm-s-error1")).to_contain_text("KB-17")
    expect(page.locator("#f-site-name")).to_have_value("Bakkerij")
    expect(page.locator("#f-user-name")).to_have_attribute("aria-invalid", "true")
    snap(page, "form-errors-desktop")
    page.set_viewport_size(PHONE)
    snap(page, "form-errors-phone")
    assert AlarmSystem.objects.count() == 2


def _spread(count: int, seed: int = 7) -> str:
    """``count`` systems at addresses of the (synthetic) register, all over Belgium."""
    from tocsin.geo.models import Address

    rng = random.Random(seed)
    ids = list(Address.objects.filter(box="").values_list("pk", flat=True)[:20_000])
    picked = Address.objects.filter(pk__in=rng.sample(ids, min(count, len(ids))))
    first = timezone.localdate() - timedelta(days=400)
    lines = []
    for i, a in enumerate(picked):
        kind = ("goods", "personal_fixed", "personal_mobile")[0 if i % 5 else (1 if i % 10 else 2)]
        risk = "burglary" if kind == "goods" else "aggression"
        lines.append(
            _row(f"S{i:05d}", a.street_nl or a.street_fr or a.street_de, a.house_number, a.postcode,
                 first_use=first.isoformat(), system_type=kind, risk_nature=risk,
                 in_building="no" if kind == "personal_mobile" else "yes")
        )  # fmt: skip
    return domain.csv_header() + "".join(lines)


def test_registry_admin_sees_the_statistics_with_a_map_of_belgium(page, asgi_server, central_op, registry_admin):
    from tocsin.geo import services as geo_services
    from tocsin.geo import synthetic

    geo_services.municipalities_load()
    geo_services.boundaries_load()
    synthetic.addresses_synthesise(count=20_000)
    report = services.import_csv(actor=as_member(central_op), data=_spread(600))
    assert report.count("created") > 500, report.counts

    signed_in(page, asgi_server, registry_admin)
    page.goto(f"{asgi_server}/")
    page.get_by_role("link", name="Registry of alarm systems").click()
    page.get_by_role("link", name="Statistics").click()
    expect(page.locator("h1")).to_have_text("Statistics of the registry")
    expect(page.locator("#active")).to_have_text(str(report.count("created")))
    assert page.locator("svg.map path").count() >= 565
    assert page.locator("svg.chart.bars").count() == 3
    expect(page.locator("#municipalities tbody tr")).to_have_count(25)
    snap(page, "stats-desktop")
    page.set_viewport_size(PHONE)
    snap(page, "stats-phone")
    page.set_viewport_size(DESKTOP)

    # The overdue maintenance (KB-8) of systems first used 400 days ago, in the late list.
    page.get_by_role("link", name="Late and overdue").click()
    page.get_by_role("link", name=re.compile(r"^Yearly maintenance overdue \(")).click()
    expect(page.locator("#late tbody tr")).to_have_count(200)
    expect(page.locator("#late")).to_contain_text("Yearly maintenance overdue")
    expect(page.locator("#late")).not_to_contain_text("Registration declared late")
    snap(page, "late-desktop")

    # A lookup for an incident: the page says it is recorded.
    page.get_by_role("link", name="Lookup for an incident").click()
    expect(page.locator("#audit-notice")).to_contain_text("Each lookup is recorded.")
    page.locator("#l-user-number").fill("S00001")
    page.locator("#l-reason").fill("INC-2026-7781")
    page.locator("#l-reason").press("Enter")
    expect(page.locator("#results h2")).to_have_text("1 system found")
    expect(page.locator("#results")).to_contain_text("Jan Peeters")
    snap(page, "lookup-desktop")
    page.set_viewport_size(PHONE)
    snap(page, "lookup-phone")
