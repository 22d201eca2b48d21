"""Network-level approximation theorem: prune a random network to emulate a target network (the
construction of Pensia et al. 2020, on which the IteRand paper's approximation theorem builds).

Conventions
-----------
Target. ``f(x) = F_l s(... s(F_2 s(F_1 x)))`` with ``s = ReLU``, no biases, ``F_i`` of shape
``(d_i, d_{i-1})`` and ``||F_i||_Frob <= 1``; inputs ``x`` in the unit ball of ``R^{d_0}``.

Random network (twice as deep). Target layer ``i`` (``d_in = d_{i-1} -> d_out = d_i``) is emulated by
``G_i(y) = B_i s(A_i y)``:

- ``A_i``, shape ``(d_in * n, d_in)``, all entries drawn U[-1, 1]. Hidden unit ``(k, u)``
  (``k < d_in``, ``u < n``) is row ``k * n + u``; its block entry is ``a_{k,u} = A_i[k*n + u, k]``.
- ``B_i``, shape ``(d_out, d_in * n)``, entry ``b_{j,k,u} = B_i[j, k*n + u]``. With ``R`` draws per weight
  (re-sampling) every entry has ``R`` i.i.d. U[-1, 1] draws: model B "oracle" uses one of them or none,
  model C "iterand" re-draws the pruned entries round by round (:mod:`theory.resampling`); ``R = 1``, or
  draw 0 alone, is model A "none" (plain pruning, one draw).

``g(x) = G_l(s(G_{l-1}(... s(G_1(x)))))``: the ``2 l`` linear layers ``A_1, B_1, ..., A_l, B_l`` with a ReLU
after each one except the last.

Pruning (Pensia et al. 2020). Since ``w y = w s(y) - w s(-y)`` and ``s(a y) = a s(y)`` for ``a > 0``,
``s(a y) = |a| s(-y)`` for ``a < 0``, output ``j`` of ``G_i`` receives from input ``k``

    sum_{u: a_{k,u} > 0} b_{j,k,u} a_{k,u} s(y_k)  +  sum_{u: a_{k,u} < 0} b_{j,k,u} |a_{k,u}| s(-y_k)

over the kept ``b``'s, so ``w = F_i[j, k]`` is emulated by two independent subset-sum problems over the
products: the *positive part* picks ``b a`` (units with ``a > 0``) summing to ``w``, the *negative part*
picks ``b |a|`` (units with ``a < 0``) summing to ``-w``. Every part is solved exactly, all parts of a
layer together (:mod:`theory.batched_subset_sum`): model A as :func:`theory.subset_sum.best_subset`, model B
as :func:`theory.subset_sum.best_choice` (per weight: none or one of its ``R`` draws), model C as
:func:`theory.resampling.iterand_process`. Units with ``a = 0`` (probability zero) are never used.

Which weights are pruned. All off-block entries of ``A_i`` are pruned (unit ``(k, u)`` sees only input
``k``). A block entry ``a_{k,u}`` is kept iff at least one output keeps its ``b_{j,k,u}``: a unit's ``a`` is
shared by all outputs, so it cannot be pruned while any output uses it, and pruning it when none does
changes nothing. The ``b``'s are pruned by the subset choices. The measured *per-weight error* of ``w`` is
the larger of the two parts' errors ``|goal - sum of the kept products|``, each sum as the exact search adds
it (equal to the plain sum of the kept weights up to rounding, so the models compare exactly).

The network is positively homogeneous (no biases), so ``||f(x) - g(x)||`` scales with ``||x||`` and its
maximum over the unit ball is reached on the unit sphere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from bookkeeping import validation
from bookkeeping.errors import InvalidInput
from theory import batched_subset_sum, resampling, subset_sum


def relu(x: np.ndarray) -> np.ndarray:
    """The activation ``s(x) = max(x, 0)``, elementwise."""
    return np.maximum(x, 0.0)


@dataclass(frozen=True, eq=False)
class Target:
    """The target network ``f``: ``weights[i]`` is ``F_{i+1}`` of shape ``(d_{i+1}, d_i)``, with
    ``||F_{i+1}||_Frob <= 1`` (checked: :func:`error_bound` relies on ``||F_i||_2 <= 1``)."""

    weights: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        weights = tuple(np.asarray(w, dtype=np.float64) for w in self.weights)
        if not weights:
            raise InvalidInput("weights must hold at least 1 layer")
        for i, w in enumerate(weights):
            if w.ndim != 2 or w.size == 0 or (i and w.shape[1] != weights[i - 1].shape[0]):
                raise InvalidInput(
                    f"weights[{i}] must be a non-empty matrix whose column count is the previous row count, "
                    f"got shape {w.shape}"
                )
            # A relative slack absorbs the rounding of a matrix rescaled to norm exactly 1.
            if not (np.all(np.isfinite(w)) and np.linalg.norm(w) <= 1.0 + 1e-12):
                raise InvalidInput(f"weights[{i}] must be finite with Frobenius norm <= 1")
        object.__setattr__(self, "weights", weights)

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1], *(w.shape[0] for w in self.weights))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``f`` on a batch ``x`` of shape ``(N, d_0)``; returns shape ``(N, d_l)``."""
        y = _batch(x, self.dims[0])
        for i, w in enumerate(self.weights):
            y = (relu(y) if i else y) @ w.T
        return y


@dataclass(frozen=True, eq=False)
class EmulatedLayer:
    """The two pruned layers of ``g`` that emulate one target layer (see the module docstring).

    ``first``: ``A`` of shape ``(d_in*n, d_in)``, every entry a U[-1, 1] draw; ``first_mask`` (bool, same
    shape) marks the kept entries. ``second_draws``: shape ``(R, d_out, d_in*n)``, the ``R`` draws of every
    entry of ``B``. ``choice``: int, shape ``(d_out, d_in*n)``: ``-1`` = pruned, ``r`` = kept with draw ``r``.
    ``positive_errors`` / ``negative_errors``: shape ``(d_out, d_in)``, ``|w - sum|`` of the positive part and
    ``|-w - sum|`` of the negative part for each target weight ``w``.
    """

    first: np.ndarray
    first_mask: np.ndarray
    second_draws: np.ndarray
    choice: np.ndarray
    positive_errors: np.ndarray
    negative_errors: np.ndarray

    @property
    def second(self) -> np.ndarray:
        """The value each entry of ``B`` holds: its chosen draw, or draw 0 where pruned (masked anyway)."""
        index = np.maximum(self.choice, 0)[None]
        return np.take_along_axis(self.second_draws, index, axis=0)[0]

    @property
    def second_mask(self) -> np.ndarray:
        return self.choice >= 0

    @property
    def per_weight_errors(self) -> np.ndarray:
        """Shape ``(d_out, d_in)``: the larger of the two parts' errors for each target weight."""
        return np.maximum(self.positive_errors, self.negative_errors)

    def forward(self, y: np.ndarray) -> np.ndarray:
        """``G(y) = (B * M_B) s((A * M_A) y)`` on a batch ``y`` of shape ``(N, d_in)``.

        When every unit keeps at most one entry of ``A`` (the construction's block structure), only the
        kept units are computed, each from its one input: the same floats as the dense product (which
        only adds zeros), without its ``N * d_in * d_in * n`` multiplications.
        """
        units, inputs = np.nonzero(self.first_mask)
        if np.unique(units).size == units.size:
            hidden = relu(y[:, inputs] * self.first[units, inputs])
            return hidden @ (self.second * self.second_mask)[:, units].T
        hidden = relu(y @ (self.first * self.first_mask).T)
        return hidden @ (self.second * self.second_mask).T


@dataclass(frozen=True, eq=False)
class PrunedNetwork:
    """The pruned random network ``g``: one :class:`EmulatedLayer` per target layer."""

    layers: tuple[EmulatedLayer, ...]

    @property
    def dims(self) -> tuple[int, ...]:
        return (self.layers[0].first.shape[1], *(layer.choice.shape[0] for layer in self.layers))

    @property
    def draws_per_weight(self) -> int:
        """``R``: 1 for model A ("none"), the draws available per weight for models B and C."""
        return self.layers[0].second_draws.shape[0]

    @property
    def per_weight_errors(self) -> tuple[np.ndarray, ...]:
        """``E_i`` per emulated layer, shape ``(d_i, d_{i-1})``: the finest input of :func:`error_bound`."""
        return tuple(layer.per_weight_errors for layer in self.layers)

    @property
    def per_weight_error_maxima(self) -> tuple[float, ...]:
        """``eps'_i``: each emulated layer's largest per-weight error, the input of :func:`error_bound`."""
        return tuple(float(layer.per_weight_errors.max()) for layer in self.layers)

    @property
    def kept_weights(self) -> int:
        return int(sum(layer.first_mask.sum() + layer.second_mask.sum() for layer in self.layers))

    @property
    def total_weights(self) -> int:
        """Weights of the unpruned ``g`` (one value per weight, whatever ``R``)."""
        return int(sum(layer.first.size + layer.choice.size for layer in self.layers))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """``g`` on a batch ``x`` of shape ``(N, d_0)``, computed from the masked weights."""
        y = _batch(x, self.dims[0])
        for i, layer in enumerate(self.layers):
            y = layer.forward(relu(y) if i else y)
        return y


def validate_dims(dims) -> tuple[int, ...]:
    """``dims = (d_0, ..., d_l)``: at least two entries, each an integer >= 1."""
    entries = _entries(dims)
    if entries is None or len(entries) < 2:
        raise InvalidInput(f"dims must be a sequence of at least 2 positive integers, got {dims!r}")
    return tuple(validation.integer_at_least(f"dims[{i}]", d, 1) for i, d in enumerate(entries))


def random_target(dims: Sequence[int], rng: np.random.Generator) -> Target:
    """Draw ``F_i`` with i.i.d. N(0, 1) entries, rescaled to ``||F_i||_Frob = 1`` (the extreme allowed)."""
    dims = validate_dims(dims)
    weights = []
    for d_in, d_out in pairwise(dims):
        w = rng.standard_normal((d_out, d_in))
        weights.append(w / np.linalg.norm(w))
    return Target(tuple(weights))


def max_width(R: int = 1) -> int:
    """The largest ``n`` that :func:`prune_layer` accepts with ``R`` draws per output-side weight.

    One part of one weight is an exact meet-in-the-middle search over up to ``n`` units (all ``a``'s may
    share a sign), whose larger half enumerates ``(R + 1)^ceil(n/2)`` sums, capped by
    :data:`theory.subset_sum.MAX_ENUMERATED_SUMS`: 44 for ``R = 1``, 26 for ``R = 2``, 18 for ``R = 4``.
    Checking the worst case up front makes the limit independent of the random draws.
    """
    R = validation.integer_at_least("R", R, 1)
    half = 0
    while (R + 1) ** (half + 1) <= subset_sum.MAX_ENUMERATED_SUMS:
        half += 1
    return 2 * half


def _width(n, R: int) -> int:
    n = validation.integer_at_least("n", n, 1)
    if n > max_width(R):
        raise InvalidInput(f"n must be an integer <= {max_width(R)} for R = {R} (exact pruning), got {n!r}")
    return n


def draw_random_layers(
    dims: Sequence[int], n: int, rng: np.random.Generator, R: int = 1
) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The unpruned random network: per target layer, ``(A, draws of B)`` of shapes
    ``(d_in*n, d_in)`` and ``(R, d_out, d_in*n)``, all entries i.i.d. U[-1, 1].

    All ``A``'s are drawn first, then draw 0 of every ``B``, then draw 1, ...: from the same generator
    state, the network with ``R`` draws extends the one with fewer (same ``A``'s, same first draws), so
    models A and B can be compared on shared draws.
    """
    dims = validate_dims(dims)
    R = validation.integer_at_least("R", R, 1)
    n = _width(n, R)
    pairs = list(pairwise(dims))
    firsts = [rng.uniform(-1.0, 1.0, (d_in * n, d_in)) for d_in, _ in pairs]
    rounds = [[rng.uniform(-1.0, 1.0, (d_out, d_in * n)) for d_in, d_out in pairs] for _ in range(R)]
    return tuple((first, np.stack([draws[i] for draws in rounds])) for i, first in enumerate(firsts))


def prune_layer(
    weight: np.ndarray,
    first: np.ndarray,
    second_draws: np.ndarray,
    model: str | None = None,
    r: float = 1.0,
    rng: np.random.Generator | None = None,
) -> EmulatedLayer:
    """Prune one random layer pair ``(A, draws of B)`` to emulate the target layer ``weight`` (d_out, d_in).

    ``model`` (:data:`theory.resampling.RESAMPLING_MODELS`) says how the ``R = second_draws.shape[0]``
    draws of each entry of ``B`` may be used: ``"none"`` (model A: draw 0 only; the layer keeps only that
    draw), ``"oracle"`` (model B: none or any one draw), ``"iterand"`` (model C: the re-drawing process of
    :func:`theory.batched_subset_sum.iterand_choices` with re-draw probability ``r``, ``rng`` needed when
    ``r < 1``); ``None`` means ``"none"`` for ``R = 1`` and ``"oracle"`` otherwise. Every part of every
    target weight is solved exactly, all parts with the same number of units in one vectorised call of
    :mod:`theory.batched_subset_sum`; the results are those of :func:`theory.subset_sum.best_choice` per
    part. A part's error is ``|goal - sum|`` for the sum of its kept products as that exact search adds them.
    """
    weight = np.asarray(weight, dtype=np.float64)
    first = np.asarray(first, dtype=np.float64)
    second_draws = np.asarray(second_draws, dtype=np.float64)
    if weight.ndim != 2 or weight.size == 0:
        raise InvalidInput(f"weight must have shape (d_out, d_in) with d_out, d_in >= 1, got {weight.shape}")
    d_out, d_in = weight.shape
    if first.ndim != 2 or first.shape[1] != d_in or first.shape[0] < d_in or first.shape[0] % d_in:
        raise InvalidInput(f"first must have shape (d_in*n, d_in) = ({d_in}*n, {d_in}), got {first.shape}")
    n = first.shape[0] // d_in
    if second_draws.ndim != 3 or second_draws.shape[0] < 1 or second_draws.shape[1:] != (d_out, d_in * n):
        raise InvalidInput(
            f"second_draws must have shape (R, d_out, d_in*n) = (R, {d_out}, {d_in * n}), "
            f"got {second_draws.shape}"
        )
    if model is None:
        model = "none" if second_draws.shape[0] == 1 else "oracle"
    validation.choice("model", model, resampling.RESAMPLING_MODELS)
    if model == "none":
        second_draws = second_draws[:1]
    # Models A and C search one value per slot; only model B enumerates R + 1 options per slot.
    _width(n, second_draws.shape[0] if model == "oracle" else 1)
    # a[k, u] = A[k*n + u, k]: the only entry of unit (k, u) that the block structure keeps.
    a = first.reshape(d_in, n, d_in)[np.arange(d_in), :, np.arange(d_in)]
    choice = np.full((d_out, d_in * n), -1, dtype=np.int64)
    errors = np.zeros((2, d_out, d_in))
    # Positive part: the b*a of units with a > 0 should sum to w; negative part: the b*|a| of units with
    # a < 0 should sum to -w (their hidden value is |a| s(-y_k), and w y = w s(y) - w s(-y)).
    for part, sign in enumerate((1.0, -1.0)):
        in_part = sign * a > 0
        sizes = in_part.sum(axis=1)
        errors[part] = np.abs(weight)  # a part without units keeps nothing: its sum is 0
        for m in np.unique(sizes[sizes > 0]):
            ks = np.flatnonzero(sizes == m)
            units = np.nonzero(in_part[ks])[1].reshape(ks.size, m)
            columns = ks[:, None] * n + units
            # Instance (k, j) has slots u with products b_{j,k,u} |a_{k,u}|, one per draw.
            products = second_draws[:, :, columns] * np.abs(a[ks[:, None], units])
            products = products.transpose(2, 1, 3, 0).reshape(ks.size * d_out, m, -1)
            goals = sign * weight[:, ks].T.reshape(-1)
            if model == "iterand":
                round_errors, picked = batched_subset_sum.iterand_choices(products, goals, r, rng)
                part_errors = round_errors[:, -1]
            else:
                part_errors, picked = batched_subset_sum.best_choices(products, goals)
            choice[:, columns] = picked.reshape(ks.size, d_out, m).transpose(1, 0, 2)
            errors[part][:, ks] = part_errors.reshape(ks.size, d_out).T
    first_mask = np.zeros_like(first, dtype=bool)
    used_units = (choice >= 0).any(axis=0)
    first_mask[np.flatnonzero(used_units), np.flatnonzero(used_units) // n] = True
    return EmulatedLayer(first, first_mask, second_draws, choice, errors[0], errors[1])


def prune_network(
    target: Target,
    random_layers: Sequence[tuple[np.ndarray, np.ndarray]],
    model: str | None = None,
    r: float = 1.0,
    rng: np.random.Generator | None = None,
) -> PrunedNetwork:
    """Prune the random layers (as from :func:`draw_random_layers`) to emulate ``target``, layer by layer,
    with re-sampling model ``model`` (see :func:`prune_layer`)."""
    if len(random_layers) != len(target.weights):
        raise InvalidInput(
            f"random_layers must have one (A, draws of B) pair per target layer ({len(target.weights)}), "
            f"got {len(random_layers)}"
        )
    return PrunedNetwork(
        tuple(
            prune_layer(w, first, draws, model, r, rng)
            for w, (first, draws) in zip(target.weights, random_layers, strict=True)
        )
    )


def build_pruned_network(target: Target, n: int, rng: np.random.Generator, R: int = 1) -> PrunedNetwork:
    """Draw a random network with ``n`` units per input coordinate and ``R`` draws per output-side weight,
    and prune it to emulate ``target``."""
    return prune_network(target, draw_random_layers(target.dims, n, rng, R))


def error_bound(per_weight_errors: Sequence, dims: Sequence[int], x_norm: float = 1.0) -> float:
    """Guaranteed ``max ||f(x) - g(x)||`` over ``||x|| <= x_norm`` from the per-weight errors:
    ``x_norm * (prod_i (1 + c_i) - 1)`` with ``c_i = ||E_i||_2`` (spectral norm).

    ``per_weight_errors[i - 1]`` describes layer ``i``: either the matrix ``E_i`` of shape ``(d_i, d_{i-1})``
    of its per-weight errors, or one number ``eps'_i`` bounding all of them, which stands for the constant
    matrix and gives ``c_i = eps'_i sqrt(d_{i-1} d_i)`` (the theorem's form). The matrix form is tighter.

    Derivation. One emulated layer: output ``j`` of ``G_i(y) - F_i y`` is
    ``sum_k (delta+_{jk} s(y_k) + delta-_{jk} s(-y_k))`` with ``|delta+-_{jk}| <= E_i[j, k]``, and
    ``s(y_k) + s(-y_k) = |y_k|``, so ``|G_i(y) - F_i y| <= E_i |y|`` componentwise and
    ``||G_i(y) - F_i y|| <= c_i ||y||``. Through the network, with ``y_i`` and ``yhat_i`` the inputs of
    layer ``i`` in ``f`` and ``g`` (``y_1 = yhat_1 = x``) and ``e_i`` a bound on ``||g_i - f_i||`` after
    layer ``i``: ``||yhat_i - y_i|| <= e_{i-1}`` (ReLU is 1-Lipschitz), ``||yhat_i|| <= ||y_i|| + e_{i-1}
    <= x_norm + e_{i-1}`` (``||F_i||_2 <= ||F_i||_Frob <= 1`` and ReLU do not increase norms), hence
    ``e_i <= ||G_i(yhat_i) - F_i yhat_i|| + ||F_i (yhat_i - y_i)|| <= c_i (x_norm + e_{i-1}) + e_{i-1}``,
    i.e. ``x_norm + e_i <= (1 + c_i)(x_norm + e_{i-1})`` with ``e_0 = 0``.
    """
    dims = validate_dims(dims)
    factors = _layer_factors(per_weight_errors, dims)
    x_norm = validation.non_negative("x_norm", x_norm)
    # expm1/log1p keep full relative precision when the per-weight errors are tiny.
    return x_norm * math.expm1(math.fsum(math.log1p(c) for c in factors))


def required_per_weight_tolerance(eps: float, dims: Sequence[int], x_norm: float = 1.0) -> float:
    """The largest common per-weight tolerance ``eps'`` (same for every layer) with
    ``error_bound([eps'] * l, dims, x_norm) <= eps``, i.e. the root of
    ``prod_i (1 + eps' sqrt(d_{i-1} d_i)) = 1 + eps / x_norm``.

    With equal widths ``d_i = d`` this is ``((1 + eps/x_norm)^(1/l) - 1) / d``. In general it is found by
    bisection between ``log1p(eps/x_norm) / S`` and ``(eps/x_norm) / S``, ``S = sum_i sqrt(d_{i-1} d_i)``
    (``log1p`` is concave and subadditive, so the root lies between them), keeping the lower end.
    """
    eps = validation.positive("eps", eps)
    dims = validate_dims(dims)
    x_norm = validation.positive("x_norm", x_norm)
    scales = _layer_scales(dims)
    goal = math.log1p(eps / x_norm)
    low, high = goal / sum(scales), (eps / x_norm) / sum(scales)
    while True:
        middle = 0.5 * (low + high)
        if not low < middle < high:
            return low
        if math.fsum(math.log1p(middle * s) for s in scales) <= goal:
            low = middle
        else:
            high = middle


def unit_ball_inputs(d: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points of the unit ball in ``R^d``, shape ``(count, d)``: the first ``ceil(count/2)``
    uniform on the sphere (where the error of the homogeneous networks is largest), the rest uniform in
    the ball."""
    d = validation.integer_at_least("d", d, 1)
    count = validation.integer_at_least("count", count, 1)
    directions = rng.standard_normal((count, d))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    radii = np.ones(count)
    on_sphere = (count + 1) // 2
    radii[on_sphere:] = rng.uniform(0.0, 1.0, count - on_sphere) ** (1.0 / d)
    return directions * radii[:, None]


def measure_error(target: Target, network: PrunedNetwork, inputs: np.ndarray) -> float:
    """``max ||f(x) - g(x)||`` (Euclidean) over the rows ``x`` of ``inputs``."""
    if target.dims != network.dims:
        raise InvalidInput(f"network must have the target's dims {target.dims}, got {network.dims}")
    difference = target.forward(inputs) - network.forward(inputs)
    return float(np.linalg.norm(difference, axis=1).max())


def error_vs_width(
    dims,
    widths: Sequence[int],
    R_values: Sequence[int] = (1,),
    trials: int = 1,
    seed: int = 0,
    inputs: int = 256,
) -> list[dict]:
    """Measured error and computed bound of pruned networks for every dims x trial x width n x R.

    ``dims`` is one ``(d_0, ..., d_l)`` or a list of them. Per (dims, trial) one target and one set of
    ``inputs`` unit-ball points; per width one random network with ``max(R_values)`` draws per output-side
    weight, of which the record with ``R`` uses the first ``R`` (``R = 1``: model A "none", no
    re-sampling; ``R > 1``: model B "oracle"). The draws are therefore nested and the per-weight errors
    cannot grow with ``R``. Every random stream is seeded from ``(seed, dims index, trial, ...)``, and
    (see :func:`draw_random_layers`) a record does not depend on which other widths or R's are asked, so
    a figure may call this once per ``R`` with the widths that ``R`` reaches (:func:`max_width`; the cost
    of a part grows like ``(R + 1)^(n/4)``) and still compare the models on shared draws.

    Each record: dims, n, R, model, trial, max_error, bound (the theorem's form, from the ``eps'_i``),
    bound_per_weight (from the full per-weight error matrices, tighter), per_weight_error_max (over all
    layers), per_weight_errors (``eps'_i`` per layer), kept_weights, total_weights, seed.
    """
    dims_list = [validate_dims(d) for d in _dims_list(dims)]
    widths = [validation.integer_at_least(f"widths[{i}]", n, 1) for i, n in enumerate(widths)]
    R_values = [validation.integer_at_least(f"R_values[{i}]", R, 1) for i, R in enumerate(R_values)]
    if not widths or not R_values:
        raise InvalidInput("widths and R_values must each have at least 1 entry")
    for n in widths:
        _width(n, max(R_values))
    trials = validation.integer_at_least("trials", trials, 1)
    seed = validation.integer_at_least("seed", seed, 0)
    count = validation.integer_at_least("inputs", inputs, 1)
    records = []
    for index, dims_i in enumerate(dims_list):
        for trial in range(trials):
            target = random_target(dims_i, np.random.default_rng([seed, index, trial, 0]))
            points = unit_ball_inputs(dims_i[0], count, np.random.default_rng([seed, index, trial, 1]))
            for n in widths:
                random_layers = draw_random_layers(
                    dims_i, n, np.random.default_rng([seed, index, trial, 2, n]), max(R_values)
                )
                for R in R_values:
                    network = prune_network(target, [(first, draws[:R]) for first, draws in random_layers])
                    maxima = network.per_weight_error_maxima
                    records.append(
                        {
                            "dims": list(dims_i),
                            "n": n,
                            "R": R,
                            "model": "none" if R == 1 else "oracle",
                            "trial": trial,
                            "max_error": measure_error(target, network, points),
                            "bound": error_bound(maxima, dims_i),
                            "bound_per_weight": error_bound(network.per_weight_errors, dims_i),
                            "per_weight_error_max": max(maxima),
                            "per_weight_errors": list(maxima),
                            "kept_weights": network.kept_weights,
                            "total_weights": network.total_weights,
                            "seed": seed,
                        }
                    )
    return records


def _dims_list(dims) -> list:
    """``dims`` as a list of dims tuples: one ``(d_0, ..., d_l)`` or already a list of them."""
    entries = _entries(dims)
    if entries is None:
        raise InvalidInput(f"dims must be a sequence of positive integers or a list of them, got {dims!r}")
    if entries and all(_entries(e) is not None for e in entries):
        return entries
    return [entries]


def _entries(value) -> list | None:
    # A string is never a list of dims: "abc" was read as the dims "a", "b", "c".
    try:
        return validation.entries("dims", value)
    except InvalidInput:
        return None


def _batch(x, d: int) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != d:
        raise InvalidInput(f"x must have shape (N, {d}), got {arr.shape}")
    return arr


def _layer_scales(dims: tuple[int, ...]) -> list[float]:
    return [math.sqrt(d_in * d_out) for d_in, d_out in pairwise(dims)]


def _layer_factors(per_weight_errors, dims: tuple[int, ...]) -> list[float]:
    """``c_i = ||E_i||_2`` for each layer (see :func:`error_bound`), validating the entries."""
    name, count = "per_weight_errors", len(dims) - 1
    try:
        entries = list(per_weight_errors)
    except TypeError:
        raise InvalidInput(f"{name} must be a sequence with one entry per layer ({count})") from None
    if len(entries) != count:
        raise InvalidInput(f"{name} must have one entry per layer ({count}), got {len(entries)}")
    factors = []
    for i, (entry, scale, (d_in, d_out)) in enumerate(
        zip(entries, _layer_scales(dims), pairwise(dims), strict=True)
    ):
        if np.ndim(entry) == 0:
            factors.append(validation.non_negative(f"{name}[{i}]", entry) * scale)
            continue
        matrix = np.asarray(entry, dtype=np.float64)
        if matrix.shape != (d_out, d_in) or not np.all(np.isfinite(matrix) & (matrix >= 0)):
            raise InvalidInput(
                f"{name}[{i}] must be a non-negative number or a non-negative finite matrix of shape "
                f"({d_out}, {d_in})"
            )
        factors.append(float(np.linalg.norm(matrix, 2)))
    return factors
