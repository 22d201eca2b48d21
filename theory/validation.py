"""Input checks shared by the theory library and its command line.

Every check raises ``ValueError`` whose message names the parameter and what is allowed; the command line
prints that same message on one line and exits with status 2, so the library and the CLI never disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np


def samples(x, name: str = "x") -> np.ndarray:
    """Return ``x`` as a float64 array of shape ``(n,)`` (model A) or ``(n, R)`` (model B).

    Rejects empty axes, other dimensions and non-finite values.
    """
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers") from None
    if arr.ndim not in (1, 2) or arr.shape[0] < 1 or (arr.ndim == 2 and arr.shape[1] < 1):
        raise ValueError(
            f"{name} must have shape (n,) or (n, R) with n >= 1 and R >= 1, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr


def positive(name: str, value) -> float:
    """A finite number > 0 (t, eps, tolerances)."""
    v = _real(name, value)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return v


def nonnegative(name: str, value) -> float:
    """A finite number >= 0 (measured errors, input norms: 0 is legitimate there)."""
    v = _real(name, value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a non-negative finite number, got {value!r}")
    return v


def targets(z, name: str = "z") -> np.ndarray:
    """Target values: a finite number or a 1-D array of them."""
    try:
        arr = np.asarray(z, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or an array of shape (m,) of real numbers") from None
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a number or an array of shape (m,), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    return arr


def probability(name: str, value, *, open_low: bool = False, open_high: bool = False) -> float:
    """A number in [0, 1]; ``open_low``/``open_high`` exclude the end points (delta lives in (0, 1))."""
    v = _real(name, value)
    low_ok = v > 0 if open_low else v >= 0
    high_ok = v < 1 if open_high else v <= 1
    if not (math.isfinite(v) and low_ok and high_ok):
        interval = ("(" if open_low else "[") + "0, 1" + (")" if open_high else "]")
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return v


def integer_at_least(name: str, value, minimum: int) -> int:
    """An integer >= ``minimum`` (n, R, trials, depth)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def choice(name: str, value, allowed: Iterable[str]) -> str:
    """One of a fixed set of names (distributions, re-sampling models)."""
    allowed = tuple(allowed)
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def _real(name: str, value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
