"""The BeST Address open-data CSV: reading the file, checking each row, placing it in WGS 84 (no Django).

BOSA publishes Belgium's address register (BeST Address) as one CSV per
region (``openaddress-bevlg.csv``, ``-bebru``, ``-bewal``) with the header::

    EPSG:31370_x, EPSG:31370_y, EPSG:4326_lat, EPSG:4326_lon, address_id, box_number,
    house_number, municipality_id, municipality_name_de, municipality_name_fr,
    municipality_name_nl, postcode, postname_fr, postname_nl, street_id,
    streetname_de, streetname_fr, streetname_nl, region_code, status

``municipality_id`` is the NIS (REFNIS) code. Later files give Lambert 2008
(``EPSG:3812_x/_y``) instead of Lambert 72; both are accepted, and so are the
usual renamings (see ``COLUMNS``). docs/geo.md describes what is accepted.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from tocsin.geo import domain

# Canonical name → the header names accepted for it, compared after ``header_key`` (case, ":", "-", " ", ".").
COLUMNS: dict[str, tuple[str, ...]] = {
    "address_id": ("address_id", "best_id", "address_uri", "id"),
    "house_number": ("house_number", "housenumber", "house_no", "number"),
    "box_number": ("box_number", "boxnumber", "box"),
    "postcode": ("postcode", "postal_code", "post_code", "zipcode", "zip"),
    "municipality_id": ("municipality_id", "municipality_nis", "nis_code", "niscode", "refnis", "nis"),
    "streetname_nl": ("streetname_nl", "street_name_nl", "street_nl"),
    "streetname_fr": ("streetname_fr", "street_name_fr", "street_fr"),
    "streetname_de": ("streetname_de", "street_name_de", "street_de"),
    "lat": ("epsg_4326_lat", "wgs84_lat", "latitude", "lat"),
    "lon": ("epsg_4326_lon", "wgs84_lon", "longitude", "lon", "lng"),
    "x72": ("epsg_31370_x", "x_31370", "lambert72_x"),
    "y72": ("epsg_31370_y", "y_31370", "lambert72_y"),
    "x08": ("epsg_3812_x", "x_3812", "lambert2008_x"),
    "y08": ("epsg_3812_y", "y_3812", "lambert2008_y"),
    "region_code": ("region_code", "region"),
    "status": ("status",),
}
REQUIRED = ("address_id", "house_number", "postcode", "municipality_id")
STREETS = ("streetname_nl", "streetname_fr", "streetname_de")
# (x column, y column, EPSG code) in order of preference; WGS 84 is given as lat/lon.
COORDINATES = (("lon", "lat", 4326), ("x72", "y72", 31370), ("x08", "y08", 3812))
# Header names as BOSA writes them, for messages.
OFFICIAL = {
    "lat": "EPSG:4326_lat",
    "lon": "EPSG:4326_lon",
    "x72": "EPSG:31370_x",
    "y72": "EPSG:31370_y",
    "x08": "EPSG:3812_x",
    "y08": "EPSG:3812_y",
}
IMPORTED_STATUSES = frozenset({"", "current", "proposed"})
DELIMITERS = (",", ";", "|", "\t")
# Longest values the register's columns hold (geo.models.Address).
MAX_ID, MAX_STREET, MAX_NUMBER, MAX_BOX, MAX_SEARCH = 200, 200, 20, 40, 400
DIGEST_HEAD = 1 << 20


class FileError(Exception):
    """The file cannot be imported at all: unreadable, not UTF-8, or a required column is missing."""


@dataclass(slots=True)
class AddressRow:
    """One checked row. ``lon``/``lat`` are WGS 84 once ``locate`` has run; until then ``x``/``y`` in ``epsg``."""

    source_id: str
    street_nl: str
    street_fr: str
    street_de: str
    house_number: str
    box: str
    postcode: str
    nis_code: str
    x: float
    y: float
    epsg: int
    lon: float = 0.0
    lat: float = 0.0

    def search_key(self) -> str:
        return _search_key(self.street_nl, self.street_fr, self.street_de)


@functools.lru_cache(maxsize=1 << 16)
def _search_key(*names: str) -> str:
    # Cached: a street's many addresses repeat its names (6 M addresses, some 300,000 streets).
    return domain.search_key(*dict.fromkeys(n for n in names if n))[:MAX_SEARCH]


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


def header_key(name: str) -> str:
    name = name.strip().lstrip("\ufeff").lower()
    for ch in ":- .":
        name = name.replace(ch, "_")
    return name


@dataclass(frozen=True)
class Layout:
    """Where each canonical column is in the file's header."""

    fields: tuple[str, ...]
    index: Mapping[str, int]

    def row(self, record: Sequence[str]) -> dict[str, str]:
        """The record as a dict keyed by canonical column name (absent columns are empty)."""
        n = len(record)
        return {name: (record[i] if i < n else "") for name, i in self.index.items()}


def read_header(fields: Sequence[str]) -> Layout:
    """Map the header onto the canonical columns; refuse a header that lacks one the import needs."""
    keys = [header_key(f) for f in fields]
    index: dict[str, int] = {}
    for name, accepted in COLUMNS.items():
        for alias in accepted:
            if alias in keys:
                index[name] = keys.index(alias)
                break
    for name in REQUIRED:
        if name not in index:
            others = ", ".join(COLUMNS[name][1:])
            raise FileError(f"the file has no column {name!r} (also accepted: {others})")
    if not any(s in index for s in STREETS):
        raise FileError("the file has no street name column (streetname_nl, streetname_fr or streetname_de)")
    if not any(x in index and y in index for x, y, _ in COORDINATES):
        pairs = " or ".join(f"{OFFICIAL[y]} and {OFFICIAL[x]}" if x == "lon" else f"{OFFICIAL[x]} and {OFFICIAL[y]}"
                            for x, y, _ in COORDINATES)  # fmt: skip
        raise FileError(f"the file has no coordinate columns: it needs {pairs}")
    return Layout(tuple(fields), index)


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    if "," in text and "." not in text:  # a decimal comma, as spreadsheets in Belgium write it
        text = text.replace(",", ".")
    value = float(text)  # ValueError: the caller names it
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _region(nis_code: str) -> str:
    """The region of a NIS code, by its province digit: 21xxx Brussels; 1, 23, 24, 3, 4, 7 Flanders."""
    if nis_code.startswith("21"):
        return "BE-BRU"
    if nis_code[0] in "1347" or nis_code[:2] in ("23", "24"):
        return "BE-VLG"
    return "BE-WAL"


def parse_row(row: Mapping[str, str]) -> AddressRow | Rejected:
    """Check one row (keys as in ``COLUMNS``); coordinates are converted later, a batch at a time (``locate``)."""
    if any("\x00" in value for value in row.values()):  # PostgreSQL text cannot hold it
        return Rejected("NUL character in a field")
    address_id = row.get("address_id", "").strip()
    if not address_id:
        return Rejected("address id missing")
    status = row.get("status", "").strip().lower()
    if status not in IMPORTED_STATUSES:
        return Rejected(f"status {status}")
    house_number = row.get("house_number", "").strip()
    if not house_number:
        return Rejected("house number missing")
    if len(house_number) > MAX_NUMBER:
        return Rejected(f"house number longer than {MAX_NUMBER} characters")
    box = row.get("box_number", "").strip()
    if len(box) > MAX_BOX:
        return Rejected(f"box number longer than {MAX_BOX} characters")
    street_nl, street_fr, street_de = (" ".join(row.get(s, "").split()) for s in STREETS)
    if not (street_nl or street_fr or street_de):
        return Rejected("street name missing")
    if max(len(street_nl), len(street_fr), len(street_de)) > MAX_STREET:
        return Rejected(f"street name longer than {MAX_STREET} characters")
    postcode = row.get("postcode", "").strip()
    if not (len(postcode) == 4 and postcode.isascii() and postcode.isdigit() and postcode[0] != "0"):
        return Rejected("postcode not 4 digits")
    nis_code = row.get("municipality_id", "").strip()
    if not (len(nis_code) == 5 and nis_code.isascii() and nis_code.isdigit() and nis_code[0] != "0"):
        return Rejected("municipality NIS code not 5 digits")
    if "://" in address_id:
        source_id = address_id  # already a URI
    else:
        source_id = f"{row.get('region_code', '').strip() or _region(nis_code)}:{address_id}"
    if len(source_id) > MAX_ID:
        return Rejected(f"address id longer than {MAX_ID} characters")
    for x_name, y_name, epsg in COORDINATES:
        try:
            x, y = _number(row.get(x_name, "")), _number(row.get(y_name, ""))
        except ValueError:
            return Rejected("coordinates not numbers")
        # BOSA writes 0 for an address without a position.
        if x and y:
            return AddressRow(
                source_id, street_nl, street_fr, street_de, house_number, box, postcode, nis_code, x, y, epsg
            )
    return Rejected("no coordinates")


@functools.cache
def _transformer(epsg: int) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(epsg, 4326, always_xy=True)


def locate(rows: Sequence[AddressRow | Rejected]) -> list[AddressRow | Rejected]:
    """Give each row its WGS 84 point (Lambert converted with pyproj, one call per system), refuse points
    outside Belgium. Same length and order as ``rows``."""
    import numpy as np

    out: list[AddressRow | Rejected] = list(rows)
    for epsg in (4326, 31370, 3812):
        at = [i for i, r in enumerate(rows) if isinstance(r, AddressRow) and r.epsg == epsg]
        if not at:
            continue
        xs = np.fromiter((rows[i].x for i in at), dtype=np.float64, count=len(at))  # type: ignore[union-attr]
        ys = np.fromiter((rows[i].y for i in at), dtype=np.float64, count=len(at))  # type: ignore[union-attr]
        lons, lats = (xs, ys) if epsg == 4326 else _transformer(epsg).transform(xs, ys)
        for i, lon, lat in zip(at, lons.tolist(), lats.tolist(), strict=True):
            row = rows[i]
            assert isinstance(row, AddressRow)
            if domain.in_belgium(lon, lat):
                row.lon, row.lat = lon, lat
            else:
                out[i] = Rejected("coordinates outside Belgium")
    return out


@dataclass
class Reasons:
    """Rejected rows counted per reason, with the first few row numbers of each as examples."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[int]] = field(default_factory=dict)
    keep: int = 3

    def add(self, reason: str, row_number: int) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        rows = self.examples.setdefault(reason, [])
        if len(rows) < self.keep:
            rows.append(row_number)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict[str, dict[str, Any]]:
        return {r: {"count": n, "rows": self.examples.get(r, [])} for r, n in self.counts.items()}

    @classmethod
    def from_json(cls, value: Mapping[str, Any]) -> Reasons:
        out = cls()
        for reason, entry in value.items():
            out.counts[reason] = int(entry.get("count", 0))
            out.examples[reason] = [int(n) for n in entry.get("rows", [])]
        return out

    def lines(self) -> list[str]:
        """``"  12  house number missing (rows 4, 9, 31)"``, the commonest first."""
        out = []
        for reason, count in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0])):
            examples = self.examples.get(reason, [])
            label = "row" if len(examples) == 1 else "rows"
            more = ", …" if count > len(examples) else ""
            out.append(f"{count:>10,}  {reason} ({label} {', '.join(map(str, examples))}{more})")
        return out


def digest(path: str) -> str:
    """What identifies a file across runs: sha256 of its first MiB and its size (quick on 1 GB files)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        h.update(fh.read(DIGEST_HEAD))
    h.update(str(os.path.getsize(path)).encode())
    return h.hexdigest()


class BestFile:
    """A BeST CSV opened for reading: UTF-8 with or without BOM, gzip when the name ends with ``.gz``,
    the delimiter guessed from the header line. Records come with the byte offset just after them
    (in the uncompressed text), which is where a later run resumes."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.size = os.path.getsize(path)
            self._raw: IO[bytes] = open(path, "rb")  # closed by close()
        except OSError as exc:
            raise FileError(f"cannot read {path}: {exc.strerror or exc}") from None
        self._stream: IO[bytes] = gzip.GzipFile(fileobj=self._raw) if path.endswith(".gz") else self._raw  # type: ignore[assignment]
        try:
            first = self._stream.readline()
        except (OSError, EOFError, zlib.error) as exc:
            self.close()
            raise FileError(f"cannot read {path}: {exc}") from None
        self.header_end = len(first)
        try:
            line = first.removeprefix(b"\xef\xbb\xbf").decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            self.close()
            raise FileError(f"{path}: the header line is not UTF-8 text") from None
        if not line.strip():
            self.close()
            raise FileError(f"{path}: the file is empty or has no header line")
        self.delimiter = max(DELIMITERS, key=line.count)
        fields = next(csv.reader([line], delimiter=self.delimiter))
        try:
            self.layout = read_header(fields)
        except FileError:
            self.close()
            raise
        self.offset = self.header_end

    def disk_position(self) -> int:
        """Bytes of the file on disk read so far (compressed bytes for .gz), for a progress bar."""
        return self._raw.tell()

    def records(self, start: int = 0) -> Iterator[tuple[list[str], int]]:
        """Each record and the offset just after it, from byte ``start`` (0: just after the header)."""
        if start > self.header_end:
            try:
                self._stream.seek(start)
            except (OSError, EOFError, zlib.error) as exc:
                raise FileError(f"cannot read {self.path}: {exc}") from None
            self.offset = start

        def lines() -> Iterator[str]:
            try:
                for raw in self._stream:
                    self.offset += len(raw)
                    try:
                        yield raw.decode("utf-8")
                    except UnicodeDecodeError:
                        raise FileError(
                            f"{self.path}: byte {self.offset - len(raw)} onwards is not UTF-8 text"
                        ) from None
            except (OSError, EOFError, zlib.error) as exc:
                raise FileError(f"cannot read {self.path}: {exc}") from None

        try:
            for record in csv.reader(lines(), delimiter=self.delimiter):
                if record:
                    yield record, self.offset
        except csv.Error as exc:
            raise FileError(f"{self.path}: not readable as CSV near byte {self.offset}: {exc}") from None

    def close(self) -> None:
        if self._stream is not self._raw:
            self._stream.close()
        self._raw.close()

    def __enter__(self) -> BestFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
