from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tocsin.organisations.domain import LANGS, ROLES_FOR_KIND, Kind
from tocsin.organisations.models import KIND_CHOICES, ROLE_CHOICES


class SignInForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"), widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Six-digit code from your authenticator app"),
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class SetPasswordForm(forms.Form):
    password = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label=_("New password, again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class _RolesMixin(forms.Form):
    """Offers only the roles that exist in the organisation's kind (the service checks again)."""

    roles = forms.MultipleChoiceField(
        label=_("Roles"), choices=ROLE_CHOICES, widget=forms.CheckboxSelectMultiple, required=False
    )

    def __init__(self, *args: Any, kind: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        allowed = {r.value for r in ROLES_FOR_KIND[Kind(kind)]}
        field = self.fields["roles"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [c for c in ROLE_CHOICES if c[0] in allowed]


class InviteForm(_RolesMixin):
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    email = forms.EmailField(label=_("E-mail address"))
    field_order = ["full_name", "email", "roles"]


class RolesForm(_RolesMixin):
    pass


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Name of the token"), max_length=100)


class OrganisationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    kind = forms.ChoiceField(label=_("Kind"), choices=[c for c in KIND_CHOICES if c[0] != "crisis_centre"])
    bin_option = forms.BooleanField(label=_("BIN option (neighbourhood information networks)"), required=False)
    contact_email = forms.EmailField(label=_("Contact e-mail"), required=False)
    admin_name = forms.CharField(label=_("First administrator: full name"), max_length=200)
    admin_email = forms.EmailField(label=_("First administrator: e-mail"))


class ActivationForm(forms.Form):
    nis_code = forms.CharField(label=_("NIS code (municipalities)"), max_length=5, required=False)
    sms_sender = forms.CharField(label=_("SMS sender name (alerting entities)"), max_length=11, required=False)
    languages = forms.MultipleChoiceField(
        label=_("Alert languages"),
        choices=[(lang, lang) for lang in LANGS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    recognition_reference = forms.CharField(
        label=_("Ministerial recognition reference (internal alarm services)"),
        max_length=100,
        required=False,
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


class TerminateForm(ReasonForm):
    """Termination cannot be undone: the person confirms it explicitly, apart from the suspend button."""

    confirm = forms.BooleanField(
        label=_("I understand that termination is final: the organisation cannot be reinstated."), required=True
    )


class PublishForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    text = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 10}))
