"""The BeST CSV reader and row checks (pure: no database), and the progress report."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tocsin.geo import best
from tocsin.runtime.progress import Progress

GOOD = {
    "address_id": "615867",
    "house_number": "475",
    "box_number": "RDC",
    "postcode": "1070",
    "municipality_id": "21001",
    "streetname_fr": "Chaussée de Mons",
    "streetname_nl": "Bergense  Steenweg ",
    "lat": "50.83595",
    "lon": "4.31653",
    "x72": "146321.07800",
    "y72": "169504.60900",
    "region_code": "BE-BRU",
    "status": "current",
}


def test_a_good_row():
    row = best.parse_row(GOOD)
    assert isinstance(row, best.AddressRow)
    assert row.source_id == "BE-BRU:615867"
    assert (row.street_nl, row.street_fr, row.street_de) == ("Bergense Steenweg", "Chaussée de Mons", "")
    assert (row.x, row.y, row.epsg) == (4.31653, 50.83595, 4326)  # WGS 84 preferred when given
    assert row.search_key() == "bergense steenweg chaussee de mons"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"house_number": " "}, "house number missing"),
        ({"postcode": "107"}, "postcode not 4 digits"),
        ({"postcode": "0170"}, "postcode not 4 digits"),
        ({"postcode": "１０７０"}, "postcode not 4 digits"),  # full-width digits are digits to str.isdigit
        ({"municipality_id": "2100"}, "municipality NIS code not 5 digits"),
        ({"streetname_fr": "", "streetname_nl": ""}, "street name missing"),
        ({"lat": "", "lon": "", "x72": "0.00000", "y72": "0.00000"}, "no coordinates"),
        ({"lat": "fifty", "lon": "4.3"}, "coordinates not numbers"),
        ({"lat": "nan", "lon": "4.3"}, "coordinates not numbers"),
        ({"status": "retired"}, "status retired"),
        ({"address_id": ""}, "address id missing"),
        ({"box_number": "A\x00"}, "NUL character in a field"),
        ({"house_number": "1" * 21}, "house number longer than 20 characters"),
    ],
)
def test_bad_rows_say_why(change, reason):
    assert best.parse_row(GOOD | change) == best.Rejected(reason)


def test_lambert_used_when_wgs84_is_empty_and_region_derived_from_the_nis_code():
    row = best.parse_row(GOOD | {"lat": "", "lon": "", "region_code": ""})
    assert isinstance(row, best.AddressRow)
    assert (row.epsg, row.source_id) == (31370, "BE-BRU:615867")
    assert best.parse_row(GOOD | {"x72": "", "y72": "", "lat": "", "x08": "649328", "y08": "665262"}).epsg == 3812
    for nis, region in [("44021", "BE-VLG"), ("24062", "BE-VLG"), ("25072", "BE-WAL"), ("92094", "BE-WAL")]:
        assert best.parse_row(GOOD | {"municipality_id": nis, "region_code": ""}).source_id == f"{region}:615867"


def test_a_uri_identifier_is_kept_as_is():
    uri = "https://data.vlaanderen.be/id/adres/20470097"
    assert best.parse_row(GOOD | {"address_id": uri}).source_id == uri


def test_locate_converts_per_system_and_refuses_points_outside_belgium():
    rows = [
        best.parse_row(GOOD | {"lat": "", "lon": ""}),
        best.Rejected("house number missing"),
        best.parse_row(GOOD | {"lat": "4.31653", "lon": "50.83595"}),  # swapped
        best.parse_row(GOOD),
    ]
    out = best.locate(rows)
    assert out[1] == best.Rejected("house number missing")
    assert out[2] == best.Rejected("coordinates outside Belgium")
    l72, wgs = out[0], out[3]
    assert isinstance(l72, best.AddressRow) and isinstance(wgs, best.AddressRow)
    assert abs(l72.lon - 4.31653) < 2e-5 and abs(l72.lat - 50.83595) < 2e-5
    assert (wgs.lon, wgs.lat) == (4.31653, 50.83595)


@pytest.mark.parametrize(
    "header",
    [
        [
            "EPSG:4326_lat",
            "EPSG:4326_lon",
            "address_id",
            "house_number",
            "postcode",
            "municipality_id",
            "streetname_nl",
        ],
        ["Latitude", "Longitude", "ID", "HouseNumber", "Postal Code", "NIS_code", "Street_NL"],
        ["epsg_3812_x", "epsg-3812-y", "\ufeffaddress_id", "house_no", "zipcode", "refnis", "streetname_de"],
    ],
)
def test_header_variants(header):
    layout = best.read_header(header)
    assert {"address_id", "house_number", "postcode", "municipality_id"} <= set(layout.index)


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("postcode", "'postcode'"),
        ("municipality_id", "'municipality_id'"),
        ("streetname_nl", "street name"),
        ("EPSG:4326_lon", "EPSG:4326_lat and EPSG:4326_lon"),
    ],
)
def test_a_missing_column_is_named(missing, named):
    header = ["EPSG:4326_lat", "EPSG:4326_lon", "address_id", "house_number", "postcode", "municipality_id"]
    header.append("streetname_nl")
    with pytest.raises(best.FileError, match=named):
        best.read_header([h for h in header if h != missing])


texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(best.COLUMNS)), texts | st.sampled_from(list(GOOD.values()))))
def test_parse_row_never_raises_and_respects_the_column_sizes(row):
    out = best.parse_row(row)
    if isinstance(out, best.AddressRow):
        assert out.house_number and len(out.house_number) <= best.MAX_NUMBER
        assert len(out.postcode) == 4 and len(out.nis_code) == 5
        assert max(len(out.street_nl), len(out.street_fr), len(out.street_de)) <= best.MAX_STREET
        assert len(out.search_key()) <= best.MAX_SEARCH
        assert "\x00" not in out.source_id + out.street_nl + out.street_fr + out.street_de + out.box
    else:
        assert isinstance(out, best.Rejected) and out.reason


CSV = (
    "address_id;house_number;postcode;municipality_id;streetname_nl;EPSG:4326_lat;EPSG:4326_lon\r\n"
    '1;1;1000;21004;"Grote\nMarkt";50.8;4.3\r\n'
    "2;2;1000;21004;Kerkstraat;50.8;4.3\r\n"
    "\r\n"
    "3;3;1000;21004;Straße;50.8;4.3\r\n"
)


def test_records_carry_the_offset_to_resume_from(tmp_path):
    path = tmp_path / "best.csv"
    path.write_bytes(b"\xef\xbb\xbf" + CSV.encode())
    with best.BestFile(str(path)) as f:
        assert f.delimiter == ";"
        records = list(f.records())
    assert [r[0] for r, _ in records] == ["1", "2", "3"]
    assert records[0][0][4] == "Grote\nMarkt"  # a quoted field across lines is one record
    assert records[-1][1] == path.stat().st_size
    with best.BestFile(str(path)) as f:
        rest = list(f.records(records[0][1]))
    assert [r[0] for r, _ in rest] == ["2", "3"]


def test_progress_without_a_terminal_prints_a_line_per_tenth():
    out = io.StringIO()
    p = Progress(total=1000, label="addresses", stream=out, interactive=False)
    for step in range(0, 1001, 25):
        p.update(count=step * 10, done=step)
    p.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[-1].startswith("addresses: 100%  10,000 rows") and "rows/s" in lines[-1]


def test_progress_on_a_terminal_redraws_one_line():
    out = io.StringIO()
    p = Progress(total=100, stream=out, interactive=True, min_interval=0)
    p.update(count=0, done=0)
    p.update(count=50, done=50)
    p.update(count=100, done=100)
    p.finish()
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and "[" + "#" * 24 + "]" in text and "ETA" in text
