"""Server-side SVG charts for the back-office dashboard: no JavaScript, no charting library, nothing to download.

Every text that reaches the markup goes through `format_html`/`escape`, so names typed by users are safe.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from math import ceil

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

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


def column_chart(
    categories: Sequence[str], series: Sequence[Series], *, title: str, stacked: bool = False, width: int = 560
) -> SafeString:
    """Vertical columns per category: side by side (planned vs received) or stacked (leads by source)."""
    if not categories or not series:
        return empty_chart(title)
    height, left, bottom, top, legend = 230, 56, 34, 10, 22
    plot_h = height - bottom - top - legend
    plot_w = width - left - 10
    totals = [sum(_float(s.values[i]) for s in series) for i in range(len(categories))]
    peak = (max(totals) if stacked else max(_float(v) for s in series for v in s.values)) or 1.0
    slot = plot_w / len(categories)
    # Label every n-th column only when the labels would run into each other.
    label_step = max(1, ceil(max(len(c) for c in categories) * 7 / slot))
    parts = [
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#ccc"/>'
            '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">{}</text>'
            '<text x="{}" y="{}" text-anchor="end" dominant-baseline="middle">0</text>',
            left,
            top + plot_h,
            width - 10,
            top + plot_h,
            left - 6,
            top + 6,
            number(peak),
            left - 6,
            top + plot_h,
        )
    ]
    for i, category in enumerate(categories):
        x0 = left + i * slot
        if i % label_step == 0:
            parts.append(
                format_html(
                    '<text x="{}" y="{}" text-anchor="middle">{}</text>',
                    f"{x0 + slot / 2:.1f}",
                    top + plot_h + 16,
                    _clip(category, 12),
                )
            )
        base: float = top + plot_h
        bar_w = slot * 0.7 if stacked else slot * 0.8 / len(series)
        for j, item in enumerate(series):
            value = _float(item.values[i])
            h = plot_h * value / peak
            x = x0 + slot * 0.15 if stacked else x0 + slot * 0.1 + j * bar_w
            y = base - h if stacked else top + plot_h - h
            if stacked:
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
    x = left
    for item in series:
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="10" height="10" fill="{}"/><text x="{}" y="{}">{}</text>',
                x,
                height - 14,
                item.color,
                x + 14,
                height - 5,
                item.name,
            )
        )
        x += 24 + 7 * len(item.name)
    return _svg(title, width, height, parts)


def empty_chart(title: str) -> SafeString:
    return format_html('<p class="chart-empty" role="img" aria-label="{}">Нет данных за период.</p>', title)


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
