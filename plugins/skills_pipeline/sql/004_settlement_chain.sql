-- Tamper evidence for approved settlement runs (a hash chain). Idempotent.
-- Triggers freeze approved runs against every role but a superuser, who can still bypass them
-- (session_replication_role = replica, DISABLE TRIGGER). So approval also records:
--   approved_lines_sha256 : the digest of the run's lines as approved (every column of every line)
--   previous_run_id       : the run approved before it, whatever its period (one chain for all money)
--   chain_sha256          : sha256 of the previous run's chain_sha256 and this run's identity and lines digest
-- `skills-pipeline settlement verify` and every export recompute them: a line changed by any means breaks the
-- digest of its run, and rewriting that digest breaks every later link.
alter table payments.settlement_runs add column if not exists approved_lines_sha256 char(64);
alter table payments.settlement_runs add column if not exists previous_run_id bigint references payments.settlement_runs (run_id);
alter table payments.settlement_runs add column if not exists chain_sha256 char(64);

-- The canonical digest of a run's lines: each line as jsonb (keys in jsonb's fixed order, numbers as stored)
-- without its run_id, in line_key order. Used for drafts (is this draft still what the inputs give?) and for
-- approved runs (are these still the lines that were approved?).
create or replace function payments.lines_digest(lines jsonb[]) returns char(64)
language sql immutable parallel safe as $$
    select encode(sha256(convert_to(coalesce(string_agg((line - 'run_id')::text, E'\n' order by line ->> 'line_key'), ''), 'UTF8')), 'hex')
    from unnest(lines) as line
$$;

create or replace function payments.chain_link(
    previous_chain char(64), run_id bigint, period_start date, period_end date, run_kind text, approved_by text,
    line_count integer, payable_yuan numeric, lines_sha256 char(64)
) returns char(64)
language sql immutable parallel safe as $$
    select encode(sha256(convert_to(concat_ws('|', coalesce(previous_chain, 'genesis'), run_id, period_start,
        period_end, run_kind, approved_by, line_count, payable_yuan, lines_sha256), 'UTF8')), 'hex')
$$;
