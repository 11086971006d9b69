"""The installed heard version (`heard --version`, the `heard_build_info` metric)."""

from __future__ import annotations

import importlib.metadata


def installed_version() -> str:
    try:
        return importlib.metadata.version("heard")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"
