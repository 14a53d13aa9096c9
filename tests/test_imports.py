"""The package is built in floors: no module imports, directly or through others, a module that
imports it back. Imports inside functions count too, since a lazy import that closes a circle
works only as long as nobody moves the first import to the top of its file."""

import ast
from pathlib import Path

import mnistbench

PACKAGE = Path(mnistbench.__file__).parent


def module_names():
    """``{dotted module name: source path}`` for every module of the package."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def imported_modules(name, path, modules):
    """The package's modules that the module ``name`` imports, anywhere in its source.

    ``from package import name`` counts as importing the submodule ``package.name`` when there
    is one, else the package itself.
    """
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph():
    modules = module_names()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def cycles(graph):
    """The strongly connected components of ``graph`` with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def one_circle(graph, component):
    """A shortest import path around ``component``, first module repeated at the end."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for target in sorted(graph[node] & members):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                queue.append(target)
    raise AssertionError(f"{component} is not a cycle")  # cannot happen for a component


def test_the_walk_sees_imports_inside_functions_and_relative_ones(tmp_path):
    modules = {"p": tmp_path / "__init__.py", "p.a": tmp_path / "a.py", "p.b": tmp_path / "b.py"}
    modules["p.a"].write_text("def f():\n    from p import b\n")
    modules["p.b"].write_text("from .a import f\n")
    modules["p"].write_text("")
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    assert graph == {"p": set(), "p.a": {"p.b"}, "p.b": {"p.a"}}
    assert cycles(graph) == [["p.a", "p.b"]]
    assert one_circle(graph, ["p.a", "p.b"]) == ["p.a", "p.b", "p.a"]


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 40 and graph["mnistbench.classifiers.neural"]  # the walk found the package
    circles = [" -> ".join(one_circle(graph, component)) for component in cycles(graph)]
    assert not circles, "import cycles: " + "; ".join(circles)
