"""Settlement reports for the finance office's terminal."""

from __future__ import annotations

from skills_pipeline import warehouse


def print_deadline_status(year: int | None) -> None:
    """Open subsidy amounts per year and payee against the 31 March deadline (003 §六)."""
    with warehouse.connect() as conn:
        rows = conn.execute(
            "select subsidy_year, payment_deadline, deadline_status, payee_kind, payee_code, eligible_yuan, "
            "settled_yuan, open_yuan from settlement.settlement_deadline_status "
            "where (%s::integer is null or subsidy_year = %s) and deadline_status <> 'settled' "
            "order by subsidy_year, deadline_status desc, open_yuan desc",
            (year, year),
        ).fetchall()
    if not rows:
        print("nothing open: every eligible subsidy is settled by an approved run")
        return
    print(f"{'year':<6}{'deadline':<12}{'status':<9}{'payee':<34}{'eligible':>14}{'settled':>14}{'open':>14}")
    for subsidy_year, deadline, status, kind, code, eligible, settled, still_open in rows:
        print(
            f"{subsidy_year:<6}{deadline!s:<12}{status:<9}{kind + ' ' + code:<34}"
            f"{eligible:>14,.2f}{settled:>14,.2f}{still_open:>14,.2f}"
        )
