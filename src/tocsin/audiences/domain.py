"""Pure rules for contact lists and BIN groups (no Django import).

Contacts are key actors an entity alerts directly (BA-7-LISTS); BIN groups are
neighbourhood information networks whose citizens join with an invitation code,
and to which sending is delegated by the BIN coordinator and the responsible
police officer (BA-7-BIN).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import phonenumbers

from tocsin.delivery.domain import RecipientError, normalise_email, normalise_phone
from tocsin.organisations.domain import LANGS, RuleError, gettext_noop

MAX_NAME = 200
MAX_ORGANISATION = 200
MAX_NOTES = 2000
MAX_IMPORT_BYTES = 10 * 1024 * 1024
MAX_IMPORT_ROWS = 50_000

# The CSV layout, in the order an export writes it.
CSV_COLUMNS = ("name", "organisation", "mobile", "landline", "email", "language", "notes")

_MOBILE_TYPES = frozenset({phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE})


@dataclass(frozen=True)
class ContactData:
    """A contact's fields, checked and normalised (phones in E.164)."""

    name: str
    organisation: str = ""
    mobile: str = ""
    landline: str = ""
    email: str = ""
    language: str = "nl"
    notes: str = ""


def _text(values: Mapping[str, str], name: str) -> str:
    value = values.get(name) or ""
    return value.strip()


def _has_nul(value: str) -> bool:
    return "\x00" in value


def contact_errors(
    values: Mapping[str, str], *, default_language: str = "nl"
) -> tuple[ContactData | None, list[RuleError]]:
    """Check every field of one contact; returns the clean data, or every problem found (one per field)."""
    errors: list[RuleError] = []
    name = _text(values, "name")
    organisation = _text(values, "organisation")
    notes = _text(values, "notes")
    for key, value, limit in (
        ("name", name, MAX_NAME),
        ("organisation", organisation, MAX_ORGANISATION),
        ("notes", notes, MAX_NOTES),
    ):
        if _has_nul(value):
            errors.append(RuleError(gettext_noop("Must not contain NUL characters."), field=key))
        elif len(value) > limit:
            errors.append(RuleError(gettext_noop("At most %(limit)s characters."), field=key, params={"limit": limit}))
    if not name:
        errors.append(RuleError(gettext_noop("Enter the contact's name."), field="name"))

    mobile = _text(values, "mobile")
    if mobile:
        try:
            mobile = normalise_phone(mobile)
        except RecipientError:
            errors.append(RuleError(gettext_noop("This is not a valid phone number."), field="mobile"))
        else:
            if not is_mobile(mobile):
                errors.append(
                    RuleError(gettext_noop("This is not a mobile number; enter it as the landline."), field="mobile")
                )
    landline = _text(values, "landline")
    if landline:
        try:
            landline = normalise_phone(landline)
        except RecipientError:
            errors.append(RuleError(gettext_noop("This is not a valid phone number."), field="landline"))
    email = _text(values, "email")
    if email:
        try:
            email = normalise_email(email)
        except RecipientError:
            errors.append(RuleError(gettext_noop("This is not a valid e-mail address."), field="email"))
    if not (mobile or landline or email):
        errors.append(
            RuleError(gettext_noop("Give at least a mobile number, a landline or an e-mail address."), field="mobile")
        )

    language = _text(values, "language").lower() or default_language
    if language not in LANGS:
        errors.append(RuleError(gettext_noop("Choose the language among nl, fr, de and en."), field="language"))
    if errors:
        return None, errors
    return ContactData(
        name=name,
        organisation=organisation,
        mobile=mobile,
        landline=landline,
        email=email,
        language=language,
        notes=notes,
    ), []


def contact_clean(values: Mapping[str, str], *, default_language: str = "nl") -> ContactData:
    """The clean contact, or the first problem as a RuleError naming its field (API: 422)."""
    data, errors = contact_errors(values, default_language=default_language)
    if errors:
        raise errors[0]
    assert data is not None
    return data


def is_mobile(e164: str) -> bool:
    """True for a number that can receive SMS (a mobile, or a number plan that cannot tell)."""
    if e164.startswith("+324") and len(e164) == 12:  # Belgian mobiles: the common case, no metadata parse
        return True
    return phonenumbers.number_type(phonenumbers.parse(e164)) in _MOBILE_TYPES


# --- CSV -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvRow:
    number: int  # as a spreadsheet shows it: the header is row 1
    values: dict[str, str]


@dataclass
class ImportProblem:
    """One line of the validation report: a row, a field and what is wrong (an English template)."""

    row: int
    field: str
    template: str
    params: dict[str, object] = dataclasses.field(default_factory=dict)

    @property
    def message(self) -> str:
        return self.template % self.params if self.params else self.template


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RuleError(
            gettext_noop("The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."), field="file"
        ) from None


def _delimiter(first_line: str) -> str:
    """``;`` (what a Belgian spreadsheet writes) or ``,``: whichever the header row holds more of."""
    return ";" if first_line.count(";") > first_line.count(",") else ","


# A text cell starting with one of these is a formula to a spreadsheet: exports prefix it with an
# apostrophe so opening the file never runs it, and imports take that apostrophe off again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TEXT_COLUMNS = frozenset({"name", "organisation", "notes"})


def cell_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def cell_unsafe(value: str) -> str:
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def csv_rows(data: bytes | str) -> Iterator[CsvRow]:
    """The data rows of a contacts CSV, with their row numbers; RuleError(field="file") for a bad file."""
    if len(data) > MAX_IMPORT_BYTES:
        raise RuleError(
            gettext_noop("The file is larger than %(mb)s MB."), field="file", params={"mb": MAX_IMPORT_BYTES // 2**20}
        )
    text = _decode(data)
    if "\x00" in text:
        raise RuleError(gettext_noop("The file must not contain NUL characters."), field="file")
    if not text.strip():
        raise RuleError(gettext_noop("The file is empty."), field="file")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n", 1)[0]))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error:
        raise RuleError(gettext_noop("The header row cannot be read."), field="file") from None
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if unknown:
        raise RuleError(
            gettext_noop("Unknown columns: %(unknown)s. The columns are: %(columns)s."),
            field="file",
            params={"unknown": ", ".join(unknown), "columns": ", ".join(CSV_COLUMNS)},
        )
    if "name" not in header:
        raise RuleError(gettext_noop("The header row needs a “name” column."), field="file")
    if len(set(h for h in header if h)) != len([h for h in header if h]):
        raise RuleError(gettext_noop("A column appears twice in the header row."), field="file")
    number = 1
    try:
        for cells in reader:
            number += 1
            if number - 1 > MAX_IMPORT_ROWS:
                raise RuleError(
                    gettext_noop("At most %(max)s contacts in one file."), field="file", params={"max": MAX_IMPORT_ROWS}
                )
            if not any(c.strip() for c in cells):
                continue  # blank lines, as spreadsheets leave at the end
            values = {
                h: (cell_unsafe(c) if h in _TEXT_COLUMNS else c) for h, c in zip(header, cells, strict=False) if h
            }
            yield CsvRow(number=number, values=values)
    except csv.Error as exc:
        raise RuleError(
            gettext_noop("Row %(row)s cannot be read: %(error)s"),
            field="file",
            params={"row": number, "error": str(exc)},
        ) from None


def csv_header() -> list[str]:
    return list(CSV_COLUMNS)


def csv_cells(contact: ContactData) -> list[str]:
    return [
        cell_safe(contact.name),
        cell_safe(contact.organisation),
        contact.mobile,
        contact.landline,
        contact.email,
        contact.language,
        cell_safe(contact.notes),
    ]


# --- BIN groups (BA-7-BIN) --------------------------------------------------------------

# Crockford's base32 without the letters people confuse (I, L, O, U): 16 characters hold 80 random
# bits, read aloud or typed from a flyer without ambiguity.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 16
_CODE_CONFUSED = str.maketrans({"I": "1", "L": "1", "O": "0"})


def invitation_code_new() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def invitation_code_normalise(raw: str) -> str | None:
    """The stored form of a typed code (case, dashes, spaces and look-alike letters forgiven), or None."""
    code = "".join(ch for ch in (raw or "").upper() if ch not in " -\t").translate(_CODE_CONFUSED)
    if len(code) != CODE_LENGTH or any(ch not in _CODE_ALPHABET for ch in code):
        return None
    return code


def invitation_code_shown(code: str) -> str:
    """In groups of four, for reading aloud and printing: ABCD-EFGH-JKMN-PQRS."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


@dataclass(frozen=True)
class SenderState:
    """Where one delegated sender stands: each approval counts only from the person in that post now."""

    revoked: bool
    coordinator_approved: bool
    police_approved: bool


def check_may_send(state: SenderState | None) -> None:
    """BA-7-BIN: a user sends to a BIN group only with the agreement of its coordinator and its police officer."""
    if state is None:
        raise RuleError(
            gettext_noop("You are not a delegated sender of this BIN group."), field="group", rule="BA-7-BIN"
        )
    if state.revoked:
        raise RuleError(
            gettext_noop("Your delegation to send to this BIN group was revoked."), field="group", rule="BA-7-BIN"
        )
    # One whole sentence per case: each is translated as it stands.
    if not state.coordinator_approved and not state.police_approved:
        message = gettext_noop(
            "Sending to this BIN group still needs the approval of the BIN coordinator and of the "
            "responsible police officer."
        )
    elif not state.coordinator_approved:
        message = gettext_noop("Sending to this BIN group still needs the approval of the BIN coordinator.")
    elif not state.police_approved:
        message = gettext_noop("Sending to this BIN group still needs the approval of the responsible police officer.")
    else:
        return
    raise RuleError(message, field="group", rule="BA-7-BIN")
