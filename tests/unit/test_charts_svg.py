"""The chart adapter's output is safe to serve, and the charts' figures are exact (issue 13)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from lxml import etree

from ledgerlink.adapters.charts.pygal_charts import PygalCharts, sanitise
from ledgerlink.domain.activity import Activity
from ledgerlink.domain.mcc import Category
from ledgerlink.domain.money import Money
from ledgerlink.domain.recurring import add_months, detect
from ledgerlink.services.insights import charts
from ledgerlink.services.insights.ports import BARS, LINE, Chart, Series

HOSTILE = """<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
 onload="alert(1)"><script>alert(2)</script><style>@import url(https://evil.example/x.css);</style>
<a xlink:href="javascript:alert(3)"><text>hi</text></a><rect fill="url(https://evil.example/p)"
 style="fill:url(#ok)" onclick="x()"/><foreignObject><div>x</div></foreignObject>
<image href="https://evil.example/i.png"/><!-- a comment --></svg>"""


def test_the_sanitiser_takes_out_everything_active_or_outside() -> None:
    out = sanitise(HOSTILE, title="Title", summary="Summary")
    root = etree.fromstring(out.encode())
    text = out.lower()
    for word in ("script", "onload", "onclick", "javascript", "evil.example", "foreignobject", "<image",
                 "comment", "@import"):
        assert word not in text, word
    assert "url(#ok)" in out  # a fragment of the document itself stays
    assert root[0].text == "Title" and root[1].text == "Summary"
    assert root.get("aria-labelledby") == "chart-title chart-desc"


def test_a_drawn_chart_has_no_script_and_prints_the_exact_figures() -> None:
    chart = Chart(BARS, "Spending by category", "Groceries $120.50, Coffee $12.00", ("Groceries", "Coffee"),
                  (Series("Spent", (Decimal("120.50"), Decimal("12.00")), ("$120.50", "$12.00")),), "USD")
    svg = PygalCharts().svg(chart, width=640, height=320)
    assert "<script" not in svg and "http://pygal.org" not in svg and "kozea.github.io" not in svg
    values = [e.text for e in etree.fromstring(svg.encode()).iter("{*}text") if e.get("class") == "value"]
    assert sorted(values) == ["$12.00", "$120.50"]  # drawn bottom up: the largest on top


def test_a_line_with_a_gap_and_a_dashed_projection_is_drawn() -> None:
    labels = tuple(f"d{i}" for i in range(20))
    had = Series("Balance", tuple(Decimal(i) for i in range(10)) + (None,) * 10,
                 tuple(f"${i}" for i in range(10)) + ("",) * 10)
    ahead = Series("Projected", (None,) * 9 + tuple(Decimal(i) for i in range(11)),
                   ("",) * 9 + tuple(f"${i}" for i in range(11)), dashed=True)
    svg = PygalCharts().svg(Chart(LINE, "Balance", "b", labels, (had, ahead), "USD"), width=360, height=200)
    assert "dasharray" in svg and "<script" not in svg


def _txn_rows(*rows: tuple[str, str]) -> list[tuple[str, Money]]:
    return [(name, Money(Decimal(v), "USD")) for name, v in rows]


def test_more_than_eight_categories_add_up_to_everything_else() -> None:
    rows = _txn_rows(*((f"c{i}", str(100 - i)) for i in range(10)))
    chart = charts.category_chart(rows, "USD", period="November 2026")
    assert len(chart.labels) == 8 and chart.labels[-1] == "Everything else"
    assert chart.series[0].values[-1] == Decimal(93 + 92 + 91)
    assert sum(v for v in chart.series[0].values if v is not None) == sum(Decimal(100 - i) for i in range(10))


def test_the_balance_history_works_back_from_todays_balance() -> None:
    from ledgerlink.domain.banking import Transaction, TransactionStatus

    today = date(2026, 12, 3)
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)

    def txn(i: int, amount: str, day: date,
            status: TransactionStatus = TransactionStatus.POSTED) -> Transaction:
        return Transaction(f"t{i}", "a", "p", f"s{i}", None, status, Money(Decimal(amount), "USD"),
                           day, day, "M", "M", None, now, now)

    history = charts.balance_history(Money(Decimal("100.00"), "USD"), [
        txn(1, "-30.00", today), txn(2, "50.00", today - timedelta(days=1)),
        txn(3, "-5.00", today, TransactionStatus.PENDING)], today=today, days=3)
    # from the first day we hold a transaction: what came before it is not known
    assert [(d, m.amount) for d, m in history] == [(today - timedelta(days=1), Decimal("130.00")),
                                                   (today, Decimal("100.00"))]


def test_monthly_rent_whose_history_arrived_at_once_is_found() -> None:
    """History a link brings is stored in one go: every row has nearly the same `at`."""
    seen = datetime(2026, 12, 3, 9, tzinfo=UTC)
    due = date(2026, 12, 12)
    acts = [Activity(id=f"z{5 - k}", account_id="a", at=seen + timedelta(microseconds=k),
                     day=add_months(due, -k),
                     amount=Money(Decimal("-1500.00"), "USD"), merchant_key="RENT PAYMENT", merchant="Rent",
                     category=Category.HOUSING, mcc=None, authorised=None) for k in range(1, 5)]
    found = detect(acts, today=date(2026, 12, 3))
    assert len(found) == 1 and found[0].next_expected == due
