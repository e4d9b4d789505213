"""`sohoa` as a desk PC with only ``pip install "sohoa[station]"`` runs it: every module of a
distribution that only the ``server`` extra brings (FastAPI, SQLAlchemy, Tesseract's binding,
pyHanko…), and the server's own packages, cannot be imported. The sets come from the installed
packages' metadata, so a server library the station starts to need shows here.

Run as ``python tests/station_only.py station watch …``."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SERVER_PACKAGES = {"api", "service", "storage", "signing"}  # the project's own server side


def _closure(requirements: list[str]) -> set[str]:
    """Distributions these requirements install, with theirs, by the installed metadata."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue  # not for this platform or Python
        for raw in needs:
            sub = Requirement(raw)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in ("", *req.extras)):
                todo.append(sub)
    return seen


def _extra(name: str | None) -> list[str]:
    """The project's requirements: the base ones (``None``) or an extra's."""
    found = []
    for raw in metadata.requires("sohoa") or []:
        req = Requirement(raw)
        marker = req.marker
        if (name is None and marker is None) or (
            name is not None and marker is not None and marker.evaluate({"extra": name})
        ):
            found.append(str(req).split(";")[0])
    return [r for r in found if not r.startswith("sohoa")]


def station_distributions() -> set[str]:
    return _closure(_extra(None) + _extra("station"))


def server_only_distributions() -> set[str]:
    return _closure(_extra("server")) - station_distributions()


def server_only_modules() -> set[str]:
    server = server_only_distributions()
    modules = {
        module
        for module, dists in metadata.packages_distributions().items()
        if any(canonicalize_name(d) in server for d in dists)
    }
    return modules | SERVER_PACKAGES


class _Refuse(importlib.abc.MetaPathFinder):
    def __init__(self, refused: set[str]) -> None:
        self.refused = refused

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] in self.refused:
            raise ModuleNotFoundError(f"{fullname}: not installed on a scanner station (sohoa[station])")
        return None


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.meta_path.insert(0, _Refuse(server_only_modules()))
    from cli import main

    sys.argv[0] = "sohoa"
    main()
