"""Counter-based random numbers: every value a pure function of (seed, counter), the same on every device.

IteRand's re-draws come from here, so that the value a re-draw gave one weight can be recomputed from
its coordinates alone (``iterand.core.weight_updates`` lays them out in the counter); rebuilding a
trained model from its compact file then evaluates only the values it needs, without replaying training.

The generator is SplitMix64 (Steele, Lea & Flood, OOPSLA 2014; the seeding generator of the xoshiro
family): output number ``c`` (0-based) of the sequence seeded with ``seed`` is
``mix64((seed + (c + 1) * GOLDEN) mod 2^64)``. ``mix64`` is a bijection of 64-bit words, so distinct
counters give distinct outputs and streams cut from disjoint counter ranges never overlap. Only integer
operations run (wrapping int64 multiplication, xor, masked shifts): every device computes the same bits.

From 64-bit outputs:

- ``uniform``: the top ``p`` bits over ``2^p``, ``p`` the significand precision of the dtype (24 for
  float32, 53 for float64): exact multiples of ``2^-p`` in [0, 1), the grid of ``torch.rand``.
- ``bernoulli``: true when the top 53 bits, as an integer, are below ``floor(probability * 2^53)``;
  the probability is exact to 2^-53 and the decision is made in integers.
- ``normal``: Box-Muller, ``sqrt(-2 log u) cos(2 pi v)``, in float64, with log and cos evaluated by
  range reduction (``frexp``, ``round``: exact) and polynomials; every step is one IEEE-754 operation
  (+, -, *, /, sqrt), correctly rounded on any device and in vectorised or scalar loops alike, so the
  same bits come out everywhere. (Library log and cos differ between CPU and GPU, and between torch's
  vectorised and scalar CPU loops, in the last bits.) Accuracy: about 2 ulp of float64 relative to the
  exact transform.
"""

from __future__ import annotations

import math

import torch

__all__ = ["GOLDEN", "bernoulli", "int64_word", "normal", "splitmix64", "uniform"]

GOLDEN = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB
_WORD = 1 << 64
_TOP_BITS = 53  # of a 64-bit output, for bernoulli and the uniforms of normal
_LN2 = math.log(2.0)
_SQRT_HALF = math.sqrt(0.5)
# Taylor coefficients: 2 atanh(s) = 2 s (1 + s^2/3 + s^4/5 + ...), |s| <= 0.172, to s^21 (< 2^-53 after).
_ATANH = [1.0 / (2 * k + 1) for k in range(11)]
# cos and sin on [-pi/4, pi/4], to theta^16 and theta^17 (the next terms are below 2^-58).
_COS = [(-1) ** k / math.factorial(2 * k) for k in range(9)]
_SIN = [(-1) ** k / math.factorial(2 * k + 1) for k in range(9)]


def int64_word(word: int) -> int:
    """The int64 with the bits of the unsigned 64-bit ``word``."""
    word %= _WORD
    return word - _WORD if word >= 1 << 63 else word


def _shift_right(x: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 words (torch shifts arithmetically)."""
    return (x >> bits) & ((1 << (64 - bits)) - 1)


def splitmix64(seed: int, counters: torch.Tensor) -> torch.Tensor:
    """Output number ``counters`` of SplitMix64 seeded with ``seed``, as int64 holding the 64 bits.

    ``counters``: an int64 tensor of any shape, on any device, read as unsigned 64-bit words.
    """
    if counters.dtype != torch.int64:
        raise ValueError(f"counters must be an int64 tensor, got {counters.dtype}")
    x = counters * int64_word(GOLDEN)
    x += int64_word(seed + GOLDEN)
    x ^= _shift_right(x, 30)
    x *= int64_word(_MIX_1)
    x ^= _shift_right(x, 27)
    x *= int64_word(_MIX_2)
    x ^= _shift_right(x, 31)
    return x


def uniform(bits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Uniforms in [0, 1) of ``dtype`` from 64-bit outputs: the top ``p`` bits over ``2^p``."""
    precision = 1 - round(math.log2(torch.finfo(dtype).eps))
    return _shift_right(bits, 64 - precision).to(dtype) * 2.0**-precision


def bernoulli(bits: torch.Tensor, probability: float) -> torch.Tensor:
    """True with probability ``floor(probability * 2^53) / 2^53`` per 64-bit output."""
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability!r}")
    return _shift_right(bits, 64 - _TOP_BITS) < math.floor(probability * 2.0**_TOP_BITS)


def normal(bits_a: torch.Tensor, bits_b: torch.Tensor) -> torch.Tensor:
    """Standard normals (float64) from two 64-bit outputs each: ``sqrt(-2 log u) cos(2 pi v)`` with
    ``u`` in (0, 1] and ``v`` in [0, 1), both on the grid of multiples of 2^-53."""
    u = (_shift_right(bits_a, 64 - _TOP_BITS) + 1).to(torch.float64) * 2.0**-_TOP_BITS
    v = uniform(bits_b, torch.float64)
    return torch.sqrt(_log(u) * -2.0) * _cos_two_pi(v)


def _horner(z: torch.Tensor, coefficients: list[float]) -> torch.Tensor:
    result = torch.full_like(z, coefficients[-1])
    for coefficient in reversed(coefficients[:-1]):
        result = result * z + coefficient
    return result


def _log(u: torch.Tensor) -> torch.Tensor:
    """Natural log of positive float64: ``u = m 2^e`` with m in [sqrt(1/2), sqrt(2)), then
    ``log m = 2 atanh((m - 1) / (m + 1))`` by its series."""
    mantissa, exponent = torch.frexp(u)  # mantissa in [1/2, 1)
    low = mantissa < _SQRT_HALF
    mantissa = torch.where(low, mantissa * 2.0, mantissa)
    exponent = (exponent - low.to(exponent.dtype)).to(torch.float64)
    s = (mantissa - 1.0) / (mantissa + 1.0)
    return exponent * _LN2 + s * 2.0 * _horner(s * s, _ATANH)


def _cos_two_pi(v: torch.Tensor) -> torch.Tensor:
    """cos(2 pi v) for float64 ``v`` in [0, 1): ``4 v = q + f`` with integer q and |f| <= 1/2 (exact), then
    the quadrant q picks +-cos or +-sin of ``f pi / 2`` by their series."""
    turns = v * 4.0
    quadrant = torch.round(turns)
    theta = (turns - quadrant) * (math.pi / 2)
    z = theta * theta
    cos, sin = _horner(z, _COS), theta * _horner(z, _SIN)
    quadrant = quadrant.to(torch.int64) % 4
    return torch.where(
        quadrant == 0, cos, torch.where(quadrant == 1, -sin, torch.where(quadrant == 2, -cos, sin))
    )
