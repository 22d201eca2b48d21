"""The registries of methods and architectures: every entry is complete, and what a method ignores
follows from the update it runs."""

from iterand.core.layers import EFFECTIVE_WEIGHTS
from iterand.core.models import FAMILIES
from iterand.core.models.resnet import BLOCKS
from iterand.core.names import (
    ARCHITECTURES,
    METHOD_REGISTRY,
    RANKINGS,
    STEMS,
    SUBNETWORK_FIELDS,
    ignored_fields,
    init_alias,
)

UPDATE_FIELDS = (
    "r", "period", "period_unit", "rate", "rerandomize_mode", "rerandomize_lambda", "rerandomize_mu",
)  # fmt: skip


def test_ignored_fields_follow_from_each_methods_update():
    assert ignored_fields("iterand") == ()
    assert ignored_fields("sgd") == (*SUBNETWORK_FIELDS, *UPDATE_FIELDS)
    assert ignored_fields("edgepopup") == ignored_fields("biprop") == UPDATE_FIELDS
    assert ignored_fields("recycling") == ("r", "rerandomize_mode", "rerandomize_lambda", "rerandomize_mu")


def test_method_entries_name_existing_layer_settings():
    for method in METHOD_REGISTRY.values():
        assert method.effective_weight in EFFECTIVE_WEIGHTS, method.name
        assert method.ranking is None or method.ranking in RANKINGS, method.name
        assert method.title and method.summary, method.name
    assert [m.name for m in METHOD_REGISTRY.values() if not m.subnetwork] == ["sgd"]


def test_every_architecture_has_a_builder_and_valid_layout():
    for arch in ARCHITECTURES.values():
        assert arch.family in FAMILIES, arch.name
        assert set(arch.stems) <= set(STEMS) and arch.stems, arch.name
        if arch.family == "resnet":
            block, blocks_per_stage = arch.layout
            assert block in BLOCKS and len(blocks_per_stage) == 4, arch.name
        else:
            assert isinstance(arch.layout, int) and arch.stems == ("cifar",), arch.name


def test_init_alias_accepts_full_names_and_aliases():
    names = ("signed_constant", "ku", "kaiming_normal", "uniform")
    assert [init_alias(name) for name in names] == ["sc", "ku", "kn", "u"]
