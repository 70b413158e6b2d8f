"""The packages depend on each other in one direction (docs/design.md, "Layers").

The import graph is read from the modules' own ``import`` statements (every one, including those
deferred inside functions), so a new upward edge fails here before it becomes a cycle. A module that
imports by name (``importlib.import_module``, ``__import__``) is read too: every string constant in
it that names a thermalink module (absolute, or relative like ``".exact_solver"``) counts as an
import, which covers lazy tables such as ``thermalink.simulators._API``.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"simulators": "simulators", "analysis": "analysis", "drivers": "drivers",
           "experiments": "experiments", "station_configs": "station_configs"}
#: Modules of the neutral bottom (inside thermalink.simulators): conventions every layer shares.
NEUTRAL = {"link_parameters", "lab_units", "conventions", "blas_threads", "errors"}
#: Layer of each group, lowest first; a module may import its own group or a lower layer only.
RANK = {"neutral": 0, "station_configs": 0, "core": 1, "analysis": 2, "drivers": 2, "virtual_lab": 3,
        "experiments": 4}


def module_names() -> dict[str, Path]:
    modules = {}
    for package, folder in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(("thermalink", package, *parts))] = path
    return modules


def group_of(module: str) -> str:
    parts = module.split(".")
    if parts[1] != "simulators":
        return parts[1]
    if len(parts) > 2 and parts[2] == "virtual_lab":
        return "virtual_lab"
    return "neutral" if len(parts) > 2 and parts[2] in NEUTRAL else "core"


def _imports_by_name(tree: ast.AST) -> bool:
    """Whether the module calls ``import_module``/``__import__`` (any spelling of the call)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                return True
    return False


def _string_imports(tree: ast.AST, package: str) -> set[str]:
    """Module paths named by string constants (absolute ``thermalink.x``, relative ``.x``/``..x``)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text.startswith("thermalink."):
                found.add(text)
            elif text.startswith(".") and text.strip(".").replace(".", "").replace("_", "").isalnum():
                level = len(text) - len(text.lstrip("."))
                base = package.split(".")
                found.add(".".join(base[: len(base) - (level - 1)] + [text.lstrip(".")]))
    return found


def imported_modules(module: str, path: Path) -> set[str]:
    """Every thermalink module ``module`` imports (absolute and relative, at any depth, and by name)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rsplit(".", 1)[0]
    found = set()
    tree = ast.parse(path.read_text())
    if _imports_by_name(tree):
        found.update(_string_imports(tree, package))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    modules = module_names()
    return {name for name in found if name in modules and name != module}


def import_edges() -> list[tuple[str, str]]:
    return [(source, target) for source, path in module_names().items()
            for target in imported_modules(source, path)]


def test_the_layers_are_the_documented_ones():
    groups = {group_of(name) for name in module_names()}
    assert groups == set(RANK)


def test_no_module_imports_a_higher_or_sideways_layer():
    upward = [(s, t) for s, t in import_edges()
              if group_of(s) != group_of(t) and RANK[group_of(t)] >= RANK[group_of(s)]]
    assert upward == []


def test_the_physics_core_is_unit_free():
    core_uses_lab_units = [(s, t) for s, t in import_edges()
                           if group_of(s) == "core" and t == "thermalink.simulators.lab_units"]
    assert core_uses_lab_units == []


def test_there_are_no_import_cycles_between_packages():
    graph: dict[str, set[str]] = {}
    for source, target in import_edges():
        if group_of(source) != group_of(target):
            graph.setdefault(group_of(source), set()).add(group_of(target))

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
                   for nxt in graph.get(start, ()))

    assert [group for group in graph if reaches(group, group, {group})] == []


def test_the_graph_sees_deferred_and_relative_imports():
    edges = set(import_edges())
    assert ("thermalink.simulators.maps", "thermalink.simulators.figures_of_merit") in edges  # in a function
    assert ("thermalink.simulators.twin", "thermalink.simulators.exact_solver") in edges  # relative
    assert ("thermalink.simulators", "thermalink.simulators.maps") in edges  # by name, the lazy _API table


def test_imports_by_name_are_edges(tmp_path):
    module = tmp_path / "lazy.py"
    module.write_text("import importlib\n"
                      "def load():\n    return importlib.import_module('thermalink.experiments.cli')\n"
                      "TABLE = {'x': '.relaxation', 'label': 'not a module'}\n")
    found = imported_modules("thermalink.simulators.lazy", module)
    assert found == {"thermalink.experiments.cli", "thermalink.simulators.relaxation"}


#: The ZI driver's vendor libraries (zhinst-utils, zhinst-toolkit) import scipy themselves.
VENDOR_SCIPY = {"thermalink.drivers.zi_readout"}


@pytest.mark.parametrize("driver", sorted(m for m in module_names() if group_of(m) == "drivers"))
def test_importing_a_driver_imports_neither_scipy_nor_analysis(driver):
    heavy = ["thermalink.analysis", "thermalink.simulators.virtual_lab", "thermalink.experiments", "matplotlib"]
    if driver not in VENDOR_SCIPY:
        heavy.append("scipy")
    code = f"import sys, {driver}; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_no_library_module_switches_the_matplotlib_backend():
    offenders = [name for name, path in module_names().items() if "matplotlib.use(" in path.read_text()]
    assert offenders == []


def test_no_module_is_shadowed_by_a_name_its_package_exports():
    import importlib

    shadowed = []
    for name, path in module_names().items():
        if path.name != "__init__.py":
            continue
        package = importlib.import_module(name)
        for submodule in (p.stem for p in path.parent.glob("*.py") if p.stem != "__init__"):
            exported = name + "." + submodule
            if submodule in getattr(package, "__all__", ()) or (
                    hasattr(package, submodule) and not hasattr(getattr(package, submodule), "__path__")
                    and getattr(getattr(package, submodule), "__name__", exported) != exported):
                shadowed.append(exported)
    assert shadowed == []
