"""The import contracts cover the whole package: a new top-level module or a new layer cannot
slip past lint-imports unnoticed."""

from __future__ import annotations

import tomllib
from pathlib import Path

import sendguard

PACKAGE = Path(sendguard.__file__).parent
CONTRACTS = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def contract(prefix: str) -> dict:  # type: ignore[type-arg]
    (found,) = [c for c in CONTRACTS if c["name"].startswith(prefix)]
    return found


def layers() -> set[str]:
    return {
        f"sendguard.{p.name}"
        for p in PACKAGE.iterdir()
        if (p / "__init__.py").exists() and not p.is_symlink()  # sendguard/tui: a symlink to tui/
    } | {"sendguard.tui"}


def test_every_top_level_module_is_kernel_and_the_kernel_imports_no_layer():
    kernel = contract("The kernel")
    modules = {f"sendguard.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert set(kernel["source_modules"]) == modules
    assert set(kernel["forbidden_modules"]) == layers()


def test_every_layer_is_in_the_layers_contract():
    assert set(contract("Layers")["layers"]) == layers()
