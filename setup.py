"""Installs the top-level source folders as one namespace, ``heard``.

``streams/``, ``channels/`` and ``devstack/`` stay at the top of the repository (the product's
layout) and are installed as ``heard.streams``, ``heard.channels`` and ``heard.devstack``. Every
subpackage is found here, so a new folder with an ``__init__.py`` needs no packaging change.
Everything else about the project lives in pyproject.toml.
"""

from setuptools import find_packages, setup

TOP_LEVEL = ("streams", "channels", "devstack")
# The shipped configuration and templates, as data inside the wheel: `heard init DIR` copies
# them out for an installed heard (a clone has them at the top already).
DEFAULTS = {"heard.defaults.config": "config", "heard.defaults.templates": "templates"}

setup(
    packages=[f"heard.{name}" for name in find_packages(include=[f"{top}*" for top in TOP_LEVEL])]
    + list(DEFAULTS),
    package_dir={**{f"heard.{top}": top for top in TOP_LEVEL}, **DEFAULTS},
)
