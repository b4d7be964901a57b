"""A municipality looks at who can be reached: counts and a map, never a person (BA-7.3, BA-7.4)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import signed_in
from tocsin.citizens.synthetic import registrations_synthesise
from tocsin.geo import services, synthetic

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ba_7_4_municipality_sees_counts_and_a_map_of_its_citizens(page, asgi_server, municipality, muni_admin, shot):
    services.municipalities_load()
    services.boundaries_load()
    synthetic.addresses_synthesise(count=20_000)
    registrations_synthesise(count=5_000)
    municipality.nis_code = "44021"  # Gent
    municipality.save()
    signed_in(page, asgi_server, muni_admin)
    page.goto(f"{asgi_server}/registrations/")
    people = int(page.locator("#people").inner_text())
    assert people > 0
    assert page.locator("svg.map path").count() >= 565
    assert page.locator("svg.map rect[fill='#b35900']").count() > 0  # cells with at least 5 people
    assert "Demo " not in page.content() and "example.invalid" not in page.content()
    shot(page, "34-registrations-map")
