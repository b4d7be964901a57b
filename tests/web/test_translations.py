"""The portal's catalogues are complete in nl, fr and de (no untranslated or fuzzy entry)."""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest

LOCALE = Path(__file__).resolve().parents[2] / "src" / "tocsin" / "locale"


@pytest.mark.parametrize("lang", ["nl", "fr", "de"])
def test_catalogue_is_complete_and_placeholders_match(lang):
    po = polib.pofile(str(LOCALE / lang / "LC_MESSAGES" / "django.po"))
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    for entry in po.translated_entries():
        wanted = sorted(re.findall(r"%\(\w+\)s", entry.msgid))
        for text in [entry.msgstr, *entry.msgstr_plural.values()]:
            if text:
                assert sorted(re.findall(r"%\(\w+\)s", text)) == wanted, entry.msgid
