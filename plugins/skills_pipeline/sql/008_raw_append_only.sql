-- raw.<feed> is append-only, and each batch is written by one transaction that also writes its ledger row and
-- checks the stored count against it (ingest/raw.py). A foreign key to the ledger and a primary key on
-- (batch_id, source_row_number) re-proved per row what that transaction proves once per batch, and cost more than
-- half of a large file's load (1 M contribution rows: 4.6 s with both, 1.7 s without, bench/bench_ingest.py).
-- Rows are found by batch (dbt's incremental reads, reconciliation), and batches arrive in batch_id order, so a
-- BRIN index on batch_id serves them at a few pages per table.
do $$
declare
    keyed record;
    feed text;
begin
    for keyed in
        select con.conrelid::regclass as feed_table, con.conname as constraint_name
        from pg_constraint as con
        inner join pg_class as rel on con.conrelid = rel.oid
        inner join pg_namespace as nsp on rel.relnamespace = nsp.oid
        where
            nsp.nspname = 'raw'
            and rel.relname in ('training', 'social_security', 'employment', 'certificate')
            and con.contype in ('f', 'p')
    loop
        execute format('alter table %s drop constraint %I', keyed.feed_table, keyed.constraint_name);
    end loop;
    foreach feed in array array['training', 'social_security', 'employment', 'certificate'] loop
        if to_regclass(format('raw.%I', feed)) is not null then
            execute format('create index if not exists %I on raw.%I using brin (batch_id)', feed || '_batch', feed);
        end if;
    end loop;
end
$$;
