"""Fingerprints of the code a job runs, so that results are redone when that code changes.

A compute job runs a kind's ``jobs`` and ``run`` functions and whatever they call. The
fingerprint covers exactly that part of this package: starting from those functions, it
follows every name they use to its definition, within a module and across the package's
imports (a module's, and those a function makes in its body, which bind names for that
function), and hashes the definitions it reaches (as syntax trees: comments, docstrings and
formatting do not count; code does). A change to a figure or a claim, or to an engine a
kind does not use, leaves the kind's fingerprint as it was. Code outside the package
(torch, NumPy) is not covered.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

PACKAGE = "implicit_bias"
#: Definitions every job runs through, whatever its kind (the job wrapper and its context).
ALWAYS = (f"{PACKAGE}.experiments:run_job", f"{PACKAGE}.experiments:Context")


@dataclass
class _Module:
    """One module's top-level definitions, imports and other statements; ``package`` is
    what its relative imports are relative to."""

    name: str
    package: str
    defs: dict[str, list[ast.AST]] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # alias -> (module, attribute)
    other: list[ast.AST] = field(default_factory=list)


def _in_package(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


@functools.cache
def _spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _is_module(name: str) -> bool:
    # Finding ``a.b`` imports ``a``: ask only where ``a`` is a package, so that a name in a
    # plain module (``rpca.dop_descent``) imports nothing (torch, say) to be told it is not.
    parent = name.rpartition(".")[0]
    if parent and getattr(_spec(parent), "submodule_search_locations", None) is None:
        return False
    return _spec(name) is not None


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _bindings(node: ast.Import | ast.ImportFrom, package: str) -> dict[str, tuple[str, str | None]]:
    """The names an import statement binds: alias to (module, attribute), attribute None for
    a module; relative imports are resolved against ``package``."""
    out: dict[str, tuple[str, str | None]] = {}
    if isinstance(node, ast.Import):
        for alias in node.names:
            # ``import a.b`` binds ``a``; ``import a.b as c`` binds the module ``a.b``.
            name = alias.name if alias.asname else alias.name.split(".")[0]
            out[alias.asname or name] = (name, None)
        return out
    if node.module == "__future__":
        return out
    base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        # Outside the package either form is left out alike; telling them apart would import it.
        is_module = _in_package(base) and _is_module(sub)
        out[alias.asname or alias.name] = (sub, None) if is_module else (base, alias.name)
    return out


def _defined_names(node: ast.AST) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)]


@functools.cache
def _parse(module: str) -> _Module:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(f"cannot find the source of {module}")
    with open(spec.origin) as fh:
        tree = _strip_docstrings(ast.parse(fh.read()))
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    info = _Module(module, package)
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            info.imports.update(_bindings(node, package))
        elif isinstance(
            node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign, ast.AugAssign)
        ):
            for name in _defined_names(node):
                info.defs.setdefault(name, []).append(node)
        else:
            info.other.append(node)
    return info


def _annotations(node: ast.AST) -> set[int]:
    """The nodes inside type annotations (they name types, they run nothing)."""
    roots = []
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.returns is not None:
            roots.append(sub.returns)
        elif isinstance(sub, ast.arg) and sub.annotation is not None:
            roots.append(sub.annotation)
        elif isinstance(sub, ast.AnnAssign):
            roots.append(sub.annotation)
    return {id(n) for root in roots for n in ast.walk(root)}


def _used(node: ast.AST, info: _Module) -> Iterable[tuple[str, str | None]]:
    """The (module, name) pairs a definition refers to; name None means a whole module.

    An import inside the definition (a function that imports its engine when it runs) binds
    its names for the whole definition, ahead of the module's own names.
    """
    local: dict[str, tuple[str, str | None]] = {}
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Import, ast.ImportFrom)):
            local.update(_bindings(sub, info.package))
    imports = {**info.imports, **local}
    skip = _annotations(node)
    for sub in ast.walk(node):
        if id(sub) in skip:
            continue
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            target = imports.get(sub.value.id)
            if target is not None and target[1] is None:
                yield target[0], sub.attr
                continue
        if isinstance(sub, ast.Name):
            if sub.id in local:
                yield local[sub.id]
            elif sub.id in info.defs:
                yield info.name, sub.id
            elif sub.id in imports:
                yield imports[sub.id]


def _reach(roots: Iterable[tuple[str, str | None]]) -> list[str]:
    """Dumps of every package definition reachable from ``roots``, sorted."""
    seen: set[tuple[str, str | None]] = set()
    parts: set[str] = set()
    stack = list(roots)
    while stack:
        module, name = stack.pop()
        if (module, name) in seen or not _in_package(module):
            continue
        seen.add((module, name))
        info = _parse(module)
        if name is not None and name not in info.defs and _is_module(f"{module}.{name}"):
            stack.append((f"{module}.{name}", None))
            continue
        if name is not None and name not in info.defs and name in info.imports:
            stack.append(info.imports[name])
            continue
        nodes = [n for defs in info.defs.values() for n in defs] if name is None else info.defs.get(name, [])
        for node in nodes + info.other:
            dump, used = _facts(module, node)
            parts.add(dump)
            stack.extend(used)
    return sorted(parts)


@functools.cache
def _facts(module: str, node: ast.AST) -> tuple[str, tuple[tuple[str, str | None], ...]]:
    """A definition's part of the hash and what it refers to, worked out once per process
    for all the kinds that reach it (``node`` is one of :func:`_parse`'s, kept by its cache)."""
    return f"{module}\n{ast.dump(node)}", tuple(_used(node, _parse(module)))


def code_fingerprint(roots: Iterable[str]) -> str:
    """A short hash of the package code reachable from ``roots`` (``"module:name"`` strings)."""
    pairs = [(r.partition(":")[0], r.partition(":")[2] or None) for r in roots]
    digest = hashlib.sha256("\n\n".join(_reach(pairs)).encode()).hexdigest()
    return digest[:12]


def function_roots(*functions: Callable) -> list[str]:
    """``"module:name"`` of top-level functions; a function that a top-level function makes
    (a closure, say ``one_job_per.<locals>.jobs``) is named by its maker, whose code it is."""
    out = []
    for fn in functions:
        name = fn.__qualname__.split(".<locals>.")[0]
        if "<" in name or "." in name:
            raise ValueError(f"{fn.__qualname__} is not a top-level function of {fn.__module__}")
        out.append(f"{fn.__module__}:{name}")
    return out


def kind_fingerprint(kind) -> str:
    """The fingerprint of the code a job of ``kind`` runs (its ``jobs`` and ``run``, and the
    job wrapper), see the module docstring."""
    return code_fingerprint([*function_roots(kind.jobs, kind.run), *ALWAYS])
