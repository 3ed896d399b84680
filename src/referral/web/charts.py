"""Bar charts drawn on the server as SVG geometry: the template only places the shapes.

No script and no style attribute (the strict CSP allows neither): colours come from
classes in app.css. Each chart carries a title and a description for assistive
technology, and the page prints the same figures in a table beside it.
"""

from dataclasses import dataclass

ROW = 22  # px per bar
LABEL_WIDTH = 190
BAR_WIDTH = 360
VALUE_WIDTH = 90
TOP = 6


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None: suppressed, drawn as no bar with the word
    y: int
    width: int  # px; 0 when suppressed
    text_y: int


@dataclass(frozen=True)
class BarChart:
    id: str
    title: str
    description: str
    width: int
    height: int
    label_width: int
    value_x: int
    bars: tuple[Bar, ...]


def bar_chart(id: str, title: str, points: list[tuple[str, int | None]]) -> BarChart:
    """Horizontal bars, one per (label, value), scaled to the largest shown value."""
    top = max((v for _, v in points if v is not None), default=0) or 1
    bars = tuple(
        Bar(
            label=label,
            value=value,
            y=TOP + i * ROW,
            width=0 if value is None else max(1, round(BAR_WIDTH * value / top)),
            text_y=TOP + i * ROW + ROW // 2 + 4,
        )
        for i, (label, value) in enumerate(points)
    )
    shown = [f"{label}: {'suppressed' if v is None else v}" for label, v in points]
    return BarChart(
        id=id,
        title=title,
        description="; ".join(shown) + ".",
        width=LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH,
        height=TOP * 2 + ROW * max(1, len(points)),
        label_width=LABEL_WIDTH,
        value_x=LABEL_WIDTH + 6,
        bars=bars,
    )
