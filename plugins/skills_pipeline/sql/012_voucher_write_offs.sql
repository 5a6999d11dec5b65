-- The e-voucher's last step (003 §五, 核销) as the settlement takes it: approving a run writes off the voucher of
-- each payable training line, once. The primary key is the rule "one voucher pays once": a second approval naming
-- the same voucher fails, and settlement refuses a training whose voucher another line already wrote off.
create table if not exists payments.voucher_write_offs (
    voucher_id text primary key,
    run_id bigint not null references payments.settlement_runs (run_id),
    line_key text not null,
    enrollment_id text not null,
    amount_yuan numeric(14, 2) not null,  -- the one money type (migration 005)
    written_off_at timestamptz not null default now()
);

create index if not exists voucher_write_offs_enrollment on payments.voucher_write_offs (enrollment_id);
