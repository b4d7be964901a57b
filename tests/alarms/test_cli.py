"""`tocsin alarms`: a central's CSV import from the console (with a progress line and a per-row report),
the late list, the reminders."""

from __future__ import annotations

from tests.alarms.test_api import _csv_row
from tocsin import cli
from tocsin.alarms import domain
from tocsin.alarms.models import AlarmSystem


def test_kb_7_arc_cli_import_reports_refused_rows_and_exits_1(tmp_path, central_op, register, capsys):
    path = tmp_path / "systems.csv"
    path.write_text(domain.csv_header() + _csv_row() + _csv_row(user_number="C200", siren_alarm_s="999"))
    code = cli.main(["alarms", "import", str(path), "--as", central_op.email])
    out = capsys.readouterr()
    assert code == 1
    assert "line 3: C200: siren_alarm_s:" in out.out and "KB-17" in out.out
    assert "created=1 refused=1" in out.err
    assert AlarmSystem.objects.count() == 1


def test_cli_import_needs_a_member_and_a_file(tmp_path, central_op, dispatcher, capsys):
    assert cli.main(["alarms", "import", str(tmp_path / "missing.csv"), "--as", central_op.email]) == 2
    assert cli.main(["alarms", "import", str(tmp_path / "x.csv")]) == 2
    path = tmp_path / "x.csv"
    path.write_text(domain.csv_header())
    assert cli.main(["alarms", "import", str(path), "--as", dispatcher.email]) == 2  # not a central
    assert "Traceback" not in capsys.readouterr().err


def test_cli_late_and_reminders(registry_admin, crisis_centre, capsys):
    assert cli.main(["alarms", "late", "--as", registry_admin.email]) == 0
    assert cli.main(["alarms", "reminders"]) == 0
    assert "maintenance_soon=0" in capsys.readouterr().out
