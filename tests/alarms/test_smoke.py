from tests.alarms.conftest import USER
from tocsin.alarms import selectors, services
from tocsin.alarms.services import as_member, as_user


def test_register_change_deregister_user(register, values, crisis_centre):
    actor = as_user(USER)
    system = services.system_register(actor=actor, values=values())
    assert system.reference.startswith("AS")
    system, version = services.system_change(actor=actor, reference=system.reference, values={"site_name": "Huis"})
    assert version.changes == {"site_name": ["Woning Peeters", "Huis"]}
    services.system_deregister(actor=actor, reference=system.reference, out_of_use=system.first_use.isoformat())
    items, total = selectors.system_list(actor=actor, status="all")
    assert total == 1


def test_central_import(register, mvalues, central_op):
    from tocsin.alarms import domain

    csv = (
        domain.csv_header()
        + "U2001,N001,Shop,Markt,1,,9620,093601234,A B,addr,,a@b.be,shop,burglary,goods,yes,no,yes,120,300,yes,yes,no,2024-01-01,,X,yes,no,yes,2024-01-01,,,,,,,,\n"
    )
    report = services.import_csv(actor=as_member(central_op), data=csv)
    assert report.counts == {"created": 1}, [(r.errors) for r in report.rows]
    report = services.import_csv(actor=as_member(central_op), data=csv)
    assert report.counts == {"unchanged": 1}
