"""Field checks shared by the configuration objects of the package.

Each check returns the value in canonical form (numbers as ``float``) or raises ``ValueError`` with the
message ``"FIELD must be ..., got VALUE"``, so a user always learns which field is wrong and what is
allowed. ``bool`` is never accepted as a number (``True`` is an ``int`` in Python, but never what a
user meant by ``lr: true``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["boolean", "choice", "fraction", "integer_at_least", "non_negative", "number", "positive"]


def _is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def choice(field: str, value: T, allowed: Sequence[T]) -> T:
    """``value`` if it is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{field} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    return value


def number(field: str, value: Any) -> float:
    """``value`` as a float if it is a finite real number."""
    if not _is_real(value):
        raise ValueError(f"{field} must be a finite number, got {value!r}")
    return float(value)


def positive(field: str, value: Any) -> float:
    """``value`` as a float if it is a finite number > 0."""
    if not (_is_real(value) and value > 0):
        raise ValueError(f"{field} must be a finite number > 0, got {value!r}")
    return float(value)


def non_negative(field: str, value: Any) -> float:
    """``value`` as a float if it is a finite number >= 0."""
    if not (_is_real(value) and value >= 0):
        raise ValueError(f"{field} must be a finite number >= 0, got {value!r}")
    return float(value)


def fraction(field: str, value: Any, *, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it lies in the unit interval, each end open or closed as asked.

    The default is [0, 1]; ``low_open`` excludes 0, ``high_open`` excludes 1.
    """
    above = _is_real(value) and (value > 0 if low_open else value >= 0)
    if not (above and (value < 1 if high_open else value <= 1)):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"{field} must be a number in {interval}, got {value!r}")
    return float(value)


def integer_at_least(field: str, value: Any, minimum: int) -> int:
    """``value`` if it is an ``int`` (not a float, not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum}, got {value!r}")
    return value


def boolean(field: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise ValueError(f"{field} must be true or false, got {value!r}")
    return value
