"""Compile the .po catalogues to .mo without GNU gettext (polib), so no system tool is needed."""

from __future__ import annotations

from pathlib import Path

import polib


def main() -> None:
    root = Path(__file__).resolve().parent.parent / "locale"
    for po_path in sorted(root.glob("*/LC_MESSAGES/*.po")):
        po = polib.pofile(str(po_path))
        po.save_as_mofile(str(po_path.with_suffix(".mo")))
        print(f"{po_path.relative_to(root)}: {po.percent_translated()}% translated")


if __name__ == "__main__":
    main()
