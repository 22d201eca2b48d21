"""The counter-based generator of IteRand's re-draws: SplitMix64 bit for bit, its uniforms, Bernoulli
decisions and normals, and golden values that fail if one bit of the generator or of the re-draw layout
drifted (a drift would make every compact file written before it rebuild wrong weights)."""

from __future__ import annotations

import math

import pytest
import torch

from iterand.core import counter_random
from iterand.core.layers import SubnetSpec
from iterand.core.names import WEIGHT_INITS
from iterand.core.weight_updates import MAX_EVENTS, redraw_selection, redrawn_values

WORD = (1 << 64) - 1
Z = 6.0


def splitmix64_reference(seed: int, counter: int) -> int:
    """Steele, Lea & Flood's SplitMix64, output number ``counter``, in plain Python integers."""
    z = (seed + (counter + 1) * counter_random.GOLDEN) & WORD
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & WORD
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & WORD
    return z ^ (z >> 31)


def words(tensor: torch.Tensor) -> list[int]:
    return [value & WORD for value in tensor.tolist()]


def test_splitmix64_is_the_published_sequence():
    # The first outputs of SplitMix64 seeded with 0, as every implementation of it prints them.
    published = [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F, 0xF88BB8A8724C81EC]
    assert words(counter_random.splitmix64(0, torch.arange(4))) == published


def test_splitmix64_matches_the_reference_on_counters_with_the_top_bits_set():
    counters = [5, 1 << 44, (MAX_EVENTS << 44) | (1023 << 34) | (2 << 32) | 0xFFFFFFFF, (1 << 64) - 1]
    tensor = torch.tensor([counter_random.int64_word(c) for c in counters])
    for seed in (0, 12345, (1 << 63) - 1):
        assert words(counter_random.splitmix64(seed, tensor)) == [
            splitmix64_reference(seed, c) for c in counters
        ]


def test_uniforms_lie_on_the_dtype_grid_and_bernoulli_is_decided_in_integers():
    bits = counter_random.splitmix64(1, torch.arange(100_000))
    single, double = counter_random.uniform(bits, torch.float32), counter_random.uniform(bits, torch.float64)
    assert single.dtype == torch.float32 and float(single.min()) >= 0 and float(single.max()) < 1
    assert torch.equal(single * 2**24, (single * 2**24).floor())
    assert torch.equal(double * 2**53, (double * 2**53).floor())
    assert torch.equal(single.double(), (double * 2**24).floor() / 2**24)  # the same top bits
    assert torch.equal(counter_random.bernoulli(bits, 0.5), double < 0.5)
    assert not counter_random.bernoulli(bits, 0.0).any() and counter_random.bernoulli(bits, 1.0).all()
    share = float(counter_random.bernoulli(bits, 0.1).double().mean())
    assert abs(share - 0.1) < Z * math.sqrt(0.09 / bits.numel())
    with pytest.raises(ValueError, match="probability"):
        counter_random.bernoulli(bits, 1.5)


def test_bernoulli_boundaries_are_exact():
    # Outputs whose top 53 bits are 0 (low bits set) and 2^52 (u = 1/2), and the grid point below 1/2.
    bits = torch.tensor([0, 2047, counter_random.int64_word(1 << 63), ((1 << 52) - 1) << 11])
    assert counter_random.bernoulli(bits, 0.0).tolist() == [False] * 4  # r = 0 selects nothing, ever
    assert counter_random.bernoulli(bits, 0.5).tolist() == [True, True, False, True]


def test_normals_are_box_muller_to_float64_accuracy_and_normally_distributed():
    a, b = (
        counter_random.splitmix64(3, torch.arange(200_000)),
        counter_random.splitmix64(4, torch.arange(200_000)),
    )
    z = counter_random.normal(a, b)
    u = ((a >> 11) & ((1 << 53) - 1)).double().add(1) / 2**53
    v = ((b >> 11) & ((1 << 53) - 1)).double() / 2**53
    exact = [
        math.sqrt(-2 * math.log(x)) * math.cos(2 * math.pi * y)
        for x, y in zip(u[:20_000].tolist(), v[:20_000].tolist(), strict=True)
    ]
    assert torch.allclose(z[:20_000], torch.tensor(exact, dtype=torch.float64), rtol=0, atol=1e-13)
    n = z.numel()
    assert abs(float(z.mean())) < Z / math.sqrt(n) and abs(float(z.square().mean()) - 1) < Z * math.sqrt(
        2 / n
    )
    within = float((z.abs() < 1).double().mean())
    assert abs(within - 0.682689) < Z * math.sqrt(0.682689 * 0.317311 / n)


def test_golden_normals():
    z = counter_random.normal(
        counter_random.splitmix64(7, torch.arange(4)), counter_random.splitmix64(7, torch.arange(4, 8))
    )
    expected = [
        "-0x1.4fd1c8c424d7cp+0",
        "0x1.4ea10472edf5fp-7",
        "-0x1.cab69b851cc49p-2",
        "-0x1.f537b40555c46p-2",
    ]
    assert [float(x).hex() for x in z.tolist()] == expected


GOLDEN_REDRAWS = {
    "signed_constant": [
        "-0x1.e2b7dep-4",
        "0x1.e2b7dep-4",
        "-0x1.e2b7dep-4",
        "-0x1.e2b7dep-4",
        "0x1.e2b7dep-4",
    ],
    "kaiming_uniform": [
        "0x1.4d4c2ap-3",
        "-0x1.afab1ap-9",
        "0x1.831488p-5",
        "0x1.0944bap-3",
        "-0x1.3374d2p-4",
    ],
    "kaiming_normal": ["0x1.9310eep-6", "0x1.0b13fep-3", "0x1.36b75ep-4", "0x1.b5e47p-6", "0x1.b0785p-5"],
    "uniform": ["0x1.983454p-1", "-0x1.08578p-6", "0x1.da131p-3", "0x1.44e2dcp-1", "-0x1.788e38p-2"],
}


@pytest.mark.parametrize("init", WEIGHT_INITS)
def test_golden_redrawn_values(init):
    # Seed 2021, update 3, layer 5, fan-in 144, flat indices up to the largest a layer may have.
    index = torch.tensor([0, 1, 2, 1000, (1 << 32) - 1])
    values = redrawn_values(2021, 3, 5, index, SubnetSpec(weight_init=init), 144, torch.float32)
    assert [float(x).hex() for x in values.tolist()] == [float.fromhex(h).hex() for h in GOLDEN_REDRAWS[init]]


def test_golden_selection_and_the_last_event_and_layer():
    assert redraw_selection(2021, 3, 5, torch.arange(16), 0.5).int().tolist() == [
        0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0,
    ]  # fmt: skip
    index = torch.tensor([0, 1, 2, 1000, (1 << 32) - 1])
    spec = SubnetSpec(weight_init="kaiming_uniform")
    values = redrawn_values(2021, MAX_EVENTS, 1023, index, spec, 144, torch.float32)
    expected = ["-0x1.43cc78p-4", "-0x1.5da648p-3", "0x1.e2a374p-4", "-0x1.7eabb8p-3", "-0x1.e411bcp-8"]
    assert [float(x).hex() for x in values.tolist()] == [float.fromhex(h).hex() for h in expected]
