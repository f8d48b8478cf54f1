"""The suite's configuration: sizes, sweeps, figures; merged, defaulted and validated.

A configuration has one switch, ``size`` (``smoke``, ``quick``, ``cpu`` or ``paper``; see
:data:`SIZES`). Each sweep's settings are built, lowest precedence first, from:

1. the defaults in the JSON schema for the sweep's ``kind`` (the one home of the papers'
   values and of ours);
2. the sweep's own block under ``sweeps:``;
3. ``sizes.<size>.kinds.<kind>``: applies to every sweep of that kind at that size, and may
   change budgets only (not the keys the schema marks ``x-problem``);
4. ``sizes.<size>.sweeps.<name>``: applies to one sweep at that size.

So the ``paper`` size (no overrides) runs exactly what ``sweeps:`` says, and a sweep a
user adds is shrunk at the reduced sizes (``smoke``, ``quick``, ``cpu``: each where its
``kinds:`` names the sweep's kind) like the built-in ones of its kind, in budget only.

Validation refuses, before any job starts and naming the key, every mistake it can see:
unknown keys (with the nearest valid name), wrong types (an integer must be written as
one), values out of range, non-finite numbers, values above a key's ``x-ceiling`` (unless
``allow_large``), keys that contradict each other (the rules every kind shares here, each
kind's own in its family's :attr:`~implicit_bias.experiments.Kind.checks`), overrides of
sizes, kinds or sweeps that do not exist, duplicate keys in a YAML file, sweep names that
are not path-safe or that collide with a figure, and figures whose plot cannot draw them.

``python -m implicit_bias.config show <sweep> [--size S]`` prints a sweep's settings.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import functools
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .grids import BOOKKEEPING_KEYS, RECORDING_KEYS

if TYPE_CHECKING:
    from .experiments import Kind, Registry

SIZES = ("smoke", "quick", "cpu", "paper")
#: The repository's schema, for code that runs without Snakemake (tests, benchmarks).
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
#: The most points a run may record per curve (a CSV row each).
MAX_RECORDED_POINTS = 100_000


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key and what is allowed."""


# ---------------------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConfigError(
                    f"{key_node.start_mark.name}, line {key_node.start_mark.line + 1}: the key {key!r} is given "
                    f"twice in one mapping (first on line {seen[key] + 1}); YAML would silently keep the last"
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path) -> dict:
    """Read a YAML file, refusing duplicate keys; an empty file is an empty mapping.

    :raises ConfigError: for a missing file, a YAML syntax error or a duplicate key.
    """
    path = Path(path)
    try:
        with open(path) as fh:
            data = yaml.load(fh, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file {path} does not exist") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a configuration file must be a mapping of keys, not a {type(data).__name__}")
    return data


def deep_merge(base: dict, update: dict) -> dict:
    """A copy of ``base`` with ``update`` merged in, recursively for nested mappings."""
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# ---------------------------------------------------------------------------------------
# The schema
# ---------------------------------------------------------------------------------------


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    return load_yaml(path)


def _resolve_ref(schema: dict, ref: str) -> dict:
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node = schema
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def kind_properties(schema: dict, kind: str) -> dict:
    """Every key of a kind, with its merged schema (shared blocks first, the kind's own on top).

    :raises ConfigError: for an unknown kind, naming the known ones.
    """
    kinds = schema["$defs"]["kinds"]
    if kind not in kinds:
        raise ConfigError(f"unknown sweep kind {kind!r}{suggest(kind, kinds)}; known kinds: {', '.join(sorted(kinds))}")
    node = kinds[kind]
    props: dict = {}
    for part in node.get("allOf", []):
        block = _resolve_ref(schema, part["$ref"]) if "$ref" in part else part
        for key, sub in block.get("properties", {}).items():
            props[key] = {**props.get(key, {}), **sub}
    for key, sub in node.get("properties", {}).items():
        props[key] = {**props.get(key, {}), **sub}
    return props


def kind_defaults(kind: str, schema: dict | None = None) -> dict:
    """The default settings of a kind: the papers' values, and ours where they are silent."""
    props = kind_properties(schema or load_schema(), kind)
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


def _kind_validator(schema: dict, kind: str):
    # The kind's schema as a document of its own, with the shared blocks reachable.
    sub = {**schema["$defs"]["kinds"][kind], "$defs": schema["$defs"]}
    return _validator(sub)


def _is_integer(checker, instance) -> bool:
    # JSON Schema counts 400.0 as an integer; a step count written so is a mistake here.
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.cache
def _validator_class():
    # Imported here: code that only reads defaults (kind_defaults) runs without jsonschema.
    import jsonschema

    base = jsonschema.Draft202012Validator
    return jsonschema.validators.extend(base, type_checker=base.TYPE_CHECKER.redefine("integer", _is_integer))


def _validator(schema: dict):
    return _validator_class()(schema)


# ---------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------


def suggest(word: str, choices) -> str:
    """`` (did you mean 'x'?)`` for the choice nearest ``word``, or "" when none is near."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe_allowed(sub: dict) -> str:
    parts = []
    if "enum" in sub:
        parts.append("one of " + ", ".join(map(str, sub["enum"])))
    lo = sub.get("minimum", sub.get("exclusiveMinimum"))
    hi = sub.get("maximum", sub.get("exclusiveMaximum"))
    if lo is not None or hi is not None:
        left = "(" if "exclusiveMinimum" in sub else "["
        right = ")" if "exclusiveMaximum" in sub else "]"
        parts.append(f"range {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}")
    if "type" in sub:
        kind = sub["type"] if isinstance(sub["type"], str) else " or ".join(sub["type"])
        parts.append(f"type {kind}")
    return "; ".join(parts)


def _schema_errors(instance, validator, prefix: str, known=None) -> list[str]:
    """Every JSON-schema error of ``instance``, each naming its key (``prefix.path``)."""
    messages = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.path]):
        key = ".".join([prefix] + [str(p) for p in err.path])
        if err.validator in ("additionalProperties", "unevaluatedProperties"):
            names = known if known is not None else sorted(err.schema.get("properties", {}))
            extra = [k for k in (err.instance or {}) if k not in names]
            for k in extra:
                messages.append(f"{key}: unknown key {k!r}{suggest(k, names)}; known keys: {', '.join(sorted(names))}")
            continue
        if "propertyNames" in err.schema_path:
            rule = "letters, digits and underscores" if err.validator == "pattern" else err.message
            messages.append(f"{key}: the name {err.instance!r} is not allowed (allowed: {rule})")
            continue
        if err.validator == "type" and err.schema.get("type") == "integer" and isinstance(err.instance, float):
            messages.append(f"{key}: {err.instance!r} is not an integer; write it without a decimal point")
            continue
        text = f"{key}: {err.message}"
        allowed = _describe_allowed(err.schema)
        if allowed:
            text += f" (allowed: {allowed})"
        if err.schema.get("description"):
            text += f". {key.split('.')[-1]} is: {err.schema['description']}"
        messages.append(text)
    return messages


def _non_finite(value, prefix: str) -> Iterator[str]:
    if isinstance(value, float) and not math.isfinite(value):
        yield f"{prefix}: {value!r} is not a finite number"
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _non_finite(v, f"{prefix}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _non_finite(v, f"{prefix}.{i}")


def _ceiling_errors(settings: dict, props: dict, prefix: str) -> list[str]:
    """Values above their key's ``x-ceiling`` (searched in the key's items and objects too)."""

    def walk(value, sub, key):
        if sub.get("x-ceiling") is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            if value > sub["x-ceiling"]:
                yield (
                    f"{key}: {value:g} is above {sub['x-ceiling']:g}, the most a 24 GiB machine is known to take "
                    "(set allow_large: true to run it anyway)"
                )
        if isinstance(value, list) and isinstance(sub.get("items"), dict):
            for i, v in enumerate(value):
                yield from walk(v, sub["items"], f"{key}.{i}")
        if isinstance(value, dict):
            for k, v in value.items():
                yield from walk(v, sub.get("properties", {}).get(k, {}), f"{key}.{k}")

    out = []
    for key, value in settings.items():
        out.extend(walk(value, props.get(key, {}), f"{prefix}.{key}"))
    return out


def _generic_checks(s: dict) -> list[tuple[str, str]]:
    """Constraints between keys that JSON schema cannot state and that mean the same in every
    kind: a ``<x>_min`` is at most its ``<x>_max``; a run records at most
    :data:`MAX_RECORDED_POINTS` points per curve."""
    out = []
    for low in s:
        high = low.removesuffix("_min") + "_max"
        if low.endswith("_min") and high in s and s[low] is not None and s[high] is not None and s[low] > s[high]:
            out.append((low, f"{s[low]} is above {high} = {s[high]}"))
    steps, every = s.get("steps"), s.get("record_every")
    if isinstance(steps, int) and isinstance(every, int) and steps // every > MAX_RECORDED_POINTS:
        out.append(
            (
                "record_every",
                f"{every} records {steps // every} points per curve over {steps} steps; "
                f"at most {MAX_RECORDED_POINTS} (raise record_every)",
            )
        )
    return out


def _cross_checks(name: str, s: dict, kind: Kind) -> list[str]:
    """Constraints between keys that JSON schema cannot state: the generic ones, then the
    kind's own (:attr:`~implicit_bias.experiments.Kind.checks`)."""
    found = _generic_checks(s) + (kind.checks(s) if kind.checks is not None else [])
    return [f"sweeps.{name}.{key}: {text}" for key, text in found]


# ---------------------------------------------------------------------------------------
# Resolution and validation
# ---------------------------------------------------------------------------------------


def _size_overlays(config: dict, size: str) -> tuple[dict, dict]:
    block = (config.get("sizes") or {}).get(size) or {}
    return block.get("kinds") or {}, block.get("sweeps") or {}


def resolve_sweep(config: dict, name: str, schema: dict, size: str | None = None) -> dict:
    """The settings of one sweep at ``size`` (the configuration's own by default; see the
    module docstring)."""
    block = config["sweeps"][name]
    kind = block["kind"]
    kinds, sweeps = _size_overlays(config, size or config.get("size", "quick"))
    settings = deep_merge(kind_defaults(kind, schema), block)
    settings = deep_merge(settings, kinds.get(kind) or {})
    return deep_merge(settings, sweeps.get(name) or {})


def _overlay_errors(config: dict, schema: dict) -> list[str]:
    """Size overlays that name what does not exist, or change what a size may not."""
    msgs = []
    known_kinds = schema["$defs"]["kinds"]
    sweeps = config.get("sweeps") or {}
    for size in config.get("sizes") or {}:
        kinds, per_sweep = _size_overlays(config, size)
        for kind, overlay in kinds.items():
            prefix = f"sizes.{size}.kinds.{kind}"
            if kind not in known_kinds:
                msgs.append(
                    f"{prefix}: unknown kind {kind!r}{suggest(kind, known_kinds)}; "
                    f"known kinds: {', '.join(sorted(known_kinds))}"
                )
                continue
            props = kind_properties(schema, kind)
            for key in overlay:
                if key not in props:
                    msgs.append(
                        f"{prefix}: unknown key {key!r}{suggest(key, props)}; known keys: {', '.join(sorted(props))}"
                    )
                elif props[key].get("x-problem") or key == "kind":
                    msgs.append(
                        f"{prefix}.{key}: a size may change a kind's budgets (steps, trials, grids, sizes), "
                        f"not its problem or method; set {key} per sweep, under sizes.{size}.sweeps.<name>"
                    )
        for sweep, overlay in per_sweep.items():
            prefix = f"sizes.{size}.sweeps.{sweep}"
            if sweep not in sweeps:
                msgs.append(f"{prefix}: there is no sweep {sweep!r}{suggest(sweep, sweeps)} in sweeps:")
            elif "kind" in overlay:
                msgs.append(f"{prefix}.kind: a size may not change a sweep's kind")
    return msgs


def _sweep_errors(config: dict, name: str, schema: dict, kind: Kind) -> list[str]:
    """Errors of one sweep: its own block, then its settings at every size.

    :param kind: the sweep's :class:`~implicit_bias.experiments.Kind`, whose checks apply.
    """
    block = config["sweeps"][name]
    props = kind_properties(schema, block["kind"])
    validator = _kind_validator(schema, block["kind"])
    prefix = f"sweeps.{name}"
    own = deep_merge(kind_defaults(block["kind"], schema), block)
    msgs = _schema_errors(own, validator, prefix, known=props) or _cross_checks(name, own, kind)
    if msgs:
        return msgs + ([] if config["allow_large"] else _ceiling_errors(own, props, prefix))
    for size in SIZES:
        settings = resolve_sweep(config, name, schema, size)
        where = "" if size == config["size"] else f"at size {size}: "
        errs = _schema_errors(settings, validator, prefix, known=props)
        errs = errs or _cross_checks(name, settings, kind)
        if not config["allow_large"]:
            errs += _ceiling_errors(settings, props, prefix)
        msgs += [where + e for e in errs if where + e not in msgs]
    return msgs


def _figure_errors(config: dict, registry: Registry) -> list[str]:
    """Figures of sweeps that do not exist, sweeps named like a figure, and (the families
    know) plots that do not exist or cannot draw their sweeps."""
    from .experiments import figure_errors

    msgs = []
    sweeps = config.get("sweeps") or {}
    for fig, spec in (config.get("figures") or {}).items():
        if fig in sweeps:
            msgs.append(
                f"sweeps.{fig}: a sweep may not share its name with the figure figures.{fig} "
                "(the sweep's own figures are named after it)"
            )
        for sweep in spec["sweeps"]:
            if sweep not in sweeps:
                msgs.append(f"figures.{fig}.sweeps: no sweep named {sweep!r}{suggest(sweep, sweeps)} in sweeps:")
    return msgs + figure_errors(config, registry)


def _resolved_sweeps(config: dict, schema: dict, registry: Registry) -> tuple[dict, list[str]]:
    """Every sweep's settings at the configuration's size, and every error of the sweeps."""
    kinds = schema["$defs"]["kinds"]
    resolved, msgs = {}, []
    for name, block in config["sweeps"].items():
        kind = block.get("kind")
        if kind not in kinds:
            msgs.append(
                f"sweeps.{name}.kind: unknown sweep kind {kind!r}{suggest(kind, kinds)}"
                f"; known kinds: {', '.join(sorted(kinds))}"
            )
            continue
        if kind not in registry.kind_module:
            msgs.append(f"sweeps.{name}.kind: no module of implicit_bias.experiments declares the kind {kind!r}")
            continue
        msgs += _sweep_errors(config, name, schema, registry.kind(kind))
        resolved[name] = resolve_sweep(config, name, schema)
    return resolved, msgs


def validate_config(
    config: dict, schema: dict, registry: Registry | None = None, root: str | Path | None = None
) -> dict:
    """Validate and resolve a configuration.

    :param config: the merged configuration (``config.yaml`` plus overlays and ``--config``).
    :param schema: the parsed JSON schema (``workflow/schemas/config.schema.yaml``).
    :param registry: the experiment families (:func:`implicit_bias.experiments.registry`, the
        default): their kinds' checks apply to the sweeps, and every figure's plot must exist
        and draw its sweeps' kinds.
    :param root: the repository root: the folders a kind's jobs read
        (:attr:`~implicit_bias.experiments.Kind.folders`), named by top-level keys relative
        to it, are given to each sweep of the kind as absolute paths. Default: the root of
        this package's checkout.
    :returns: ``config`` with top-level defaults filled in and ``resolved`` added: sweep
        name to its settings at the chosen size, for the sweeps to run (``only``, or all).
    :raises ConfigError: listing every problem, each naming its key and what is allowed.
    """
    if registry is None:
        # Here, not at the top: the families import this module.
        from .experiments import registry as families

        registry = families()
    msgs = list(_non_finite(config, "config"))
    top = {k: copy.deepcopy(v["default"]) for k, v in schema["properties"].items() if "default" in v}
    config = deep_merge(top, config)
    msgs += _schema_errors(config, _validator(schema), "config")
    if msgs:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(msgs))
    msgs += _overlay_errors(config, schema)
    resolved, errors = _resolved_sweeps(config, schema, registry)
    msgs += errors + _figure_errors(config, registry)
    for name in config["only"] or []:
        if name not in config["sweeps"]:
            msgs.append(f"config.only: no sweep named {name!r}{suggest(name, config['sweeps'])} in sweeps:")
    if msgs:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(msgs))
    if config["only"]:
        resolved = {name: settings for name, settings in resolved.items() if name in config["only"]}
    base = Path(root or SCHEMA_PATH.parents[2])
    for settings in resolved.values():
        for key in registry.kind(settings["kind"]).folders:
            settings[key] = str(base / config[key])
    config["resolved"] = resolved
    return config


def _short(value) -> str:
    if isinstance(value, list) and len(value) > 6 and all(isinstance(v, (int, float)) for v in value):
        return f"{len(value)} values {min(value):g}..{max(value):g}"
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def size_stamp(config: dict, sweeps, schema: dict | None = None) -> str:
    """A line for a figure of ``sweeps`` made at a size that is not the papers': the settings
    that differ from the paper size's, ours against theirs (those that change no number, or
    only how often curves are recorded, aside). Empty at the paper size."""
    schema = schema or load_schema()
    size = config["size"]
    if size == "paper":
        return ""
    diffs = {}
    for name in sweeps:
        ours, paper = config["resolved"][name], resolve_sweep(config, name, schema, "paper")
        for key, value in ours.items():
            if key not in BOOKKEEPING_KEYS + RECORDING_KEYS and value != paper.get(key):
                diffs.setdefault(key, f"{key} {_short(value)} (paper {_short(paper.get(key))})")
    if not diffs:
        return f"{size} size, at the papers' settings"
    return f"{size} size, not the papers' settings: " + "; ".join(diffs.values())


def main(argv: list[str] | None = None) -> None:
    """``python -m implicit_bias.config show SWEEP [--size S] [--configfile F ...]``."""
    parser = argparse.ArgumentParser(prog="python -m implicit_bias.config", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print a sweep's settings at a size, every key resolved")
    show.add_argument("sweep")
    show.add_argument("--size", choices=SIZES, default=None)
    show.add_argument("--configfile", nargs="*", default=[], help="overlays, as snakemake's --configfile")
    args = parser.parse_args(argv)
    repo = SCHEMA_PATH.parents[2]
    config = load_yaml(repo / "config.yaml")
    for overlay in args.configfile:
        config = deep_merge(config, load_yaml(overlay))
    if args.size:
        config["size"] = args.size
    try:
        resolved = validate_config(config, load_schema())["resolved"]
    except ConfigError as exc:
        sys.exit(str(exc))
    if args.sweep not in resolved:
        sys.exit(f"no sweep {args.sweep!r}{suggest(args.sweep, resolved)}; sweeps: {', '.join(resolved)}")
    print(yaml.safe_dump({args.sweep: resolved[args.sweep]}, sort_keys=False), end="")


if __name__ == "__main__":
    main()
