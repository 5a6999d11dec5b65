-- Which approved runs were handed to the payment system: one row per payment file written (settlement export).
-- The reports' "exported" money is the approved lines of the runs recorded here (docs/time.md, money).
create table if not exists payments.payment_exports (
    export_id bigint generated always as identity primary key,
    run_id bigint not null references payments.settlement_runs (run_id),
    payment_file text not null,
    payees integer not null,
    amount_yuan numeric(14, 2) not null,
    exported_at timestamptz not null default now(),
    exported_by text not null default current_user
);

create index if not exists payment_exports_run on payments.payment_exports (run_id);
