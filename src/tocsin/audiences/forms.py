"""Portal forms for contact lists and BIN groups: shape only; the services check the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from tocsin.organisations.domain import LANGS


class ContactListForm(forms.Form):
    name = forms.CharField(label=_("Name of the list"), max_length=200)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000
    )


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    organisation = forms.CharField(label=_("Organisation or role"), max_length=200, required=False)
    mobile = forms.CharField(
        label=_("Mobile number"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off", "inputmode": "tel"}),
    )
    landline = forms.CharField(
        label=_("Landline number"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off", "inputmode": "tel"}),
    )
    email = forms.CharField(
        label=_("E-mail address"),
        max_length=254,
        required=False,
        widget=forms.TextInput(attrs={"type": "email", "autocomplete": "off"}),
    )
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("The organisation's first language"))] + [(lang, lang) for lang in LANGS],
        required=False,
    )
    notes = forms.CharField(label=_("Notes"), widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000)


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_(
            "UTF-8, separated by ; or , with a header row: name, organisation, mobile, landline, email, "
            "language, notes. A contact whose mobile or e-mail is already on the list is updated."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class BinGroupForm(forms.Form):
    name = forms.CharField(label=_("Name of the group"), max_length=200)
    description = forms.CharField(
        label=_("Description"), widget=forms.Textarea(attrs={"rows": 2}), required=False, max_length=2000
    )
    coordinator_email = forms.CharField(
        label=_("BIN coordinator (e-mail of a member of your organisation)"),
        max_length=254,
        widget=forms.TextInput(attrs={"type": "email", "autocomplete": "off"}),
    )
    police_officer_email = forms.CharField(
        label=_("Responsible police officer (e-mail of a member of your organisation or of a police zone)"),
        max_length=254,
        widget=forms.TextInput(attrs={"type": "email", "autocomplete": "off"}),
    )


class NominateForm(forms.Form):
    user = forms.TypedChoiceField(label=_("Member"), coerce=int)

    def __init__(self, *args: Any, candidates: list[tuple[int, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = candidates
