"""The SVG charts' labels never overlap, on a phone (360x200) or a desktop (720x360), measured
in Chromium (issue 13: on a phone the month labels ran into each other and the amounts printed
on the columns and bars covered one another and the category names)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from playwright.async_api import Page

from ledgerlink.adapters.charts.pygal_charts import PygalCharts
from ledgerlink.domain.money import Money
from ledgerlink.services.insights import charts
from ledgerlink.services.insights.ports import Chart

SIZES = ((360, 200), (720, 360))
# Every visible text's box; the pairs that intersect, and those reaching outside the image.
_MEASURE = """() => {
  const svg = document.querySelector('svg').getBoundingClientRect();
  const boxes = [...document.querySelectorAll('svg text')]
    .filter(t => t.textContent.trim() && getComputedStyle(t).display !== 'none')
    .map(t => ({t: t.textContent.trim(), r: t.getBoundingClientRect()}))
    .filter(b => b.r.width > 0);
  const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
                     && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const overlaps = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach(b => { if (hit(a.r, b.r)) overlaps.push([a.t, b.t]); }));
  const outside = boxes.filter(b => b.r.left < svg.left - 0.5 || b.r.right > svg.right + 0.5
                                 || b.r.top < svg.top - 0.5 || b.r.bottom > svg.bottom + 0.5).map(b => b.t);
  return {count: boxes.length, overlaps, outside};
}"""


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


def _months() -> Chart:
    amounts = ("4024.24", "3645.62", "3642.72", "4132.66", "180.37", "2890.05")
    return charts.month_chart([(date(2026, 7 + i, 1) if i < 6 else date(2027, 1, 1), _usd(a))
                               for i, a in enumerate(amounts)], "USD")


def _categories() -> Chart:
    rows = [("Groceries", "812.40"), ("Restaurants", "420.10"), ("Shopping", "310.00"),
            ("Fuel", "120.55"), ("Beauty", "112.36"), ("Subscriptions", "57.97"), ("Pharmacy", "50.02"),
            ("Travel", "31.20"), ("Entertainment", "17.99")]
    return charts.category_chart([(n, _usd(a)) for n, a in rows], "USD", period="December 2026")


def _balance() -> Chart:
    start = date(2026, 9, 5)
    history = [(start + timedelta(days=i), _usd(str(3000 + (i * 37) % 900))) for i in range(90)]
    return charts.balance_chart(history, None, account="Everyday Checking ••1960")


@pytest.mark.parametrize("make", [_months, _categories, _balance], ids=["months", "categories", "balance"])
async def test_no_two_chart_labels_overlap_and_none_is_cut_off_at_phone_and_desktop_size(
        page: Page, make: object) -> None:
    assert callable(make)
    chart = make()
    for width, height in SIZES:
        svg = PygalCharts().svg(chart, width=width, height=height)
        await page.set_viewport_size({"width": width, "height": height})
        await page.set_content(f"<!doctype html><body style='margin:0'>{svg}</body>")
        found = await page.evaluate(_MEASURE)
        assert found["count"] >= 6, (width, found)  # labels are drawn: axes, and amounts or days
        assert found["overlaps"] == [], (width, found["overlaps"])
        assert found["outside"] == [], (width, found["outside"])
