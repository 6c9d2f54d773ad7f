"""The notebooks' charts: bars whose every number is written on them, readably."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import to_rgb
from matplotlib.ticker import PercentFormatter

from .labels import share_label

# A segment narrower than this share of the longest bar gets no label: its text would
# spill over its neighbours (the legend and the table beside the chart still give it).
LABELLED_SEGMENT = 0.045


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    value_labels: Sequence[str],
    colours: Sequence[Any] | None = None,
    horizontal: bool = False,
    axis_label: str | None = None,
    shares: bool = False,
) -> Axes:
    """One bar per label, each with its value written at its end; with `shares`, the values
    are shares (0 to 1) and the axis reads in percent."""
    _same_length(labels, {"values": values, "value_labels": value_labels})
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(labels) + 1.5) if horizontal else (9, 4.5))
    draw = ax.barh if horizontal else ax.bar
    drawn = draw(list(labels), list(values), color=colours)
    ax.bar_label(drawn, labels=list(value_labels), padding=3, fontsize=9)
    if horizontal:
        ax.invert_yaxis()  # first label on top, as a table reads
        ax.margins(x=0.12)  # room for the labels at the bars' ends
    else:
        ax.margins(y=0.12)
        ax.tick_params(axis="x", labelrotation=30)
    if shares:
        (ax.xaxis if horizontal else ax.yaxis).set_major_formatter(PercentFormatter(1.0))
    (ax.set_xlabel if horizontal else ax.set_ylabel)(axis_label or "")
    ax.set_title(title)
    fig.tight_layout()
    return ax


def stacked_bars(
    labels: Sequence[str],
    parts: Mapping[str, Sequence[float]],
    colours: Mapping[str, Any],
    *,
    title: str,
    shares: bool,
    horizontal: bool = False,
    axis_label: str | None = None,
    legend_title: str | None = None,
    segment_label: Callable[[float], str] | None = None,
    total_label: Callable[[float], str] | None = None,
) -> Axes:
    """One bar per label split into `parts` (stacked in their order); segments wide enough to
    hold text carry their value, and each bar its total at its end unless every bar is a whole
    (shares adding up to 100%). With `shares`, values are shares: the axis reads in percent
    and labels come from `share_label`; `segment_label` and `total_label` override them."""
    if not parts:
        raise ValueError(f"stacked_bars needs at least one part to stack ({title!r})")
    _same_length(labels, parts)
    missing = [name for name in parts if name not in colours]
    if missing:
        raise ValueError(f"no colour for the parts {missing}; colours are given for {[*colours]}")
    label_of = segment_label or (share_label if shares else (lambda v: f"{v:,.0f}"))
    totals = [sum(values) for values in zip(*parts.values(), strict=True)]
    longest = max(totals, default=0) or 1
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(labels) + 1.5) if horizontal else (9, 4.5))
    base = [0.0] * len(labels)
    for name, values in parts.items():
        values = list(values)
        if horizontal:
            drawn = ax.barh(list(labels), values, left=base, color=colours[name], label=name)
        else:
            drawn = ax.bar(list(labels), values, bottom=base, color=colours[name], label=name)
        texts = [label_of(v) if v >= LABELLED_SEGMENT * longest else "" for v in values]
        ax.bar_label(
            drawn, labels=texts, label_type="center", fontsize=8, color=_ink_on(colours[name])
        )
        base = [a + b for a, b in zip(base, values, strict=True)]
    whole = shares and all(abs(total - 1) < 1e-9 for total in totals)
    if not whole:
        texts = [(total_label or label_of)(total) for total in totals]
        ax.bar_label(drawn, labels=texts, padding=3, fontsize=9)
        ax.margins(**{"x" if horizontal else "y": 0.1})
    axis = ax.xaxis if horizontal else ax.yaxis
    if shares:
        axis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    if whole:
        (ax.set_xlim if horizontal else ax.set_ylim)(0, 1)
    if horizontal:
        ax.invert_yaxis()
    (ax.set_xlabel if horizontal else ax.set_ylabel)(axis_label or "")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title=legend_title)
    fig.tight_layout()
    return ax


def _ink_on(colour: Any) -> str:
    """Black text on a light colour, white on a dark one (relative luminance, ITU-R BT.709)."""
    red, green, blue = to_rgb(colour)
    return "black" if 0.2126 * red + 0.7152 * green + 0.0722 * blue > 0.5 else "white"


def _same_length(labels: Sequence[str], series: Mapping[str, Sequence[Any]]) -> None:
    for name, values in series.items():
        if len(values) != len(labels):
            raise ValueError(
                f"{name!r} has {len(values)} values for {len(labels)} bars ({list(labels)[:3]}...)"
            )


def lines(
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    axis_label: str,
    legend_title: str | None = None,
    value_label: Callable[[float], str] | None = None,
) -> Axes:
    """One line with markers per series over `x_labels` (days, in order); a missing value is
    a gap, not a zero. With `value_label`, each series' last value is written beside it."""
    _same_length(x_labels, series)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    positions = range(len(x_labels))
    for name, values in series.items():
        points = [float("nan") if v is None else v for v in values]
        (line,) = ax.plot(positions, points, marker="o", label=name)
        if value_label and points and points[-1] == points[-1]:  # not NaN
            ax.annotate(
                value_label(points[-1]),
                (positions[-1], points[-1]),
                xytext=(6, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=line.get_color(),
            )
    ax.set_xticks(list(positions), list(x_labels))
    ax.margins(x=0.15)
    ax.set_ylabel(axis_label)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), title=legend_title)
    fig.tight_layout()
    return ax
