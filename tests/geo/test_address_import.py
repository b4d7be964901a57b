"""`tocsin import addresses`: a BeST Address CSV into the register, against the real PostgreSQL."""

from __future__ import annotations

import csv
import gzip
import math
from pathlib import Path

import pytest

from tocsin import cli
from tocsin.geo import best, domain, services
from tocsin.geo.models import Address, ImportRun, Municipality, Province, Region

pytestmark = pytest.mark.django_db(transaction=True)

HEADER = (
    "EPSG:31370_x,EPSG:31370_y,EPSG:4326_lat,EPSG:4326_lon,address_id,box_number,house_number,municipality_id,"
    "municipality_name_de,municipality_name_fr,municipality_name_nl,postcode,postname_fr,postname_nl,street_id,"
    "streetname_de,streetname_fr,streetname_nl,region_code,status,EPSG:3812_x,EPSG:3812_y"
)
# x72, y72, lat, lon, id, box, number, nis, (3 municipality names), postcode, (2 post names), street id,
# street de, fr, nl, region, status, x08, y08
GOOD = [
    # 1. Brussels Grand-Place, WGS 84 and Lambert 72 both given.
    "148837.111,170694.118,50.84665,4.35224,1001,,1,21004,,Bruxelles,Brussel,1000,Bruxelles,Brussel,11,,"
    "Grand-Place,Grote Markt,BE-BRU,current,,",
    # 2. A row of BOSA's own Brussels file (both systems).
    "146321.07800,169504.60900,50.83595,4.31653,615867,RDC,475,21001,,Anderlecht,Anderlecht,1070,,,4568,,"
    "Chaussée de Mons,Bergense Steenweg,BE-BRU,current,,",
    # 3. Lambert 72 only: BOSA's file places 146059.998/169206.030 at 50.83327 N, 4.31283 E.
    "146059.998,169206.030,,,615868,2eET,603,21001,,Anderlecht,Anderlecht,1070,,,4568,,"
    "Chaussée de Mons,Bergense Steenweg,BE-BRU,current,,",
    # 4. Lambert 2008 only, at the projection's origin (EPSG:3812: 50°47'52.134\" N, 4°21'33.177\" E).
    "0,0,,,2002,,3,21016,,Uccle,Ukkel,1180,Uccle,Ukkel,12,,Avenue Circulaire,Ringlaan,BE-BRU,current,"
    "649328.000,665262.000",
    # 5. Flanders, Dutch name only, status proposed.
    "104856.101,193911.288,51.05360,3.72490,3003,,1,44021,,Gand,Gent,9000,,Gent,13,,,Sint-Baafsplein,BE-VLG,proposed,,",
    # 6. Wallonia, French name only, with a box.
    "235190.827,149010.309,50.64550,5.57330,4004,B,18,62063,Lüttich,Liège,Luik,4000,Liège,,14,,"
    "Place Saint-Lambert,,BE-WAL,current,,",
    # 7. German-speaking Community, German name only.
    "267973.101,147786.746,50.62880,6.03630,4005,,1,63023,Eupen,Eupen,Eupen,4700,,,15,Rathausplatz,,,BE-WAL,current,,",
]
BAD = {
    "unknown municipality NIS code 99999": "148837.1,170694.1,50.84665,4.35224,9001,,2,99999,,,,1000,,,11,,"
    "Grand-Place,Grote Markt,BE-BRU,current,,",
    "house number missing": "148837.1,170694.1,50.84665,4.35224,9002,,,21004,,,,1000,,,11,,"
    "Grand-Place,Grote Markt,BE-BRU,current,,",
    "coordinates outside Belgium": "148837.1,170694.1,4.35224,50.84665,9003,,3,21004,,,,1000,,,11,,"
    "Grand-Place,Grote Markt,BE-BRU,current,,",
    "postcode not 4 digits": "148837.1,170694.1,50.84665,4.35224,9004,,4,21004,,,,100,,,11,,"
    "Grand-Place,Grote Markt,BE-BRU,current,,",
    "no coordinates": "0.00000,0.00000,,,9005,,5,21004,,,,1000,,,11,,Grand-Place,Grote Markt,BE-BRU,current,,",
    "status retired": "148837.1,170694.1,50.84665,4.35224,9006,,6,21004,,,,1000,,,11,,"
    "Grand-Place,Grote Markt,BE-BRU,retired,,",
    "street name missing": "148837.1,170694.1,50.84665,4.35224,9007,,7,21004,,,,1000,,,11,,,,BE-BRU,current,,",
    "coordinates not numbers": "abc,def,north,east,9008,,8,21004,,,,1000,,,11,,Grand-Place,Grote Markt,"
    "BE-BRU,current,,",
}
# Good and bad rows interleaved: row n of the file is ROWS[n - 1].
ROWS = [row for pair in zip(GOOD, list(BAD.values()), strict=False) for row in pair] + list(BAD.values())[7:]
BAD_ROW_NUMBER = {reason: ROWS.index(line) + 1 for reason, line in BAD.items()}


def write_csv(path: Path, rows: list[str] = ROWS, header: str = HEADER, *, delimiter: str = ",", bom: bool = False):
    text = "\n".join([header, *rows]) + "\n"
    if delimiter != ",":
        text = text.replace(",", delimiter)
    data = ("\ufeff" if bom else "").encode() + text.encode("utf-8")
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Haversine distance, written out here rather than borrowed from the code under test."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


@pytest.fixture
def municipalities(db):
    regions = {
        "02000": ("Vlaams Gewest", "Région flamande"),
        "03000": ("Waals Gewest", "Région wallonne"),
        "04000": ("Brussels Hoofdstedelijk Gewest", "Région de Bruxelles-Capitale"),
    }
    for code, (nl, fr) in regions.items():
        Region.objects.create(nis_code=code, name_nl=nl, name_fr=fr, name_de=nl)
    Province.objects.create(nis_code="40000", region_id="02000", name_nl="Oost-Vlaanderen", name_fr="", name_de="")
    Province.objects.create(nis_code="60000", region_id="03000", name_nl="Luik", name_fr="Liège", name_de="")
    for nis, nl, fr, region, province in [
        ("21001", "Anderlecht", "Anderlecht", "04000", None),
        ("21004", "Brussel", "Bruxelles", "04000", None),
        ("21016", "Ukkel", "Uccle", "04000", None),
        ("44021", "Gent", "Gand", "02000", "40000"),
        ("62063", "Luik", "Liège", "03000", "60000"),
        ("63023", "Eupen", "Eupen", "03000", "60000"),
    ]:
        Municipality.objects.create(nis_code=nis, name_nl=nl, name_fr=fr, region_id=region, province_id=province)


def run(path: Path, **kwargs) -> services.ImportSummary:
    return services.addresses_import(path=str(path), **kwargs)


def test_counts_fields_and_reasons(tmp_path, municipalities):
    summary = run(write_csv(tmp_path / "openaddress-bebru.csv"))
    assert (summary.rows, summary.inserted, summary.updated, summary.unchanged, summary.rejected) == (15, 7, 0, 0, 8)
    assert summary.finished
    assert summary.reasons.counts == dict.fromkeys(BAD, 1)
    assert summary.reasons.examples == {reason: [n] for reason, n in BAD_ROW_NUMBER.items()}
    a = Address.objects.get(source_id="BE-BRU:615867")
    assert (a.street_nl, a.street_fr, a.street_de) == ("Bergense Steenweg", "Chaussée de Mons", "")
    assert (a.house_number, a.box, a.postcode, a.municipality_id) == ("475", "RDC", "1070", "21001")
    assert (a.lon, a.lat) == (4.31653, 50.83595)  # WGS 84 given: taken as is
    assert a.cell == domain.cell_of(4.31653, 50.83595)
    assert a.search_key == "bergense steenweg chaussee de mons"
    gent = Address.objects.get(source_id="BE-VLG:3003")
    assert (gent.street_nl, gent.street_fr, gent.search_key) == ("Sint-Baafsplein", "", "sint baafsplein")
    assert Address.objects.get(source_id="BE-WAL:4005").street_de == "Rathausplatz"
    assert ImportRun.objects.get().finished_at is not None


def test_lambert_72_and_2008_converted_to_wgs84_within_metres(tmp_path, municipalities):
    run(write_csv(tmp_path / "best.csv"))
    l72 = Address.objects.get(source_id="BE-BRU:615868")
    assert metres(l72.lon, l72.lat, 4.31283, 50.83327) < 3  # BOSA's own WGS 84 for the point, to 5 decimals
    l08 = Address.objects.get(source_id="BE-BRU:2002")
    origin_lon = 4 + 21 / 60 + 33.177 / 3600
    origin_lat = 50 + 47 / 60 + 52.134 / 3600
    assert metres(l08.lon, l08.lat, origin_lon, origin_lat) < 1
    assert l08.cell == domain.cell_of(l08.lon, l08.lat)


def test_second_run_of_the_same_file_changes_nothing(tmp_path, municipalities):
    path = write_csv(tmp_path / "best.csv")
    run(path)
    before = {a.source_id: (a.pk, a.lon, a.lat, a.search_key) for a in Address.objects.all()}
    again = run(path)
    assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 7, 8)
    assert again.resumed_after_row == 0  # the first run finished: a new run, not a resumption
    assert {a.source_id: (a.pk, a.lon, a.lat, a.search_key) for a in Address.objects.all()} == before


def test_a_changed_row_is_updated_and_counted(tmp_path, municipalities):
    run(write_csv(tmp_path / "v1.csv"))
    changed = [row.replace("Sint-Baafsplein", "Sint-Baafsplein-Oost") for row in ROWS]
    summary = run(write_csv(tmp_path / "v2.csv", changed))
    assert (summary.inserted, summary.updated, summary.unchanged) == (0, 1, 6)
    assert Address.objects.get(source_id="BE-VLG:3003").search_key == "sint baafsplein oost"


def test_an_interrupted_import_resumes_after_its_last_batch(tmp_path, municipalities):
    path = write_csv(tmp_path / "best.csv")
    first = run(path, batch_size=4, max_rows=4)
    assert not first.finished and first.rows == 4
    assert (first.inserted, first.rejected) == (2, 2)
    unfinished = ImportRun.objects.get()
    assert (unfinished.finished_at, unfinished.rows_done) == (None, 4)
    # Mark an address of the first batch: a resumed run must not read that batch again.
    Address.objects.filter(source_id="BE-BRU:1001").update(street_nl="(marked)")
    said: list[str] = []
    second = run(path, batch_size=4, say=said.append)
    assert second.resumed_after_row == 4 and second.rows_this_run == 11
    assert any("Resuming" in line and "row 4" in line for line in said)
    assert (second.rows, second.inserted, second.updated, second.rejected) == (15, 7, 0, 8)
    assert second.reasons.counts == dict.fromkeys(BAD, 1)
    assert Address.objects.get(source_id="BE-BRU:1001").street_nl == "(marked)"
    assert ImportRun.objects.get().finished_at is not None
    # --restart reads everything again, which repairs the marked row.
    third = run(path, restart=True, batch_size=4)
    assert (third.resumed_after_row, third.inserted, third.updated, third.unchanged) == (0, 0, 1, 6)
    assert Address.objects.get(source_id="BE-BRU:1001").street_nl == "Grote Markt"


def test_a_crash_between_batches_loses_nothing(tmp_path, municipalities, monkeypatch):
    path = write_csv(tmp_path / "best.csv")
    real = services._write_batch
    calls = []

    def crash_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_write_batch", crash_on_second_batch)
    with pytest.raises(RuntimeError):
        run(path, batch_size=5)
    assert ImportRun.objects.get().rows_done == 5
    assert Address.objects.count() == 3  # rows 1, 3 and 5
    monkeypatch.setattr(services, "_write_batch", real)
    summary = run(path, batch_size=5)
    assert summary.resumed_after_row == 5
    assert (summary.inserted, summary.updated, summary.unchanged, summary.rejected) == (7, 0, 0, 8)


def test_rejects_file_lists_every_rejected_row_with_its_reason(tmp_path, municipalities):
    rejects = tmp_path / "rejects.csv"
    run(write_csv(tmp_path / "best.csv"), rejects_path=str(rejects))
    with rejects.open(encoding="utf-8", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert {line["reason"]: int(line["row"]) for line in lines} == BAD_ROW_NUMBER
    by_reason = {line["reason"]: line for line in lines}
    assert by_reason["house number missing"]["address_id"] == "9002"
    assert by_reason["postcode not 4 digits"]["postcode"] == "100"


def test_semicolons_bom_upper_case_headers_and_gzip_are_accepted(tmp_path, municipalities):
    path = write_csv(tmp_path / "best.csv.gz", header=HEADER.upper(), delimiter=";", bom=True)
    summary = run(path)
    assert (summary.inserted, summary.rejected) == (7, 8)
    assert Address.objects.get(source_id="BE-BRU:1001").street_fr == "Grand-Place"


def test_resume_of_a_gzip_file(tmp_path, municipalities):
    path = write_csv(tmp_path / "best.csv.gz")
    run(path, batch_size=6, max_rows=6)
    summary = run(path, batch_size=6)
    assert (summary.resumed_after_row, summary.rows, summary.inserted, summary.rejected) == (6, 15, 7, 8)


def test_a_repeated_address_id_keeps_the_later_row(tmp_path, municipalities):
    rows = [*GOOD, GOOD[0].replace("Grote Markt", "Grote Markt (nieuw)")]
    summary = run(write_csv(tmp_path / "best.csv", rows))
    assert summary.inserted == 7
    assert summary.reasons.examples == {"address id repeated later on": [1]}
    assert Address.objects.get(source_id="BE-BRU:1001").street_nl == "Grote Markt (nieuw)"


def test_no_municipalities_loaded_refuses_to_start(tmp_path, db):
    with pytest.raises(services.ImportRefused, match="municipalities"):
        run(write_csv(tmp_path / "best.csv"))


def test_cli_summary_and_exit_0_with_rejects(tmp_path, municipalities, capsys):
    code = cli.main(
        ["import", "addresses", str(write_csv(tmp_path / "best.csv")), "--rejects", str(tmp_path / "r.csv")]
    )
    out = capsys.readouterr()
    assert code == 0
    assert "7  inserted" in out.out and "8  rejected:" in out.out
    assert f"house number missing (row {BAD_ROW_NUMBER['house number missing']})" in out.out
    assert (tmp_path / "r.csv").exists()


def test_cli_exit_2_naming_a_missing_column(tmp_path, municipalities, capsys):
    header = HEADER.replace("postcode,", "postal_area,")
    code = cli.main(["import", "addresses", str(write_csv(tmp_path / "best.csv", header=header))])
    err = capsys.readouterr().err
    assert code == 2
    assert "'postcode'" in err and "Traceback" not in err
    assert not Address.objects.exists()


def test_cli_exit_2_for_an_unreadable_file(tmp_path, municipalities, capsys):
    assert cli.main(["import", "addresses", str(tmp_path / "missing.csv")]) == 2
    (tmp_path / "bad.csv.gz").write_bytes(b"not gzip at all")
    assert cli.main(["import", "addresses", str(tmp_path / "bad.csv.gz")]) == 2
    (tmp_path / "latin1.csv").write_bytes(
        (HEADER + "\n").encode() + ROWS[0].replace("Grand", "Gr\xe2nd").encode("latin-1")
    )
    assert cli.main(["import", "addresses", str(tmp_path / "latin1.csv")]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "not UTF-8" in err and "Traceback" not in err


def test_missing_column_is_named_before_any_database_work(tmp_path):
    header = HEADER.replace("house_number,", "huisnummer,")
    with pytest.raises(best.FileError, match="house_number"):
        best.BestFile(str(write_csv(tmp_path / "best.csv", header=header)))
