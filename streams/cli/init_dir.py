"""`heard init DIR`: the shipped configuration and templates written out for an installed
heard (pip or a wheel), so it starts with the same defaults a clone has at its top."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from heard.streams.base.settings import ConfigError

PARTS = {"config": "heard.defaults.config", "templates": "heard.defaults.templates"}


def shipped(package: str) -> Path:
    """Where the installed package keeps a shipped folder. They hold data only (no
    `__init__.py`): a namespace package, found through its search locations."""
    spec = importlib.util.find_spec(package)
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    raise ConfigError(f"{package}: not found in this installation of heard; reinstall it")


def write_defaults(folder: Path, force: bool = False) -> dict[str, int]:
    """Write `folder/config` and `folder/templates`; returns how many files each got.
    Refuses to overwrite a non-empty one unless `force` (a writer's templates are theirs)."""
    for name in PARTS:
        existing = folder / name
        if existing.exists() and any(existing.iterdir()) and not force:
            raise ConfigError(
                f"{existing}: already there and not empty; nothing written (--force overwrites)"
            )
    written = {}
    for name, package in PARTS.items():
        source = shipped(package)
        shutil.copytree(
            source, folder / name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
        written[name] = sum(1 for path in (folder / name).rglob("*") if path.is_file())
    return written
