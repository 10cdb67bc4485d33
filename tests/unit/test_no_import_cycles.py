"""No import cycles between the modules of rop_desktop and training.

A cycle means neither module can be read, tested or moved without the other; lazy imports inside
functions and ``if TYPE_CHECKING:`` imports count too (they only hide a loop). The layers
contract of import-linter (pyproject.toml) forbids upward imports between *layers*; this test
forbids loops between any two *modules*, inside a layer as well. grimp is the graph library
import-linter is built on (installed with it). See docs/architecture.md.
"""

from __future__ import annotations

import itertools

import grimp
import pytest


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & graph.modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def _describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    """One loop through the component, with the line of each import, for the failure message."""
    start = component[0]
    inside = set(component)
    first = next(m for m in sorted(graph.find_modules_directly_imported_by(start)) if m in inside)
    chain = graph.find_shortest_chain(importer=first, imported=start) or (first, start)
    loop = (start, *chain)
    steps = []
    for importer, imported in itertools.pairwise(loop):
        details = graph.get_import_details(importer=importer, imported=imported)
        where = f"line {details[0]['line_number']}: {details[0]['line_contents']}" if details else "?"
        steps.append(f"    {importer} -> {imported}  ({where})")
    return f"  cycle of {len(component)} modules: {', '.join(component)}\n" + "\n".join(steps)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("rop_desktop", "training")


def test_the_graph_is_the_real_one(graph: grimp.ImportGraph) -> None:
    """Guards the test itself: the graph holds the packages and a known import edge."""
    assert "rop_desktop.ui.canvas.view" in graph.modules
    assert graph.direct_import_exists(importer="rop_desktop.ui.canvas.view", imported="rop_desktop.ui.canvas.tools")
    assert _cycles(_toy_graph()) == [["a", "b", "c"]]


def _toy_graph() -> grimp.ImportGraph:
    toy = grimp.ImportGraph()
    for module in ("a", "b", "c", "d"):
        toy.add_module(module)
    toy.add_import(importer="a", imported="b")
    toy.add_import(importer="b", imported="c")
    toy.add_import(importer="c", imported="a")
    toy.add_import(importer="c", imported="d")
    return toy


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    cycles = _cycles(graph)
    assert not cycles, (
        f"{len(cycles)} import cycle(s); break each by moving the shared name down a layer or by "
        "typing against a Protocol (e.g. rop_desktop/ui/canvas/host.py):\n"
        + "\n".join(_describe(graph, c) for c in cycles))
