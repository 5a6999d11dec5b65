"""Settlement reports for the finance office's terminal."""

from __future__ import annotations

from skills_pipeline import warehouse


def print_deadline_status(year: int | None) -> None:
    """Open subsidy amounts per year and payee against the 31 March deadline (003 §六)."""
    from skills_pipeline.settlement.exports import load_labels, payee_kind_label

    with warehouse.connect() as conn:
        # One payee, one row and one kind label, as in the workbook and the payment file.
        rows = conn.execute(
            "select subsidy_year, payment_deadline, min(deadline_status), "
            "string_agg(distinct payee_kind, '+' order by payee_kind), coalesce(payee_code, ''), "
            "sum(eligible_yuan), sum(settled_yuan), sum(open_yuan) from settlement.settlement_deadline_status "
            "where (%s::integer is null or subsidy_year = %s) and deadline_status <> 'settled' "
            "group by subsidy_year, payment_deadline, payee_code "
            "order by subsidy_year, 3 desc, 8 desc",
            (year, year),
        ).fetchall()
        label_of = load_labels(conn)
    if not rows:
        print("nothing open: every eligible subsidy is settled by an approved run")
        return
    print(f"{'year':<6}{'deadline':<12}{'status':<9}{'payee':<34}{'eligible':>14}{'settled':>14}{'open':>14}")
    for subsidy_year, deadline, status, kind, code, eligible, settled, still_open in rows:
        print(
            f"{subsidy_year:<6}{deadline!s:<12}{status:<9}{payee_kind_label(label_of, kind) + ' ' + code:<34}"
            f"{eligible:>14,.2f}{settled:>14,.2f}{still_open:>14,.2f}"
        )
