from tests.alarms.conftest import (  # noqa: F401 — the registry's organisations and systems
    central,
    central_op,
    mvalues,
    other_central,
    other_op,
    registry,
    registry_admin,
    values,
)
from tests.citizens.conftest import peers, register  # noqa: F401
