"""The ganlab package's import graph (module-level imports only) and any import circle in it.

    python scripts/import_graph.py            # edges per module, then "no import circle" or the circles
    python scripts/import_graph.py --counts   # one line per module: how many ganlab modules it imports

Imports inside functions are left out: they run when called, never while a module loads.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def graph() -> dict[str, set[str]]:
    files = sorted((REPO / "ganlab").rglob("*.py")) + [REPO / "app.py"]
    names = {module_name(path) for path in files}
    edges: dict[str, set[str]] = {}
    for path in files:
        here = module_name(path)
        found: set[str] = set()
        for node in ast.parse(path.read_text()).body:  # module level only
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {target for target in targets if target in names and target != here}
        edges[here] = found
    return edges


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, each once (Tarjan's strongly connected components of size > 1)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", action="store_true")
    args = parser.parse_args()
    edges = graph()
    for module in sorted(edges):
        targets = sorted(edges[module])
        print(f"{module}: {len(targets)}" if args.counts else f"{module} -> {', '.join(targets) or '-'}")
    found = circles(edges)
    print("\n" + ("no import circle" if not found else "import circles: " + "; ".join(" <-> ".join(c) for c in found)))
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
