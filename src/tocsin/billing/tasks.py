"""Jobs of billing: usage charged every minute, subscriptions each day (idempotent), order forms mailed."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone
from procrastinate.contrib.django import app

from tocsin.billing import services


@app.periodic(cron="* * * * *")
@app.task(queue="mail", queueing_lock="billing_usage", name="tocsin.billing.charge_usage")
def charge_usage(timestamp: int) -> None:
    services.usage_charge()


@app.periodic(cron="17 2 * * *")
@app.task(queue="mail", queueing_lock="billing_subscriptions", name="tocsin.billing.book_subscriptions")
def book_subscriptions(timestamp: int) -> None:
    services.subscriptions_book(timezone.localdate().year)
    services.lots_expire()


@app.task(queue="mail", retry=5, name="tocsin.billing.send_order_form")
def send_order_form(order_id: int) -> None:
    """The order form as PDF, to the supplier and to the crisis-centre team (BA-8-PREPAID)."""
    from tocsin.billing.documents import order_form_pdf
    from tocsin.billing.models import OrderForm
    from tocsin.organisations.domain import Role
    from tocsin.organisations.models import User

    order = OrderForm.objects.select_related("organisation", "submitted_by").filter(pk=order_id).first()
    if order is None:
        return
    team = list(
        User.objects.filter(
            organisation__kind="crisis_centre", roles__contains=[Role.ADMIN.value], is_active=True
        ).values_list("email", flat=True)
    )
    recipients = [str(settings.TOCSIN_BILLING_SUPPLIER_EMAIL), *team]
    message = EmailMessage(
        subject=f"Bestelbon / bon de commande {order.number}: {order.organisation.name}, {order.units} units",
        body=(
            f"Order form {order.number} from {order.organisation.name}: {order.units} pre-paid units at "
            f"€{order.unit_price} excl. VAT each, requested delivery {order.requested_delivery.isoformat()}.\n"
            f"Submitted by {order.submitted_by.full_name} <{order.submitted_by.email}> on "
            f"{timezone.localtime(order.submitted_at):%Y-%m-%d %H:%M}.\nThe form is attached (PDF).\n"
        ),
        to=recipients,
    )
    message.attach(f"{order.number}.pdf", order_form_pdf(order), "application/pdf")
    message.send()
