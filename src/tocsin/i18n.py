"""Translating domain errors for the person who sees them."""

from __future__ import annotations

from django.utils.translation import gettext


def localise(exc: BaseException) -> str:
    """The error's text in the active language (errors carry an English template and parameters)."""
    template = getattr(exc, "template", None)
    if template is None:
        return str(exc)
    text = gettext(template)
    params = getattr(exc, "params", None)
    return text % params if params else text
