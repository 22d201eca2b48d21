"""Argument checks shared by ``theory`` and ``iterand``: one rule per kind of value, one message form.

Each check returns the value in canonical form (numbers as ``float``, integers as ``int``) or raises
``bookkeeping.errors.InvalidInput`` (a ``ValueError``) with the message ``"FIELD must be ..., got VALUE"``,
so a user always learns which field is wrong and what is allowed; the command lines print that message
on one line. The rules:

- a number is any finite real (``int``, ``float``, numpy and ``fractions`` numbers), never a ``bool``
  (``True`` is an ``int`` in Python, but never what a user meant by ``lr: true``) and never a string;
- an integer is an ``int`` or numpy integer, or a float with an integral value (``3.0``, as numerical
  code produces them), never a ``bool``; ``1.5`` is not an integer;
- a list is any sequence but a string (``"abc"`` is never the list ``a, b, c``) or a mapping;
- a mapping has the keys it is allowed, each named when it is not (``unknown_key``), as a typo would
  otherwise be ignored silently.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import numpy as np

from bookkeeping.errors import InvalidInput

T = TypeVar("T")

__all__ = [
    "boolean",
    "choice",
    "entries",
    "fraction",
    "in_range",
    "integer_at_least",
    "is_real",
    "mapping",
    "non_negative",
    "number",
    "positive",
    "samples",
    "targets",
    "unknown_key",
]


def is_real(value: Any) -> bool:
    """Whether ``value`` is a finite real number (not a bool, not NaN or infinite)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def choice(field: str, value: T, allowed: Iterable[T]) -> T:
    """``value`` if it is one of ``allowed``."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(repr(a) for a in allowed)}, got {value!r}")
    return value


def number(field: str, value: Any) -> float:
    """``value`` as a float if it is a finite real number."""
    if not is_real(value):
        raise InvalidInput(f"{field} must be a finite number, got {value!r}")
    return float(value)


def positive(field: str, value: Any) -> float:
    """``value`` as a float if it is a finite number > 0."""
    if not (is_real(value) and value > 0):
        raise InvalidInput(f"{field} must be a finite number > 0, got {value!r}")
    return float(value)


def non_negative(field: str, value: Any) -> float:
    """``value`` as a float if it is a finite number >= 0."""
    if not (is_real(value) and value >= 0):
        raise InvalidInput(f"{field} must be a finite number >= 0, got {value!r}")
    return float(value)


def fraction(field: str, value: Any, *, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float if it lies in the unit interval, each end open or closed as asked.

    The default is [0, 1]; ``low_open`` excludes 0, ``high_open`` excludes 1.
    """
    above = is_real(value) and (value > 0 if low_open else value >= 0)
    if not (above and (value < 1 if high_open else value <= 1)):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise InvalidInput(f"{field} must be a number in {interval}, got {value!r}")
    return float(value)


def in_range(field: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float if it is a finite number in ``[low, high]``."""
    if not (is_real(value) and low <= value <= high):
        raise InvalidInput(f"{field} must be a number in [{low:g}, {high:g}], got {value!r}")
    return float(value)


def integer_at_least(field: str, value: Any, minimum: int) -> int:
    """``value`` as an ``int`` if it is an integer (see the module's rule) >= ``minimum``."""
    whole = isinstance(value, numbers.Integral) or (
        isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer()
    )
    if isinstance(value, bool) or not whole or value < minimum:
        raise InvalidInput(f"{field} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def boolean(field: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0/1, not a string)."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{field} must be true or false, got {value!r}")
    return value


def entries(field: str, value: Any) -> list:
    """The entries of ``value`` if it is a list (see the module's rule), unchecked."""
    if isinstance(value, (str, bytes, Mapping)):
        raise InvalidInput(f"{field} must be a list, got {value!r}")
    try:
        return list(value)
    except TypeError:
        raise InvalidInput(f"{field} must be a list, got {value!r}") from None


def mapping(field: str, value: Any, keys: Iterable[str]) -> dict:
    """``value`` as a dict if it is a mapping with exactly ``keys``: an unknown key is named with the
    allowed ones (``unknown_key``), a missing one with the keys required."""
    keys = tuple(keys)
    required = f"{', '.join(keys[:-1])} and {keys[-1]}" if len(keys) > 1 else keys[0]
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a mapping with the keys {required}, got {value!r}")
    unknown = [key for key in value if key not in keys]
    if unknown:
        raise InvalidInput("; ".join(unknown_key(key, f"a key of {field}", keys) for key in unknown))
    missing = [key for key in keys if key not in value]
    if missing:
        raise InvalidInput(
            f"{field} must be a mapping with the keys {required}, got {dict(value)!r} "
            f"(missing {', '.join(missing)})"
        )
    return dict(value)


def unknown_key(key: Any, what: str, allowed: Iterable[str]) -> str:
    """The message for a key that is not allowed: ``'lr_' is not WHAT; did you mean 'lr'? allowed: ...``
    (the suggestion when one is close)."""
    allowed = list(allowed)
    close = difflib.get_close_matches(str(key), allowed, n=3)
    hint = f"did you mean {', '.join(repr(m) for m in close)}? " if close else ""
    return f"{key!r} is not {what}; {hint}allowed: {', '.join(allowed)}"


def samples(x: Any, field: str = "x") -> np.ndarray:
    """``x`` as a float64 array of shape ``(n,)`` (model A) or ``(n, R)`` (model B).

    Rejects empty axes, other dimensions and non-finite values.
    """
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be an array of real numbers") from None
    if arr.ndim not in (1, 2) or arr.shape[0] < 1 or (arr.ndim == 2 and arr.shape[1] < 1):
        raise InvalidInput(
            f"{field} must have shape (n,) or (n, R) with n >= 1 and R >= 1, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise InvalidInput(f"{field} must contain only finite values (no NaN or inf)")
    return arr


def targets(z: Any, field: str = "z") -> np.ndarray:
    """Target values: a finite number or a 1-D array of them."""
    try:
        arr = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be a number or an array of shape (m,) of real numbers") from None
    if arr.ndim > 1:
        raise InvalidInput(f"{field} must be a number or an array of shape (m,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInput(f"{field} must contain only finite values (no NaN or inf)")
    return arr
