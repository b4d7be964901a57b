"""Belgium's regions, provinces, municipalities, postal codes, and the address register."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _


class Region(models.Model):
    nis_code = models.CharField(_("NIS code"), max_length=5, primary_key=True)
    name_nl = models.CharField(max_length=100)
    name_fr = models.CharField(max_length=100)
    name_de = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name_nl


class Province(models.Model):
    nis_code = models.CharField(_("NIS code"), max_length=5, primary_key=True)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="provinces")
    name_nl = models.CharField(max_length=100)
    name_fr = models.CharField(max_length=100)
    name_de = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.name_nl


class Municipality(models.Model):
    """One of Belgium's municipalities (565 since 1 January 2025), by its NIS (REFNIS) code."""

    nis_code = models.CharField(_("NIS code"), max_length=5, primary_key=True)
    name_nl = models.CharField(max_length=100)
    name_fr = models.CharField(max_length=100)
    name_de = models.CharField(max_length=100, blank=True)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="municipalities")
    province = models.ForeignKey(Province, null=True, on_delete=models.PROTECT, related_name="municipalities")
    # Official language(s) of the area, in order: the default for people who chose none (BA-2 texts).
    languages = models.CharField(max_length=8, default="nl")
    # The outline as GeoJSON (WGS 84). `boundary_source` says where it comes from.
    boundary = models.JSONField(null=True, blank=True)
    boundary_source = models.CharField(max_length=40, blank=True)
    centre_lon = models.FloatField(null=True, blank=True)
    centre_lat = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["nis_code"]

    def __str__(self) -> str:
        return f"{self.name_nl} ({self.nis_code})"

    def name(self, language: str) -> str:
        value = getattr(self, f"name_{language}", "") if language in ("nl", "fr", "de") else ""
        return str(value or (self.name_fr if self.languages.startswith("fr") else self.name_nl))


class PostalCode(models.Model):
    """A postal code and a municipality it serves (a code can serve several, and the reverse)."""

    code = models.CharField(_("postal code"), max_length=4)
    municipality = models.ForeignKey(Municipality, on_delete=models.CASCADE, related_name="postal_codes")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["code", "municipality"], name="geo_postcode_unique")]
        indexes = [models.Index(fields=["code"])]


class Address(models.Model):
    """An address of the register (BeST Address, or synthetic for the demo)."""

    # The register's own identifier (BeST: the namespace URI + object id); idempotent imports key on it.
    source_id = models.CharField(max_length=200, unique=True)
    street_nl = models.CharField(max_length=200, blank=True)
    street_fr = models.CharField(max_length=200, blank=True)
    street_de = models.CharField(max_length=200, blank=True)
    house_number = models.CharField(max_length=20)
    box = models.CharField(max_length=40, blank=True)
    postcode = models.CharField(max_length=4)
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="+", db_column="nis_code")
    lon = models.FloatField()
    lat = models.FloatField()
    cell = models.IntegerField()
    # Lower-case street names without accents, joined, for the autocomplete's prefix search.
    search_key = models.CharField(max_length=400)

    class Meta:
        indexes = [
            models.Index(fields=["cell"]),
            models.Index(fields=["postcode"]),
            models.Index(fields=["municipality"]),
            models.Index(fields=["search_key"], name="geo_address_search", opclasses=["text_pattern_ops"]),
            # A site given as street, number and postcode (the alarm registry's CSV): matched in one lookup.
            models.Index("postcode", Upper("house_number"), "search_key", name="geo_address_number"),
        ]

    def label(self, language: str = "nl") -> str:
        street = {"nl": self.street_nl, "fr": self.street_fr, "de": self.street_de}.get(language) or (
            self.street_nl or self.street_fr or self.street_de
        )
        number = self.house_number + (f" bus {self.box}" if self.box else "")
        return f"{street} {number}, {self.postcode}"


class ImportRun(models.Model):
    """One run of ``tocsin import addresses``: where it stopped, so a re-run resumes."""

    path = models.CharField(max_length=500)
    digest = models.CharField(max_length=64)  # sha256 of the file's first MiB and its size
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    byte_offset = models.BigIntegerField(default=0)
    inserted = models.BigIntegerField(default=0)
    updated = models.BigIntegerField(default=0)
    rejected = models.BigIntegerField(default=0)
    reasons = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["digest"])]
