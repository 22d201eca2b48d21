"""What the theory notebooks draw with: row selection, grouping, and the three marks they use (matplotlib).

The tables come from ``theory.experiments`` (lists of flat dicts); these helpers pick rows, aggregate a
column over repeated rows, and draw a curve with its band, points with interval error bars, or one
colour per value of a parameter. The notebooks save each figure with the rows it shows
(``bookkeeping.tables.save_figure``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

Row = Mapping[str, Any]

__all__ = ["band", "colours", "grouped", "interval_errorbar", "where"]


def where(rows: Iterable[Row], **equal: Any) -> list[Row]:
    """The rows whose every named column equals the value given, in table order."""
    return [row for row in rows if all(row[column] == value for column, value in equal.items())]


def grouped(
    rows: Iterable[Row], by: str, value: str | Callable[[Row], float], statistic: Callable = np.mean
) -> tuple[list, list[float]]:
    """(the sorted distinct values of column ``by``, ``statistic`` of ``value`` over the rows of each);
    ``value`` is a column name or a function of a row."""
    rows = list(rows)
    read = (lambda row: row[value]) if isinstance(value, str) else value
    keys = sorted({row[by] for row in rows})
    return keys, [float(statistic([read(row) for row in rows if row[by] == key])) for key in keys]


def colours(values: Sequence[Any], colormap: str | None = None) -> list[tuple[Any, Any]]:
    """(colour, value) pairs: matplotlib's default cycle "C0", "C1", ..., or evenly spaced along
    ``colormap`` (its first 90%, which avoids the palest end) when one is named."""
    if colormap is None:
        return [(f"C{i}", value) for i, value in enumerate(values)]
    return list(zip(plt.get_cmap(colormap)(np.linspace(0, 0.9, len(values))), values, strict=True))


def band(
    ax: Axes, x: Sequence, y: Sequence, low: Sequence, high: Sequence, colour: Any, fmt: str = "o-", **style
) -> None:
    """A curve through (x, y) and, in the same colour, a translucent band from ``low`` to ``high``."""
    ax.plot(x, y, fmt, color=colour, **style)
    ax.fill_between(x, low, high, color=colour, alpha=0.2)


def interval_errorbar(ax: Axes, x: Sequence, y: Sequence, low: Sequence, high: Sequence, **style) -> None:
    """Points at (x, y) with error bars reaching from ``low`` to ``high`` (an interval, not a spread)."""
    y = np.asarray(y, dtype=float)
    ax.errorbar(x, y, yerr=[y - np.asarray(low, dtype=float), np.asarray(high, dtype=float) - y], **style)
