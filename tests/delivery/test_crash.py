"""A worker killed with SIGKILL in the middle of a send loses nothing; duplicates stay bounded and flagged."""

from __future__ import annotations

import pytest

from tests.conftest import database_url_for_tests
from tests.delivery import crash

pytestmark = pytest.mark.django_db(transaction=True)


def test_ba_2_kill_9_mid_send_loses_nothing_and_flags_every_duplicate(municipality):
    report = crash.run(
        database_url_for_tests(), organisation_id=municipality.pk, recipients=20_000, lease_s=3, timeout=120
    )
    assert 0 < report.sent_before_kill < report.recipients  # it really died in the middle
    assert report.lost == 0
    assert report.duplicates <= report.bound  # at most what was claimed and in flight
    assert report.unflagged_duplicates == 0  # every copy the SMSC got twice is marked on its delivery
    assert report.flagged <= report.bound
