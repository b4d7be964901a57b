from tests.citizens.conftest import peers, register  # noqa: F401 — the citizens' register and SMS/e-mail peers
