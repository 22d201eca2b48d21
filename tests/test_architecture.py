"""Imports flow one way: bookkeeping <- theory, iterand.core <- iterand.engine <- iterand.experiments.

Read from the source (``ast``), so that an upward import fails here even where no test executes it:

- ``bookkeeping`` (paths, files, provenance, tables, validation) imports none of the packages above it;
- ``theory`` and ``iterand`` import no ``repro``, the notebook runner on top (except ``theory.cli``,
  whose ``figures`` command drives it), and not each other;
- ``iterand.core`` imports nothing of ``iterand.engine`` or ``iterand.experiments``; the engine nothing
  of the experiments; every module of ``iterand`` lies in one of the three layers;
- the configuration (``iterand.engine.config``), the registries it validates against (``iterand.core.names``,
  ``iterand.engine.datasets``) and everything they import at load time import no torch.

Imports inside functions and under ``if TYPE_CHECKING:`` count for the direction rules (they are
dependencies all the same), not for the torch-free rule (they do not run when the module loads).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("bookkeeping", "theory", "iterand", "repro")
LAYERS = ("iterand.core", "iterand.engine", "iterand.experiments")
# The most specific prefix of a module decides; each entry lists what its modules must not import.
FORBIDDEN = {
    "bookkeeping": ("iterand", "theory", "repro", "torch", "torchvision", "papermill"),
    "theory": ("iterand", "repro", "torch"),
    "repro": ("iterand", "theory", "torch"),
    "iterand": ("theory", "repro"),
    "iterand.core": ("iterand.engine", "iterand.experiments", "theory", "repro"),
    "iterand.engine": ("iterand.experiments", "theory", "repro"),
}
# The command line of the theory package runs the theory notebooks through the runner. The trained-network
# experiment (the one place where theory meets training) trains its target on the training package's own
# data code and checks its pruned network as a torch module: these modules import iterand and torch only
# inside the functions that need them, so `import theory` loads neither.
ALLOWED = {
    ("theory.cli", "repro"),
    ("theory.target_data", "iterand"),
    ("theory.target_training", "torch"),
    ("theory.torch_network", "torch"),
    ("theory.trained_network", "torch"),
}
TORCH_FREE = ("iterand.engine.config", "iterand.core.names", "iterand.engine.datasets")
TORCH = ("torch", "torchvision")


@dataclass(frozen=True)
class Import:
    module: str  # the imported module, absolute
    line: int
    at_load: bool  # runs when the importing module loads (module level, not under TYPE_CHECKING)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))
    }


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, at_load: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(child, False)
        elif isinstance(child, ast.If) and _is_type_checking(child):
            yield from _walk(child, False)
        else:
            yield child, at_load
            yield from _walk(child, at_load)


def imports_of(name: str) -> list[Import]:
    """Every module ``name`` imports; ``from P import X`` imports P and, when it is a module, P.X."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node, at_load in _walk(ast.parse(path.read_text(), str(path)), True):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno, at_load) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(Import(base, node.lineno, at_load))
            found += [
                Import(f"{base}.{alias.name}", node.lineno, at_load)
                for alias in node.names
                if f"{base}.{alias.name}" in MODULES
            ]
    return found


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _forbidden_for(name: str) -> tuple[str, ...]:
    owners = [prefix for prefix in FORBIDDEN if _within(name, prefix)]
    return FORBIDDEN[max(owners, key=len)] if owners else ()


def test_the_parser_sees_imports_of_every_kind():
    # Guards the rules below against passing vacuously: plain, from-package, lazy and TYPE_CHECKING imports.
    train = {i.module: i.at_load for i in imports_of("iterand.engine.train")}
    assert train["torch"] and train["iterand.core.accounting"] and train["iterand.engine.checkpoint"]
    assert train["iterand.engine.data"] is False  # the data stack loads lazily inside a function
    assert {i.module for i in imports_of("iterand.engine.optim")} >= {"iterand.engine.config"}
    assert len(MODULES) > 50 and "bookkeeping.paths" in MODULES and "iterand.core.models" in MODULES


def test_every_iterand_module_lies_in_a_layer():
    outside = [
        name
        for name in MODULES
        if _within(name, "iterand")
        and name not in ("iterand", "iterand.__main__")
        and not any(_within(name, layer) for layer in LAYERS)
    ]
    assert not outside, f"modules of iterand outside {', '.join(LAYERS)}: {outside}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_points_upward(name):
    upward = [
        f"{MODULES[name].relative_to(REPO)}:{imp.line} imports {imp.module}"
        for imp in imports_of(name)
        for prefix in _forbidden_for(name)
        if _within(imp.module, prefix) and (name, prefix) not in ALLOWED
    ]
    assert not upward, "\n".join(upward)


def _load_time_closure(name: str) -> dict[str, str]:
    """Every project module that loading ``name`` loads (packages included), each with its importer."""
    seen: dict[str, str] = {}
    todo = [(name, "(start)")]
    while todo:
        module, importer = todo.pop()
        parts = module.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if prefix in MODULES and prefix not in seen:
                seen[prefix] = importer
                todo += [(imp.module, prefix) for imp in imports_of(prefix) if imp.at_load]
    return seen


@pytest.mark.parametrize("name", TORCH_FREE)
def test_the_configuration_imports_no_torch(name):
    assert name in MODULES, f"no module {name}: update TORCH_FREE"
    loaded = _load_time_closure(name)
    heavy = [
        f"{module} (loaded by {importer}) imports {imp.module} at line {imp.line}"
        for module, importer in loaded.items()
        for imp in imports_of(module)
        if imp.at_load and any(_within(imp.module, t) for t in TORCH)
    ]
    assert not heavy, "\n".join(heavy)


def test_the_configuration_imports_no_torch_when_run():
    code = f"import sys, {', '.join(TORCH_FREE)}; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
