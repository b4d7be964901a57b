"""The ledger is append-only in the database itself: a booking is corrected by a reversing transaction,
never changed or deleted (even by code that bypasses the services)."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION billing_ledger_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER billing_transaction_no_update_delete
    BEFORE UPDATE OR DELETE ON billing_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only();
CREATE TRIGGER billing_entry_no_update_delete
    BEFORE UPDATE OR DELETE ON billing_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION billing_ledger_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS billing_transaction_no_update_delete ON billing_ledgertransaction;
DROP TRIGGER IF EXISTS billing_entry_no_update_delete ON billing_ledgerentry;
DROP FUNCTION IF EXISTS billing_ledger_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
