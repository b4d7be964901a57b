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
