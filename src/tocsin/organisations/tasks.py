"""Background jobs of this app: e-mails, on the `mail` queue (never the alert queue)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from procrastinate.contrib.django import app

from tocsin.organisations.models import Invitation, Notice


@app.task(queue="mail", retry=5)
def send_invitation_email(invitation_id: int) -> None:
    from tocsin.organisations.services import invitation_url

    invitation = Invitation.objects.select_related("user", "organisation").filter(pk=invitation_id).first()
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= timezone.now():
        return  # used, superseded, expired or gone: nothing to send
    user = invitation.user
    params = {
        "name": user.full_name,
        "organisation": invitation.organisation.name,
        "hours": settings.TOCSIN_INVITATION_HOURS,
        "link": invitation_url(invitation),
    }
    with translation.override(user.language):
        subject = _("Tocsin: your access for %(organisation)s") % params
        body = (
            _(
                "Hello %(name)s,\n\n"
                "You were invited to Tocsin for %(organisation)s.\n"
                "Open this link to choose your own password (valid %(hours)s hours, once):\n\n"
                "%(link)s\n\n"
                "Nobody from Tocsin or the crisis centre will ever ask you for your password.\n"
            )
            % params
        )
    send_mail(
        subject=subject,
        message=body,
        from_email=None,
        recipient_list=[user.email],
    )


@app.task(queue="mail", retry=5)
def send_notice_email(notice_id: int) -> None:
    notice = Notice.objects.select_related("user").filter(pk=notice_id).first()
    if notice is None:
        return
    link = settings.BASE_URL.rstrip("/") + notice.link if notice.link else ""
    with translation.override(notice.user.language):
        subject, body = notice.rendered_subject(), notice.rendered_body()
    send_mail(
        subject=f"Tocsin: {subject}",
        message=f"{body}\n\n{link}\n",
        from_email=None,
        recipient_list=[notice.user.email],
    )
