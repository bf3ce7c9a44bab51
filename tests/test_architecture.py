"""The layout rules of the project, checked on the source.

- No import circles between the package's modules, counting imports made inside
  functions (the usual way a circle is hidden).
- Every public module declares ``__all__``.
- The registry is the only description of a WeChat Pay call: no ``/v3/`` path is written
  in the package outside ``core/endpoints/`` (and the simulator, which plays WeChat Pay).
- The simulator never imports the client's code (a shared bug would cancel out).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "django_wechatpay"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """Ids of the nodes under ``if TYPE_CHECKING:``: imports for annotations only."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            hidden.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return hidden


def _imports(module: str) -> set[str]:
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    hidden = _type_checking_blocks(tree)
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                targets.add(sub if sub in MODULES else source)
    return {t for t in targets if t in MODULES and t != module}


def _graph() -> dict[str, set[str]]:
    return {m: _imports(m) for m in MODULES if ".migrations" not in m}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    graph = _graph()
    # A package's __init__ re-exporting its submodules is not a circle with them.
    for name, targets in graph.items():
        if _is_package(name):
            graph[name] = {t for t in targets if not t.startswith(name + ".")}
    assert _cycles(graph) == []


def test_the_graph_sees_imports_inside_functions():
    """The check above would be blind if it only read module-level imports."""
    assert "django_wechatpay.tasks" in MODULES
    assert "django_wechatpay.notify" in _imports("django_wechatpay.tasks")


def test_every_public_module_declares_all():
    missing = []
    for name, path in MODULES.items():
        leaf = name.rsplit(".", 1)[-1]
        if leaf.startswith("_") or ".migrations" in name or ".management.commands" in name:
            continue
        tree = ast.parse(path.read_text("utf-8"))
        declares = any(
            isinstance(node, ast.Assign)
            and any(getattr(t, "id", "") == "__all__" for t in node.targets)
            for node in tree.body
        )
        has_content = any(not isinstance(node, ast.Expr) for node in tree.body)
        if has_content and not declares:
            missing.append(name)
    assert missing == []


def test_no_wechatpay_path_outside_the_registry():
    allowed = (PACKAGE / "core" / "endpoints", PACKAGE / "sandbox")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in PACKAGE.rglob("*.py")
        if not path.is_relative_to(allowed[0]) and not path.is_relative_to(allowed[1])
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if "/v3/" in line
    ]
    assert offenders == []


def test_the_simulator_shares_no_code_with_the_client():
    offenders = sorted(
        f"{name} -> {target}"
        for name in MODULES
        if name.startswith("django_wechatpay.sandbox")
        for target in _imports(name)
        if not target.startswith("django_wechatpay.sandbox")
    )
    # The management command wrapper lives outside the simulator package.
    assert offenders == []
