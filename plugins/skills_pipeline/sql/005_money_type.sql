-- One money type everywhere: numeric(14, 2), as in raw.<feed> and the settlement marts (run lines had
-- numeric(12, 2)). Widening keeps every value and its scale, so the line digests of approved runs are unchanged;
-- ALTER TABLE fires no row trigger, so the frozen runs stay frozen. The one view on these columns is dbt's
-- settlement.settlement_deadline_status: dropped here (PostgreSQL cannot retype a column a view reads), rebuilt by
-- the next dbt build.
do $$
begin
    if (
        select format_type(atttypid, atttypmod) from pg_attribute
        where attrelid = 'payments.settlement_run_lines'::regclass and attname = 'amount_yuan'
    ) <> 'numeric(14,2)' then
        drop view if exists settlement.settlement_deadline_status;
        alter table payments.settlement_run_lines
            alter column amount_yuan type numeric(14, 2),
            alter column previously_approved_yuan type numeric(14, 2);
    end if;
end
$$;
