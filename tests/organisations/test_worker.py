"""Jobs commit with their data and a real procrastinate worker sends the e-mail."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from tests.conftest import drain_mail_queue
from tocsin.organisations import services


@pytest.mark.django_db(transaction=True)
def test_invitation_email_is_sent_by_the_worker(muni_admin):
    services.user_invite(actor=muni_admin, email="nieuw@zottegem.be", full_name="Nieuw", roles=["viewer"])
    job = ProcrastinateJob.objects.filter(task_name__endswith="send_invitation_email").latest("id")
    assert job.status == "todo" and job.queue_name == "mail"
    drain_mail_queue()
    assert ProcrastinateJob.objects.get(pk=job.pk).status == "succeeded"
    sent = [m for m in mail.outbox if m.to == ["nieuw@zottegem.be"]]
    assert len(sent) == 1 and "/invitation/" in sent[0].body


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_invitation_leaves_no_job(muni_admin):
    """Invariant 1's pattern: the job row is written in the business transaction, so it rolls back with it."""
    before = ProcrastinateJob.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.user_invite(actor=muni_admin, email="nieuw@zottegem.be", full_name="Nieuw", roles=["viewer"])
        assert ProcrastinateJob.objects.count() == before + 1
        raise RuntimeError("crash before commit")
    assert ProcrastinateJob.objects.count() == before
