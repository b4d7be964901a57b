# ruff: noqa: F811 — the registry's fixtures are imported from tests/alarms/conftest.py, then used as arguments

import pytest

from tests.alarms.conftest import (  # noqa: F401 — the registry's organisations and systems
    central,
    central_op,
    dispatcher,
    emergency,
    mvalues,
    other_central,
    other_op,
    registry,
    registry_admin,
    values,
)
from tests.citizens.conftest import peers, register  # noqa: F401


@pytest.fixture(autouse=True)
def approved_methods(request):  # type: ignore[no-untyped-def]
    """The approved verification methods a migration adds (a transactional test's flush removes them)."""
    if request.node.get_closest_marker("django_db") is None:
        return  # a test without the database (the pure rules)
    from tocsin.arc.registry import ensure_default_methods

    ensure_default_methods()


@pytest.fixture
def goods(central_op, mvalues):  # type: ignore[no-untyped-def]
    """A goods alarm of the central (An Peeters' home), its account 1234 and two zones with detection codes."""
    from tocsin.alarms import services as registry_services
    from tocsin.alarms.services import as_member
    from tocsin.arc import services

    system = registry_services.system_register(actor=as_member(central_op), values=mvalues())
    services.account_set(actor=as_member(central_op), account="1234", system_reference=system.reference)
    for zone, code, label in (("01", "D-HAL-01", "Hall"), ("02", "D-KEU-02", "Kitchen")):
        services.zone_set(actor=as_member(central_op), account="1234", zone=zone, detection_code=code, label=label)
    return system


@pytest.fixture
def personal(central_op, mvalues):  # type: ignore[no-untyped-def]
    """A fixed personal alarm (a pharmacy's counter), its account 5678 and its zone with a detection code."""
    from tocsin.alarms import services as registry_services
    from tocsin.alarms.services import as_member
    from tocsin.arc import services

    system = registry_services.system_register(
        actor=as_member(central_op),
        values=mvalues(system_type="personal_fixed", user_number="P2002", site_name="Apotheek", property_nature="shop"),
    )
    services.account_set(actor=as_member(central_op), account="5678", system_reference=system.reference)
    services.zone_set(actor=as_member(central_op), account="5678", zone="01", detection_code="D-BALIE")
    return system


@pytest.fixture
def direct(registry_admin, central, emergency):  # type: ignore[no-untyped-def]
    """The central's direct emergency number (KB-10), to the emergency centre."""
    from tocsin.alarms.services import as_member
    from tocsin.arc import registry as arc_registry

    return arc_registry.direct_number_set(actor=as_member(registry_admin), central_id=central.pk, number="0800 11 223",
                                          emergency_centre_id=emergency.pk)  # fmt: skip
