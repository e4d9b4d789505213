"""The layout holds: no import cycle between the project's modules, no function over 80 lines,
routes that neither query the catalog nor enqueue, and settings read in one place."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGES = ("digitize", "service", "signing", "station", "storage", "web")
TOP = ("api", "cli", "checksums", "errors")


def _sources() -> dict[str, Path]:
    found = {name: ROOT / f"{name}.py" for name in TOP}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The project modules ``path`` imports, at the top or inside a function (both make a cycle)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in modules}
    return found


def test_no_import_cycle() -> None:
    sources = _sources()
    graph = {name: _imports(path, set(sources)) - {name} for name, path in sources.items()}
    # A package's __init__ that names its own modules for lazy loading is not a dependency.
    for package in PACKAGES:
        graph[package] = {m for m in graph[package] if not m.startswith(f"{package}.")}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " → ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_function_over_80_lines() -> None:
    long = []
    for path in [*_sources().values(), *(ROOT / "bench").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            lines = (
                (node.end_lineno or 0) - node.lineno + 1
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                else 0
            )
            if lines > 80:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not long, long


def test_routes_call_the_service_and_settings_are_read_in_one_place() -> None:
    """api.py reaches the catalog and the queue only through service functions; the way from
    settings to digitize options is service/options.py, nowhere else."""
    routes = [ROOT / "api.py", *(ROOT / "web").glob("*.py")]  # the web pages' routes too
    for path in routes:
        text = path.read_text(encoding="utf-8")
        for forbidden in ("select(", "sessions(", "enqueue(", "from storage.catalog", "session.", "sqlalchemy"):
            assert forbidden not in text, (path.name, forbidden)
    for name, path in _sources().items():
        text = path.read_text(encoding="utf-8")
        if name not in ("service.options", "service.settings"):
            assert "settings.ocr_languages" not in text and "jpeg_quality_for(" not in text, name
            assert "effective_level" not in text and "signing_level" not in text, name


def test_an_api_process_does_not_load_pyhanko() -> None:
    """pyHanko (about 40 MB) loads at a process's first signature or verification, not with the
    app: a server process that only accepts uploads never carries it."""
    import subprocess
    import sys

    probe = (
        "import sys, api; print(sorted({m.split('.')[0] for m in sys.modules} & {'pyhanko', 'pyhanko_certvalidator'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout
