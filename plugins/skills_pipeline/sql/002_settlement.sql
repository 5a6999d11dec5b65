-- Settlement runs: the payment ledger (补贴资金发放台账, 001 §三(九)). Idempotent: applied with every migration.
--   payments.settlement_runs      : one row per run of a period, with the rule versions and input batches it used
--   payments.settlement_run_lines : the lines a run froze (originals, or adjustments against approved runs)
-- An approved run and its lines can never change again: the triggers below refuse it, whoever the role.
create schema if not exists payments;

create table if not exists payments.settlement_runs (
    run_id bigint generated always as identity primary key,
    period_start date not null,
    period_end date not null,
    -- original: the first settlement of the period; adjustment: differences against the approved runs before it
    run_kind text not null check (run_kind in ('original', 'adjustment')),
    -- draft: may be replaced by a later run of the period; approved: frozen; superseded: replaced draft (kept)
    status text not null default 'draft' check (status in ('draft', 'approved', 'superseded')),
    created_at timestamptz not null default now(),
    created_by text not null default current_user,
    approved_at timestamptz,
    approved_by text,
    rule_versions jsonb not null,
    input_batches jsonb not null,
    line_count integer not null,
    payable_yuan numeric(14, 2) not null,
    lines_sha256 char(64) not null,
    check (period_end >= period_start),
    check ((status = 'approved') = (approved_at is not null))
);

-- At most one open draft per period: a new run supersedes it in the same transaction.
create unique index if not exists settlement_runs_one_draft_per_period
    on payments.settlement_runs (period_start, period_end) where status = 'draft';

create table if not exists payments.settlement_run_lines (
    run_id bigint not null references payments.settlement_runs (run_id),
    line_key text not null,
    -- original: as computed; adjustment: the change to an approved amount; reversal: an approved line withdrawn
    line_type text not null check (line_type in ('original', 'adjustment', 'reversal')),
    line_kind text not null,
    source_id text not null,
    person_id text,
    class_id text,
    region_code text,
    payee_kind text not null,
    payee_code text,
    payee_name text,
    rule_id text,
    rule_version integer,
    source_clause text,
    quantity integer,
    subsidy_year integer not null,
    settlement_date date not null,
    is_eligible boolean not null,
    reasons text[] not null,
    amount_yuan numeric(12, 2) not null,
    previously_approved_yuan numeric(12, 2) not null default 0,
    adjustment_reason text,
    primary key (run_id, line_key)
);

create or replace function payments.refuse_change_to_approved_run() returns trigger
language plpgsql as $$
begin
    if tg_table_name = 'settlement_runs' then
        if old.status in ('approved', 'superseded') then
            raise exception 'settlement run % is %: its results are frozen', old.run_id, old.status
                using hint = 'Create a new run for the period; differences become adjustment lines.';
        end if;
        return case when tg_op = 'DELETE' then old else new end;
    end if;
    if exists (
        select from payments.settlement_runs
        where run_id = coalesce(new.run_id, old.run_id) and status <> 'draft'
    ) then
        raise exception 'settlement run % is not a draft: its lines are frozen', coalesce(new.run_id, old.run_id)
            using hint = 'Create a new run for the period; differences become adjustment lines.';
    end if;
    return case when tg_op = 'DELETE' then old else new end;
end;
$$;

create or replace trigger settlement_runs_frozen
    before update or delete on payments.settlement_runs
    for each row execute function payments.refuse_change_to_approved_run();

create or replace trigger settlement_run_lines_frozen
    before insert or update or delete on payments.settlement_run_lines
    for each row execute function payments.refuse_change_to_approved_run();
