"""Factories for organisations and people. They write through the models only for
set-up; behaviour under test always goes through the services."""

from __future__ import annotations

import factory
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from tocsin.organisations.models import Agreement, Organisation, User

PASSWORD = "correct horse battery staple 42"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Gemeente {n}")
    kind = "municipality"
    status = "active"
    nis_code = "44021"
    sms_sender = "Gemeente"
    languages = factory.LazyFunction(lambda: ["nl", "fr"])
    activated_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def agreement(obj, create, extracted, **kwargs):
        if create:
            Agreement.objects.get_or_create(organisation=obj)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.be")
    full_name = factory.Sequence(lambda n: f"Person {n}")
    organisation = factory.SubFactory(OrganisationFactory)
    roles = factory.LazyFunction(lambda: ["admin"])

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])


def totp_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="test", confirmed=True)
