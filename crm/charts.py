"""Server-side SVG charts for the back-office dashboard: no JavaScript, no charting library, nothing to download.

Every text that reaches the markup goes through `format_html`/`escape`, so names typed by users are safe.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from math import ceil

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

PALETTE = ("#417690", "#f0a202", "#2e9e5b", "#c2410c", "#7c3aed", "#0891b2", "#be185d", "#64748b")
_FONT = 'font-family="system-ui, sans-serif" font-size="12"'


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: a label, a value, an optional note written after it (e.g. a conversion)."""

    label: str
    value: float
    note: str = ""
    color: str = PALETTE[0]


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    color: str


def number(value) -> str:
    """1234567.5 -> «1 234 568» (a thin space between thousands, as Russian readers expect)."""
    return f"{round(float(value)):,}".replace(",", "\u202f")


CURRENCY_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€"}


def money(amount, currency: str = "RUB") -> str:
    """Decimal("125000.5") -> «125 000,50 ₽»: thin spaces between thousands, a decimal comma, the currency's sign."""
    if amount is None:
        return "—"
    text = f"{amount:,.2f}".replace(",", "\u202f").replace(".", ",")
    return f"{text}\u00a0{CURRENCY_SIGNS.get(currency, currency)}"


def _float(value) -> float:
    return float(value) if isinstance(value, int | float | Decimal) else 0.0


def hbar_chart(bars: Sequence[Bar], *, title: str, width: int = 560, label_width: int = 170) -> SafeString:
    """Horizontal bars, one row per item (a funnel, counts by status)."""
    if not bars:
        return empty_chart(title)
    row, top = 26, 8
    height = top * 2 + row * len(bars)
    peak = max(_float(bar.value) for bar in bars) or 1.0
    room = width - label_width - 160
    parts = []
    for index, bar in enumerate(bars):
        y = top + index * row
        length = max(2.0, room * _float(bar.value) / peak) if _float(bar.value) else 0.0
        text = number(bar.value) + (f" · {bar.note}" if bar.note else "")
        parts.append(
            format_html(
                '<g class="bar"><title>{}: {}</title>'
                '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="{}"/>'
                '<text x="{}" y="{}" dominant-baseline="middle">{}</text></g>',
                bar.label,
                text,
                label_width - 8,
                y + row / 2,
                _clip(bar.label, 24),
                label_width,
                y + 4,
                f"{length:.1f}",
                row - 8,
                bar.color,
                f"{label_width + length + 6:.1f}",
                y + row / 2,
                text,
            )
        )
    return _svg(title, width, height, parts)


@dataclass(frozen=True)
class _ColumnPlot:
    """The plot box of a column chart inside its SVG (origin top left), the value at its top, and each column's slot."""

    left: int
    top: int
    width: int
    height: int
    slot: float
    peak: float
    stacked: bool

    @property
    def baseline(self) -> int:
        return self.top + self.height


def column_chart(
    categories: Sequence[str], series: Sequence[Series], *, title: str, stacked: bool = False, width: int = 560
) -> SafeString:
    """Vertical columns per category: side by side (planned vs received) or stacked (leads by source)."""
    if not categories or not series:
        return empty_chart(title)
    height, left, bottom, top, legend = 230, 56, 34, 10, 22
    totals = [sum(_float(s.values[i]) for s in series) for i in range(len(categories))]
    peak = (max(totals) if stacked else max(_float(v) for s in series for v in s.values)) or 1.0
    plot_w = width - left - 10
    plot = _ColumnPlot(
        left=left,
        top=top,
        width=plot_w,
        height=height - bottom - top - legend,
        slot=plot_w / len(categories),
        peak=peak,
        stacked=stacked,
    )
    # Label every n-th column only when the labels would run into each other.
    label_step = max(1, ceil(max(len(c) for c in categories) * 7 / plot.slot))
    parts = [_column_axis(plot)]
    for index, category in enumerate(categories):
        if index % label_step == 0:
            parts.append(_column_label(plot, index, category))
        parts.extend(_category_columns(plot, index, category, series))
    parts.extend(_legend(series, left=left, bottom=height))
    return _svg(title, width, height, parts)


def _column_axis(plot: _ColumnPlot) -> SafeString:
    """The baseline, with the peak value at the top of the scale and 0 at its foot."""
    return format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ccc"/>'
        '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
        '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">0</text>',
        plot.left,
        plot.baseline,
        plot.left + plot.width,
        plot.baseline,
        plot.left - 6,
        plot.top + 6,
        number(plot.peak),
        plot.left - 6,
        plot.baseline,
    )


def _column_label(plot: _ColumnPlot, index: int, category: str) -> SafeString:
    return format_html(
        '<text x="{}" y="{}" text-anchor="middle">{}</text>',
        f"{plot.left + index * plot.slot + plot.slot / 2:.1f}",
        plot.baseline + 16,
        _clip(category, 12),
    )


def _category_columns(plot: _ColumnPlot, index: int, category: str, series: Sequence[Series]) -> list[SafeString]:
    """One category's columns: each series beside the other, or piled up from the baseline when stacked."""
    x0 = plot.left + index * plot.slot
    base: float = plot.baseline
    bar_w = plot.slot * 0.7 if plot.stacked else plot.slot * 0.8 / len(series)
    parts = []
    for position, item in enumerate(series):
        value = _float(item.values[index])
        h = plot.height * value / plot.peak
        x = x0 + plot.slot * 0.15 if plot.stacked else x0 + plot.slot * 0.1 + position * bar_w
        y = base - h if plot.stacked else plot.baseline - h
        if plot.stacked:
            base -= h
        if value:
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{} · {}: {}</title></rect>',
                    f"{x:.1f}",
                    f"{y:.1f}",
                    f"{max(bar_w - 2, 1):.1f}",
                    f"{h:.1f}",
                    item.color,
                    category,
                    item.name,
                    number(value),
                )
            )
    return parts


def _legend(series: Sequence[Series], *, left: int, bottom: int) -> list[SafeString]:
    """A colour swatch and the name of each series, in one row along the chart's foot."""
    parts = []
    x = left
    for item in series:
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>',
                x,
                bottom - 14,
                item.color,
                x + 14,
                bottom - 5,
                item.name,
            )
        )
        x += 24 + 7 * len(item.name)
    return parts


def empty_chart(title: str) -> SafeString:
    return format_html('<p class="chart-empty" role="img" aria-label="{}">{}</p>', title, _("Нет данных за период."))


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _svg(title: str, width: int, height: int, parts: list[SafeString]) -> SafeString:
    head = format_html(
        '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {} {}" width="100%" role="img" '
        'aria-label="{}" {}><title>{}</title>',
        width,
        height,
        title,
        mark_safe(_FONT),  # noqa: S308 - a constant
        escape(title),
    )
    return mark_safe(head + "".join(parts) + "</svg>")  # noqa: S308 - every part is built by format_html
