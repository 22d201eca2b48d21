"""The argument checks shared by theory and iterand: one rule and one message form per kind of value."""

import numpy as np
import pytest

from bookkeeping import validation


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: validation.choice("f", "c", ("a", "b")), "^f must be one of 'a', 'b', got 'c'$"),
        (lambda: validation.number("f", float("inf")), "^f must be a finite number, got inf$"),
        (lambda: validation.positive("f", 0), "^f must be a finite number > 0, got 0$"),
        (lambda: validation.non_negative("f", -1), "^f must be a finite number >= 0, got -1$"),
        (lambda: validation.fraction("f", 1.0, high_open=True), r"^f must be a number in \[0, 1\), got 1.0$"),
        (lambda: validation.fraction("f", 0, low_open=True), r"^f must be a number in \(0, 1\], got 0$"),
        (lambda: validation.fraction("f", True), r"^f must be a number in \[0, 1\], got True$"),
        (lambda: validation.integer_at_least("f", 2.5, 1), "^f must be an integer >= 1, got 2.5$"),
        (lambda: validation.integer_at_least("f", 0.0, 1), "^f must be an integer >= 1, got 0.0$"),
        (lambda: validation.integer_at_least("f", "3", 1), "^f must be an integer >= 1, got '3'$"),
        (lambda: validation.positive("f", "1.5"), "^f must be a finite number > 0, got '1.5'$"),
        (lambda: validation.integer_at_least("f", False, 0), "^f must be an integer >= 0, got False$"),
        (lambda: validation.boolean("f", 1), "^f must be true or false, got 1$"),
        (lambda: validation.in_range("f", 1.5, -1, 1), r"^f must be a number in \[-1, 1\], got 1.5$"),
        (lambda: validation.entries("f", "abc"), "^f must be a list, got 'abc'$"),  # not a, b, c
        (lambda: validation.entries("f", {"a": 1}), r"^f must be a list, got \{'a': 1\}$"),
        (lambda: validation.entries("f", 3), "^f must be a list, got 3$"),
        (
            lambda: validation.mapping("f", [1], ("a", "b")),
            r"^f must be a mapping with the keys a and b, got \[1\]$",
        ),
        (
            lambda: validation.mapping("f", {"a": 1, "bb": 2}, ("a", "b")),
            "^'bb' is not a key of f; did you mean 'b'\\? allowed: a, b$",
        ),
        (
            lambda: validation.mapping("f", {"a": 1}, ("a", "b")),
            r"^f must be a mapping with the keys a and b, got \{'a': 1\} \(missing b\)$",
        ),
    ],
)
def test_validation_messages(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_validation_accepts_the_interval_ends_it_includes():
    assert validation.fraction("f", 0) == 0.0 and validation.fraction("f", 1) == 1.0
    assert validation.fraction("f", 1, low_open=True) == 1.0
    assert validation.fraction("f", 0, high_open=True) == 0.0
    assert validation.integer_at_least("f", 1, 1) == 1
    assert validation.non_negative("f", 0) == 0.0
    assert validation.choice("f", "a", ("a",)) == "a"


@pytest.mark.parametrize("value", [3, 3.0, np.int64(3), np.float64(3.0)])
def test_an_integer_is_an_int_a_numpy_integer_or_an_integral_float(value):
    result = validation.integer_at_least("f", value, 1)
    assert result == 3 and type(result) is int


@pytest.mark.parametrize("value", [np.float32(0.5), np.int64(2)])
def test_numpy_numbers_are_numbers(value):
    assert validation.positive("f", value) == float(value)
