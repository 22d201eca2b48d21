"""Weight distributions: KU, KN, SC, U(-1, 1), fan-in, scale, generators.

Statistical checks use tolerances of 6 standard errors of the statistic at the sample size, so a correct
implementation fails with negligible probability (and the seeds are fixed anyway).
"""

from __future__ import annotations

import math

import pytest
import torch

from iterand.core import init

CONV_SHAPE = (2000, 16, 3, 3)  # fan_in 144, 288k samples
LINEAR_SHAPE = (600, 500)  # fan_in 500, 300k samples
Z = 6.0


def draw(init_name, shape, scale=1.0, seed=0, dtype=torch.float64):
    return init.draw_weights(
        torch.empty(shape, dtype=dtype), init_name, scale, torch.Generator().manual_seed(seed)
    )


def assert_mean_and_second_moment(values, variance, fourth_moment):
    n = values.numel()
    mean_se = math.sqrt(variance / n)
    assert abs(float(values.mean())) < Z * mean_se
    second = float((values**2).mean())
    second_se = math.sqrt((fourth_moment - variance**2) / n)
    assert abs(second - variance) < Z * second_se


def test_fan_in_of_conv_and_linear_weights():
    assert init.fan_in((64, 16, 3, 3)) == 144
    assert init.fan_in((10, 20)) == 20
    assert init.fan_in((8, 4, 5)) == 20
    with pytest.raises(ValueError, match="shape"):
        init.fan_in((5,))


@pytest.mark.parametrize("shape", [CONV_SHAPE, LINEAR_SHAPE])
def test_kaiming_uniform_support_and_moments(shape):
    fan = init.fan_in(shape)
    bound = math.sqrt(6.0 / fan)
    values = draw("kaiming_uniform", shape)
    assert float(values.abs().max()) <= bound
    assert float(values.max()) > bound * (1 - 40 / values.numel())  # the support is all of [-b, b]
    assert float(values.min()) < -bound * (1 - 40 / values.numel())
    assert_mean_and_second_moment(values, bound**2 / 3, bound**4 / 5)


@pytest.mark.parametrize("shape", [CONV_SHAPE, LINEAR_SHAPE])
def test_kaiming_normal_moments_and_shape(shape):
    variance = 2.0 / init.fan_in(shape)
    values = draw("kaiming_normal", shape)
    assert_mean_and_second_moment(values, variance, 3 * variance**2)
    # normal, not some other law with that variance: P(|x| < sigma) = 0.6827
    within = float((values.abs() < math.sqrt(variance)).double().mean())
    assert abs(within - 0.682689) < Z * math.sqrt(0.682689 * 0.317311 / values.numel())


@pytest.mark.parametrize("shape", [CONV_SHAPE, LINEAR_SHAPE])
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_signed_constant_takes_exactly_two_values(shape, scale):
    constant = math.sqrt(2.0 / init.fan_in(shape)) * scale
    values = draw("signed_constant", shape, scale)
    assert torch.equal(values.abs(), torch.full(shape, constant, dtype=torch.float64))
    positive = float((values > 0).double().mean())
    assert abs(positive - 0.5) < Z * math.sqrt(0.25 / values.numel())


def test_signed_constant_sign_boundary_is_exactly_one_half():
    # P(+) = 1/2 exactly on the 2^-24 grid only if u = 1/2 itself goes to the minus sign.
    u = torch.tensor([0.0, 0.5 - 2**-24, 0.5, 1 - 2**-24], dtype=torch.float32)
    values = init.from_standard(u, "signed_constant", fan=2)  # sqrt(2 / 2) = 1
    assert values.tolist() == [1.0, 1.0, -1.0, -1.0]


def test_uniform_is_minus_one_to_one_regardless_of_fan():
    values = draw("uniform", LINEAR_SHAPE)
    assert float(values.abs().max()) <= 1.0 and float(values.abs().max()) > 0.999
    assert_mean_and_second_moment(values, 1 / 3, 1 / 5)
    same_seed_other_fan = draw("uniform", (300_000, 1))
    assert torch.equal(values.reshape(-1), same_seed_other_fan.reshape(-1))


@pytest.mark.parametrize("name", init.WEIGHT_INITS)
def test_scale_multiplies_the_draw(name):
    assert torch.equal(draw(name, (40, 30), scale=2.5), draw(name, (40, 30)) * 2.5)


@pytest.mark.parametrize("name", init.WEIGHT_INITS)
def test_dedicated_generator_reproduces_and_leaves_global_rng_alone(name):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = draw(name, (20, 7), seed=9)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(first, draw(name, (20, 7), seed=9))
    assert not torch.equal(first, draw(name, (20, 7), seed=10))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", init.WEIGHT_INITS)
def test_draw_keeps_shape_dtype_and_fill_is_in_place(name, dtype):
    weight = torch.zeros(5, 4, 3, dtype=dtype)
    values = init.draw_weights(weight, name, 1.0, torch.Generator().manual_seed(0))
    assert values.shape == weight.shape and values.dtype == dtype
    returned = init.fill_weights_(weight, name, 1.0, torch.Generator().manual_seed(0))
    assert returned is weight and torch.equal(weight, values)


def test_aliases_and_unknown_names():
    assert [init.canonical_init(a) for a in ("sc", "ku", "kn", "u")] == [
        "signed_constant",
        "kaiming_uniform",
        "kaiming_normal",
        "uniform",
    ]
    assert torch.equal(draw("sc", (4, 4)), draw("signed_constant", (4, 4)))
    for bad in ("xavier", "KU", None):
        with pytest.raises(ValueError, match="weight_init must be one of 'signed_constant'"):
            init.canonical_init(bad)
