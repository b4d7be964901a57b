"""Write the OpenAPI document generated from code, or check that the stored one is current."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Export the API's OpenAPI document (--output FILE) or check it (--check FILE)."

    def add_arguments(self, parser: CommandParser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--output", type=Path)
        group.add_argument("--check", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        from tocsin.api.main import api

        text = json.dumps(api.get_openapi_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        if options["check"]:
            path: Path = options["check"]
            if not path.exists() or path.read_text() != text:
                raise CommandError(f"{path} is not current: run `make openapi` and commit it.")
            self.stdout.write(f"{path} is current")
        elif options["output"]:
            options["output"].write_text(text)
            self.stdout.write(f"wrote {options['output']}")
        else:
            sys.stdout.write(text)
