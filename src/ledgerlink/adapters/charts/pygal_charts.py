"""`ChartRenderer` on pygal: a standalone SVG document, safe to serve to a browser.

pygal writes a `<script>` with its tooltip configuration (and, by default, a link to its tooltip
script on a CDN); both go: `js=[]`, then every element is checked after drawing. What is left is
shapes, text and pygal's own `<style>`: no script, no event handler attribute, no reference
outside the document. The figures people read come as text (`Series.texts`); floats are used
only for the geometry pygal computes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from babel.numbers import format_currency
from lxml import etree

from ledgerlink.adapters.charts._pygal import Style, pygal
from ledgerlink.domain.locale_text import LOCALE
from ledgerlink.services.insights.ports import BARS, COLUMNS, LINE, Chart

__all__ = ["PygalCharts", "sanitise"]

_SVG = "http://www.w3.org/2000/svg"
_XLINK = "http://www.w3.org/1999/xlink"
_DROP = {"script", "foreignObject", "iframe", "object", "embed", "audio", "video", "image", "use"}

_STYLE = Style(
    background="transparent", plot_background="transparent",
    foreground="#3c4257", foreground_strong="#1a1f36", foreground_subtle="#d5d9e2",
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    title_font_size=18, label_font_size=13, major_label_font_size=13, legend_font_size=13,
    value_font_size=12, tooltip_font_size=12,
    colors=("#3b6cf6", "#f59f00", "#12b886", "#e64980", "#7048e8", "#868e96"),
    guide_stroke_color="#e6e9ef", guide_stroke_dasharray="0", major_guide_stroke_color="#d5d9e2",
    major_guide_stroke_dasharray="0",
)


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _foreign_url(text: str) -> bool:
    """A CSS `url(...)` that is not a fragment of this document."""
    return re.search(r"url\(\s*['\"]?(?!#)", text) is not None


def sanitise(svg: str, *, title: str, summary: str) -> str:
    """The SVG without anything active or outside, with a `<title>` and `<desc>` first (the
    text alternative a screen reader announces for the image)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True,
                             remove_pis=True, huge_tree=False)
    root = etree.fromstring(svg.encode(), parser)
    if _local(root.tag) != "svg":
        raise ValueError("not an SVG document")
    for element in list(root.iter()):
        name = _local(element.tag)
        outside = name == "style" and ("@import" in (element.text or "") or _foreign_url(element.text or ""))
        if name in _DROP or not name or outside:
            parent = element.getparent()
            if parent is not None:
                parent.remove(element)
            continue
        for attr in list(element.attrib):
            key = _local(attr).lower()
            value = element.attrib[attr].strip().lower()
            if key.startswith("on") or (key == "href" and not value.startswith("#")) or _foreign_url(value):
                del element.attrib[attr]
    for old in [e for e in root if _local(e.tag) in ("title", "desc")]:
        root.remove(old)
    desc = etree.Element(f"{{{_SVG}}}desc", id="chart-desc")
    desc.text = summary
    head = etree.Element(f"{{{_SVG}}}title", id="chart-title")
    head.text = title
    root.insert(0, desc)
    root.insert(0, head)
    root.set("role", "img")
    root.set("aria-labelledby", "chart-title chart-desc")
    return str(etree.tostring(root, encoding="unicode"))


def _fixed(text: str) -> Callable[[object], str]:
    """A point's printed value: its exact text, not pygal's float (floats only place shapes)."""
    return lambda _value: text


# Label layout (issue 13: labels overlapped on a phone). pygal places labels but never checks
# that they fit, so the room is worked out before drawing, from an estimate of text widths.
_EM = 0.62  # a label's width per character, in font sizes (digits and capitals of system-ui)
_GAP = 8  # px between two labels side by side


def _width(text: str, size: int) -> float:
    return len(text) * size * _EM


def _widest(texts: Iterable[str], size: int) -> float:
    return max((_width(t, size) for t in texts), default=0.0)


def _whole(value: Decimal, currency: str) -> str:
    """A printed value without its minor units, where the exact one does not fit: "$4,025"."""
    return str(format_currency(value.quantize(Decimal(1)), currency, locale=LOCALE, format="¤#,##0",
                               currency_digits=False))


def _every(count: int, room: float, label: float) -> int:
    """Show every n-th of `count` labels so that those shown, `label` px wide, fit in `room`."""
    fit = max(1, int(room // (label + _GAP)))
    return max(1, math.ceil(count / fit))


class PygalCharts:
    def svg(self, chart: Chart, *, width: int, height: int) -> str:
        currency = chart.currency

        def money(value: float | None) -> str:
            if value is None:
                return ""
            exact = Decimal(str(value))  # axis ticks and bar labels; the figures come as text
            pattern = "¤#,##0" if exact == exact.to_integral_value() else None
            return str(format_currency(exact, currency, locale=LOCALE, format=pattern,
                                       currency_digits=pattern is None))

        small = width < 480
        labels = list(chart.labels)
        texts = [list(s.texts) for s in chart.series]
        font, value_font = _STYLE.label_font_size, _STYLE.value_font_size
        # the plot is what the y axis' labels leave (category names for bars, amounts otherwise)
        axis = _widest(labels, font) if chart.kind == BARS else _width("$0,000", font)
        plot = width - 2 * 8 - axis - 12
        config: dict[str, Any] = dict(
            js=[], disable_xml_declaration=True, width=width, height=height, style=_STYLE,
            show_legend=len(chart.series) > 1, legend_at_bottom=True, legend_at_bottom_columns=2,
            value_formatter=money, show_y_guides=True, show_x_guides=False, margin=8,
            print_values=chart.kind != LINE, truncate_label=-1, title=None if small else chart.title,
            x_label_rotation=0, max_scale=5 if small else 8, min_scale=3,
        )
        if chart.kind == BARS:
            # each amount right after its bar (never over the names), the axis long enough for it
            config["print_values_position"] = "top"
            top = Decimal(0)
            for s in chart.series:
                for v, t in zip(s.values, s.texts, strict=True):
                    bar = Decimal(str(max(plot - _width(t, value_font) - _GAP - value_font / 2, plot / 4)))
                    top = max(top, (v or Decimal(0)) * Decimal(str(plot)) / bar)
            if top > 0:
                config["range"] = (0, float(top))
            drawing: Any = pygal.HorizontalBar(**config)
        elif chart.kind == COLUMNS:
            slot = plot / max(1, len(labels))
            if _widest(labels, font) + _GAP > slot and chart.short_labels:
                labels = list(chart.short_labels)
            room = slot / max(1, len(texts)) - _GAP
            if _widest((t for ts in texts for t in ts), value_font) > room:
                texts = [[_whole(v, currency) if v is not None else "" for v in s.values]
                         for s in chart.series]
                if _widest((t for ts in texts for t in ts), value_font) > room:
                    config["print_values"] = False  # the figures are in the table under the chart
            drawing = pygal.Bar(**config)
            if _widest(labels, font) + _GAP > slot:  # still too long: every n-th label
                drawing.x_labels_major = labels[::_every(len(labels), plot, _widest(labels, font))]
                drawing.show_minor_x_labels = False
        elif chart.kind == LINE:
            drawing = pygal.Line(**config, show_dots=False, fill=False, stroke_style={"width": 3})
            drawing.x_labels_major = labels[::_every(len(labels), plot, _widest(labels, font))]
            drawing.show_minor_x_labels = False
        else:
            raise ValueError(f"unknown chart kind {chart.kind!r}")
        # pygal stacks horizontal bars from the bottom: reversed, the largest is read first
        order = slice(None, None, -1) if chart.kind == BARS else slice(None)
        drawing.x_labels = labels[order]
        for s, shown in zip(chart.series, texts, strict=True):
            points = [None if v is None else {"value": float(v), "label": t, "formatter": _fixed(t)}
                      for v, t in list(zip(s.values, shown, strict=True))[order]]
            extra = {"stroke_style": {"width": 3, "dasharray": "6, 5"}} if s.dashed else {}
            drawing.add(s.name, points, **extra)
        svg = sanitise(str(drawing.render(is_unicode=True)), title=chart.title, summary=chart.summary)
        return _values_after_bars(svg) if chart.kind == BARS else svg


def _values_after_bars(svg: str) -> str:
    """pygal centres a printed value on the end of its horizontal bar, half over the bar: it
    starts there instead, so it reads after the bar."""
    root = etree.fromstring(svg.encode(), etree.XMLParser(resolve_entities=False, no_network=True))
    for text in root.iter(f"{{{_SVG}}}text"):
        if "value" in (text.get("class") or "").split():
            text.set("text-anchor", "start")
    return str(etree.tostring(root, encoding="unicode"))
