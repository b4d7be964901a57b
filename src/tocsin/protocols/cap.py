"""OASIS Common Alerting Protocol 1.2: build, check and parse CAP documents (pure, no Django).

``to_xml`` writes the elements in the order the OASIS schema requires
(``schemas/CAP-v1.2.xsd``, shipped and checked in the tests); ``parse`` reads
an untrusted document safely: a size limit, no DOCTYPE (so no entity
expansion and no external references), the CAP 1.2 namespace only, and every
value checked by ``check`` against the rules of the specification that the
schema cannot express (identifiers without spaces or commas, time zones, the
restriction or addresses a scope needs, closed polygons, coordinates in range).
Errors name the element: ``CapError.path`` is like ``info[1].area[0].polygon[0]``.

Coordinates are kept as CAP writes them: latitude first, then longitude.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

NS = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_BYTES = 1024 * 1024

STATUS = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPE = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPE = ("Public", "Restricted", "Private")
CATEGORY = (
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
)
RESPONSE = ("Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None")
URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")

_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
_LANGUAGE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
_FORBIDDEN_IN_ID = re.compile(r"[\s,<&]")


class CapError(ValueError):
    """A CAP document or value that is not valid; ``path`` names the element."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass
class Area:
    desc: str
    polygons: list[list[tuple[float, float]]] = field(default_factory=list)  # (lat, lon), closed rings
    circles: list[tuple[float, float, float]] = field(default_factory=list)  # (lat, lon, radius in km)
    geocodes: list[tuple[str, str]] = field(default_factory=list)  # (valueName, value), e.g. ("NIS", "44021")
    altitude: float | None = None
    ceiling: float | None = None


@dataclass
class Resource:
    desc: str
    mime_type: str
    size: int | None = None
    uri: str = ""
    digest: str = ""


@dataclass
class Info:
    event: str
    urgency: str
    severity: str
    certainty: str
    categories: list[str] = field(default_factory=lambda: ["Safety"])
    language: str = "en-US"
    response_types: list[str] = field(default_factory=list)
    audience: str = ""
    event_codes: list[tuple[str, str]] = field(default_factory=list)
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str = ""
    headline: str = ""
    description: str = ""
    instruction: str = ""
    web: str = ""
    contact: str = ""
    parameters: list[tuple[str, str]] = field(default_factory=list)
    resources: list[Resource] = field(default_factory=list)
    areas: list[Area] = field(default_factory=list)


@dataclass(frozen=True)
class Reference:
    sender: str
    identifier: str
    sent: datetime


@dataclass
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    source: str = ""
    restriction: str = ""
    addresses: str = ""
    codes: list[str] = field(default_factory=list)
    note: str = ""
    references: list[Reference] = field(default_factory=list)
    incidents: str = ""
    infos: list[Info] = field(default_factory=list)


# --- times ---------------------------------------------------------------------------------


def format_time(value: datetime) -> str:
    """``2026-11-23T18:04:05+01:00``: seconds, an explicit offset, never ``-00:00`` (CAP 1.2 §3.3.2)."""
    if value.tzinfo is None:
        raise CapError("time", "a CAP time needs a time zone")
    return value.replace(microsecond=0).isoformat()


def parse_time(text: str, path: str) -> datetime:
    text = text.strip()
    if not _TIME.match(text):
        raise CapError(path, f"not a CAP time (YYYY-MM-DDThh:mm:ss+hh:mm): {text[:40]!r}")
    if text.endswith("-00:00"):
        raise CapError(path, "UTC is written +00:00 in CAP, never -00:00")
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise CapError(path, f"not a valid date and time: {text[:40]!r}") from None


# --- checks ---------------------------------------------------------------------------------


def _one_of(value: str, allowed: tuple[str, ...], path: str) -> None:
    if value not in allowed:
        raise CapError(path, f"{value[:40]!r} is not one of {', '.join(allowed)}")


def _no_spaces(value: str, path: str) -> None:
    if not value or _FORBIDDEN_IN_ID.search(value):
        raise CapError(path, "must be non-empty, without spaces, commas, '<' or '&'")


def _point(lat: float, lon: float, path: str) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise CapError(path, f"coordinates out of range: {lat},{lon} (latitude first)")


def check_area(area: Area, path: str) -> None:
    if not area.desc.strip():
        raise CapError(f"{path}.areaDesc", "is required")
    for i, ring in enumerate(area.polygons):
        where = f"{path}.polygon[{i}]"
        if len(ring) < 4:
            raise CapError(where, "a polygon needs at least 4 points, the first repeated at the end")
        if ring[0] != ring[-1]:
            raise CapError(where, "the polygon is not closed: the last point must equal the first")
        for lat, lon in ring:
            _point(lat, lon, where)
    for i, (lat, lon, radius) in enumerate(area.circles):
        _point(lat, lon, f"{path}.circle[{i}]")
        if not radius >= 0:
            raise CapError(f"{path}.circle[{i}]", "the radius (km) must be zero or more")
    for i, (name, value) in enumerate(area.geocodes):
        if not name.strip() or not value.strip():
            raise CapError(f"{path}.geocode[{i}]", "needs a valueName and a value")
    if area.altitude is None and area.ceiling is not None:
        raise CapError(f"{path}.ceiling", "a ceiling needs an altitude")


def check_info(info: Info, path: str) -> None:
    if not _LANGUAGE.match(info.language):
        raise CapError(f"{path}.language", f"not an RFC 3066 language code: {info.language[:20]!r}")
    if not info.categories:
        raise CapError(f"{path}.category", "at least one category is required")
    for i, c in enumerate(info.categories):
        _one_of(c, CATEGORY, f"{path}.category[{i}]")
    if not info.event.strip():
        raise CapError(f"{path}.event", "is required")
    for i, r in enumerate(info.response_types):
        _one_of(r, RESPONSE, f"{path}.responseType[{i}]")
    _one_of(info.urgency, URGENCY, f"{path}.urgency")
    _one_of(info.severity, SEVERITY, f"{path}.severity")
    _one_of(info.certainty, CERTAINTY, f"{path}.certainty")
    for name in ("effective", "onset", "expires"):
        value = getattr(info, name)
        if value is not None and value.tzinfo is None:
            raise CapError(f"{path}.{name}", "needs a time zone")
    if info.onset and info.expires and info.expires <= info.onset:
        raise CapError(f"{path}.expires", "must come after onset")
    if info.web and not re.match(r"^https?://\S+$", info.web):
        raise CapError(f"{path}.web", "must be an http(s) address")
    for i, resource in enumerate(info.resources):
        if not resource.desc.strip() or not resource.mime_type.strip():
            raise CapError(f"{path}.resource[{i}]", "needs resourceDesc and mimeType")
    for i, area in enumerate(info.areas):
        check_area(area, f"{path}.area[{i}]")


def check(alert: Alert) -> None:
    """Raise CapError naming the first element that breaks the CAP 1.2 rules."""
    _no_spaces(alert.identifier, "alert.identifier")
    _no_spaces(alert.sender, "alert.sender")
    if alert.sent.tzinfo is None:
        raise CapError("alert.sent", "needs a time zone")
    _one_of(alert.status, STATUS, "alert.status")
    _one_of(alert.msg_type, MSG_TYPE, "alert.msgType")
    _one_of(alert.scope, SCOPE, "alert.scope")
    if alert.scope == "Restricted" and not alert.restriction.strip():
        raise CapError("alert.restriction", "a Restricted alert says who may see it")
    if alert.scope == "Private" and not alert.addresses.strip():
        raise CapError("alert.addresses", "a Private alert lists its addressees")
    if alert.msg_type in ("Update", "Cancel", "Ack", "Error") and not alert.references:
        raise CapError("alert.references", f"an {alert.msg_type} refers to the message(s) it concerns")
    for i, ref in enumerate(alert.references):
        _no_spaces(ref.sender, f"alert.references[{i}].sender")
        _no_spaces(ref.identifier, f"alert.references[{i}].identifier")
    for i, info in enumerate(alert.infos):
        check_info(info, f"info[{i}]")


# --- writing --------------------------------------------------------------------------------


def _num(value: float) -> str:
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _sub(parent: ET.Element, tag: str, text: str | None) -> None:
    if text:
        ET.SubElement(parent, f"{{{NS}}}{tag}").text = text


def _pairs(parent: ET.Element, tag: str, pairs: list[tuple[str, str]]) -> None:
    for name, value in pairs:
        element = ET.SubElement(parent, f"{{{NS}}}{tag}")
        # Both children always, even empty: the schema requires the pair.
        ET.SubElement(element, f"{{{NS}}}valueName").text = name
        ET.SubElement(element, f"{{{NS}}}value").text = value


def to_element(alert: Alert) -> ET.Element:
    check(alert)
    root = ET.Element(f"{{{NS}}}alert")
    _sub(root, "identifier", alert.identifier)
    _sub(root, "sender", alert.sender)
    _sub(root, "sent", format_time(alert.sent))
    _sub(root, "status", alert.status)
    _sub(root, "msgType", alert.msg_type)
    _sub(root, "source", alert.source)
    _sub(root, "scope", alert.scope)
    _sub(root, "restriction", alert.restriction)
    _sub(root, "addresses", alert.addresses)
    for code in alert.codes:
        _sub(root, "code", code)
    _sub(root, "note", alert.note)
    refs = " ".join(f"{r.sender},{r.identifier},{format_time(r.sent)}" for r in alert.references)
    _sub(root, "references", refs)
    _sub(root, "incidents", alert.incidents)
    for info in alert.infos:
        element = ET.SubElement(root, f"{{{NS}}}info")
        _sub(element, "language", info.language)
        for category in info.categories:
            _sub(element, "category", category)
        _sub(element, "event", info.event)
        for response in info.response_types:
            _sub(element, "responseType", response)
        _sub(element, "urgency", info.urgency)
        _sub(element, "severity", info.severity)
        _sub(element, "certainty", info.certainty)
        _sub(element, "audience", info.audience)
        _pairs(element, "eventCode", info.event_codes)
        for name in ("effective", "onset", "expires"):
            value = getattr(info, name)
            _sub(element, name, format_time(value) if value else None)
        _sub(element, "senderName", info.sender_name)
        _sub(element, "headline", info.headline)
        _sub(element, "description", info.description)
        _sub(element, "instruction", info.instruction)
        _sub(element, "web", info.web)
        _sub(element, "contact", info.contact)
        _pairs(element, "parameter", info.parameters)
        for resource in info.resources:
            r = ET.SubElement(element, f"{{{NS}}}resource")
            _sub(r, "resourceDesc", resource.desc)
            _sub(r, "mimeType", resource.mime_type)
            _sub(r, "size", str(resource.size) if resource.size is not None else None)
            _sub(r, "uri", resource.uri)
            _sub(r, "digest", resource.digest)
        for area in info.areas:
            a = ET.SubElement(element, f"{{{NS}}}area")
            _sub(a, "areaDesc", area.desc)
            for ring in area.polygons:
                _sub(a, "polygon", " ".join(f"{_num(lat)},{_num(lon)}" for lat, lon in ring))
            for lat, lon, radius in area.circles:
                _sub(a, "circle", f"{_num(lat)},{_num(lon)} {_num(radius)}")
            _pairs(a, "geocode", area.geocodes)
            _sub(a, "altitude", _num(area.altitude) if area.altitude is not None else None)
            _sub(a, "ceiling", _num(area.ceiling) if area.ceiling is not None else None)
    return root


def to_xml(alert: Alert) -> bytes:
    """The alert as a CAP 1.2 document (UTF-8, XML declaration, the CAP namespace as default)."""
    ET.register_namespace("", NS)
    return ET.tostring(to_element(alert), encoding="utf-8", xml_declaration=True)


# --- reading --------------------------------------------------------------------------------


def _guard(data: bytes) -> None:
    if len(data) > MAX_BYTES:
        raise CapError("document", f"larger than {MAX_BYTES // 1024} KiB")
    head = data[:4096].lower()
    if b"<!doctype" in data.lower() or b"<!entity" in head:
        raise CapError("document", "a DOCTYPE or entity declaration is not allowed in CAP")


def _text(element: ET.Element, tag: str) -> str:
    found = element.find(f"{{{NS}}}{tag}")
    return (found.text or "").strip() if found is not None else ""


def _texts(element: ET.Element, tag: str) -> list[str]:
    return [(e.text or "").strip() for e in element.findall(f"{{{NS}}}{tag}")]


def _value_pairs(element: ET.Element, tag: str) -> list[tuple[str, str]]:
    return [(_text(e, "valueName"), _text(e, "value")) for e in element.findall(f"{{{NS}}}{tag}")]


def _float(text: str, path: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CapError(path, f"not a number: {text[:40]!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise CapError(path, "not a finite number")
    return value


def _polygon(text: str, path: str) -> list[tuple[float, float]]:
    ring = []
    for pair in text.split():
        parts = pair.split(",")
        if len(parts) != 2:
            raise CapError(path, f"points are 'lat,lon' separated by spaces: {pair[:40]!r}")
        ring.append((_float(parts[0], path), _float(parts[1], path)))
    return ring


def _circle(text: str, path: str) -> tuple[float, float, float]:
    parts = text.split()
    if len(parts) != 2 or len(parts[0].split(",")) != 2:
        raise CapError(path, f"a circle is 'lat,lon radius': {text[:40]!r}")
    lat, lon = parts[0].split(",")
    return (_float(lat, path), _float(lon, path), _float(parts[1], path))


def _references(text: str) -> list[Reference]:
    out = []
    for i, item in enumerate(text.split()):
        parts = item.split(",")
        if len(parts) != 3:
            raise CapError(f"alert.references[{i}]", "each reference is sender,identifier,sent")
        out.append(Reference(parts[0], parts[1], parse_time(parts[2], f"alert.references[{i}].sent")))
    return out


def _read_xml(data: bytes) -> ET.Element:
    """An element tree from expat with DOCTYPE and entity declarations refused outright — in any encoding,
    where the byte check in ``_guard`` might not see them (UTF-16)."""
    import xml.parsers.expat as expat

    def refuse(*_args: object) -> None:
        raise CapError("document", "a DOCTYPE or entity declaration is not allowed in CAP")

    def name(raw: str) -> str:
        return "{" + raw if "}" in raw else raw

    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.StartElementHandler = lambda tag, attrs: builder.start(name(tag), {name(k): v for k, v in attrs.items()})
    parser.EndElementHandler = lambda tag: builder.end(name(tag))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
        return builder.close()
    except expat.ExpatError as exc:
        raise CapError("document", f"not well-formed XML ({expat.errors.messages[exc.code]})") from None


def parse(data: bytes) -> Alert:
    """Read an untrusted CAP 1.2 document; CapError names what is wrong."""
    _guard(data)
    root = _read_xml(data)
    if root.tag != f"{{{NS}}}alert":
        raise CapError("document", f"not a CAP 1.2 alert (root element {root.tag[:80]!r})")
    for tag in ("identifier", "sender", "sent", "status", "msgType", "scope"):
        if not _text(root, tag):
            raise CapError(f"alert.{tag}", "is required")
    infos = []
    for i, element in enumerate(root.findall(f"{{{NS}}}info")):
        path = f"info[{i}]"
        for tag in ("event", "urgency", "severity", "certainty"):
            if not _text(element, tag):
                raise CapError(f"{path}.{tag}", "is required")
        areas = []
        for j, a in enumerate(element.findall(f"{{{NS}}}area")):
            where = f"{path}.area[{j}]"
            areas.append(
                Area(
                    desc=_text(a, "areaDesc"),
                    polygons=[_polygon(t, f"{where}.polygon[{k}]") for k, t in enumerate(_texts(a, "polygon"))],
                    circles=[_circle(t, f"{where}.circle[{k}]") for k, t in enumerate(_texts(a, "circle"))],
                    geocodes=_value_pairs(a, "geocode"),
                    altitude=_float(_text(a, "altitude"), f"{where}.altitude") if _text(a, "altitude") else None,
                    ceiling=_float(_text(a, "ceiling"), f"{where}.ceiling") if _text(a, "ceiling") else None,
                )
            )
        resources = []
        for j, r in enumerate(element.findall(f"{{{NS}}}resource")):
            size = _text(r, "size")
            if size and not size.isdigit():
                raise CapError(f"{path}.resource[{j}].size", "must be a whole number of bytes")
            resources.append(
                Resource(_text(r, "resourceDesc"), _text(r, "mimeType"), int(size) if size else None,
                         _text(r, "uri"), _text(r, "digest"))
            )  # fmt: skip
        times = {}
        for name in ("effective", "onset", "expires"):
            raw = _text(element, name)
            times[name] = parse_time(raw, f"{path}.{name}") if raw else None
        infos.append(
            Info(
                language=_text(element, "language") or "en-US",
                categories=_texts(element, "category"),
                event=_text(element, "event"),
                response_types=_texts(element, "responseType"),
                urgency=_text(element, "urgency"),
                severity=_text(element, "severity"),
                certainty=_text(element, "certainty"),
                audience=_text(element, "audience"),
                event_codes=_value_pairs(element, "eventCode"),
                sender_name=_text(element, "senderName"),
                headline=_text(element, "headline"),
                description=_text(element, "description"),
                instruction=_text(element, "instruction"),
                web=_text(element, "web"),
                contact=_text(element, "contact"),
                parameters=_value_pairs(element, "parameter"),
                resources=resources,
                areas=areas,
                **times,
            )
        )
    alert = Alert(
        identifier=_text(root, "identifier"),
        sender=_text(root, "sender"),
        sent=parse_time(_text(root, "sent"), "alert.sent"),
        status=_text(root, "status"),
        msg_type=_text(root, "msgType"),
        scope=_text(root, "scope"),
        source=_text(root, "source"),
        restriction=_text(root, "restriction"),
        addresses=_text(root, "addresses"),
        codes=_texts(root, "code"),
        note=_text(root, "note"),
        references=_references(_text(root, "references")),
        incidents=_text(root, "incidents"),
        infos=infos,
    )
    check(alert)
    return alert
