"""The suite's configuration: sizes, sweeps, figures; merged, defaulted and validated.

A configuration has one switch, ``size`` (``smoke``, ``quick`` or ``paper``). Each sweep's
settings are built, lowest precedence first, from:

1. the defaults in the JSON schema for the sweep's ``kind``;
2. the sweep's own block under ``sweeps:``;
3. ``sizes.<size>.kinds.<kind>``: applies to every sweep of that kind at that size;
4. ``sizes.<size>.sweeps.<name>``: applies to one sweep at that size.

So the ``paper`` size (no overrides) runs exactly what ``sweeps:`` says, and a sweep a
user adds is shrunk at ``smoke``/``quick`` like the built-in ones of its kind.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import jsonschema
import yaml

SIZES = ("smoke", "quick", "paper")


class ConfigError(ValueError):
    """A configuration that cannot run; the message names the key and what is allowed."""


def load_yaml(path: str | Path) -> dict:
    with open(path) as fh:
        data = yaml.safe_load(fh)
    return data or {}


def deep_merge(base: dict, update: dict) -> dict:
    """A copy of ``base`` with ``update`` merged in, recursively for nested mappings."""
    out = copy.deepcopy(base)
    for key, value in (update or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _describe_allowed(schema: dict) -> str:
    parts = []
    if "enum" in schema:
        parts.append("one of " + ", ".join(map(str, schema["enum"])))
    lo = schema.get("minimum", schema.get("exclusiveMinimum"))
    hi = schema.get("maximum", schema.get("exclusiveMaximum"))
    if lo is not None or hi is not None:
        left = "(" if "exclusiveMinimum" in schema else "["
        right = ")" if "exclusiveMaximum" in schema else "]"
        parts.append(f"range {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}")
    if "type" in schema:
        parts.append(f"type {schema['type']}")
    return "; ".join(parts)


def _subschema(schema: dict, path) -> dict:
    node = schema
    for part in path:
        if not isinstance(node, dict):
            return {}
        if "properties" in node and part in node["properties"]:
            node = node["properties"][part]
        elif isinstance(part, int) and "items" in node:
            node = node["items"]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]
        else:
            return {}
    return node


def _errors(instance: dict, schema: dict, root: dict, prefix: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    messages = []
    for err in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.path))):
        key = ".".join([prefix] + [str(p) for p in err.path]) if err.path else prefix
        if err.validator == "additionalProperties":
            known = sorted(err.schema.get("properties", {}))
            messages.append(f"{key}: {err.message}; known keys: {', '.join(known)}")
            continue
        allowed = _describe_allowed(_subschema(schema, list(err.path)))
        desc = _subschema(schema, list(err.path)).get("description", "")
        text = f"{key}: {err.message}"
        if allowed:
            text += f" (allowed: {allowed})"
        if desc:
            text += f". {key.split('.')[-1]} is: {desc}"
        messages.append(text)
    return messages


def kind_schema(schema: dict, kind: str) -> dict:
    """The schema of one sweep kind, self-contained."""
    kinds = schema["$defs"]["kinds"]
    if kind not in kinds:
        raise ConfigError(f"unknown sweep kind {kind!r}; known kinds: {', '.join(sorted(kinds))}")
    return kinds[kind]


def _defaults(schema: dict) -> dict:
    return {k: copy.deepcopy(v["default"]) for k, v in schema.get("properties", {}).items() if "default" in v}


def resolve_sweep(config: dict, name: str, schema: dict) -> dict:
    """The settings of one sweep at the configuration's size (see module docstring)."""
    block = config["sweeps"][name]
    kind = block.get("kind")
    if kind is None:
        raise ConfigError(f"sweeps.{name}: every sweep needs a 'kind'")
    kschema = kind_schema(schema, kind)
    size = config.get("size", "quick")
    sizes = config.get("sizes", {}).get(size, {}) or {}
    settings = _defaults(kschema)
    settings = deep_merge(settings, block)
    settings = deep_merge(settings, (sizes.get("kinds", {}) or {}).get(kind, {}) or {})
    settings = deep_merge(settings, (sizes.get("sweeps", {}) or {}).get(name, {}) or {})
    return settings


def _cross_checks(name: str, s: dict) -> list[str]:
    """Constraints between keys that JSON schema cannot state."""
    msgs = []
    n = s.get("n")
    for key in ("rank", "ranks"):
        values = s.get(key)
        if n is None or values is None:
            continue
        for r in values if isinstance(values, list) else [values]:
            if r > n:
                msgs.append(f"sweeps.{name}.{key}: rank {r} is above n = {n} (allowed: 1 <= rank <= n)")
    for key in ("init_rank", "init_ranks", "min_rank"):
        values = s.get(key)
        if n is None or values is None:
            continue
        for r in values if isinstance(values, list) else [values]:
            if r > n:
                msgs.append(f"sweeps.{name}.{key}: rank {r} is above n = {n} "
                            "(allowed: 1 <= rank <= n)")
    if "min_rank" in s and "rank" in s and s["min_rank"] < s["rank"]:
        msgs.append(f"sweeps.{name}.min_rank: {s['min_rank']} is below the planted rank "
                    f"{s['rank']} (Algorithm 1 needs r >= rank(X))")
    if "min_rank" in s and "init_rank" in s and s["min_rank"] > s["init_rank"]:
        msgs.append(f"sweeps.{name}.min_rank: {s['min_rank']} is above "
                    f"init_rank = {s['init_rank']}")
    for i, run in enumerate(s.get("extra_runs") or []):
        if not any(math.isclose(run["init_norm"], v) for v in s.get("init_norms", [])):
            msgs.append(f"sweeps.{name}.extra_runs.{i}.init_norm: {run['init_norm']} is not one of "
                        f"init_norms = {s.get('init_norms')}")
    if "alpha_min" in s and "alpha_max" in s and s["alpha_min"] > s["alpha_max"]:
        msgs.append(
            f"sweeps.{name}.alpha_min: {s['alpha_min']} is above alpha_max = {s['alpha_max']}"
        )
    size, scales = s.get("image_size"), s.get("scales")
    if size is not None and scales is not None and size % 2**scales:
        msgs.append(
            f"sweeps.{name}.image_size: {size} is not a multiple of 2^scales = {2**scales} "
            f"(the network halves the image {scales} times)"
        )
    if "rows" in s and "dim" in s and s["dim"] <= s["rows"]:
        msgs.append(
            f"sweeps.{name}.dim: {s['dim']} unknowns for {s['rows']} rows is not underdetermined "
            f"(allowed: dim > rows)"
        )
    return msgs


def validate_config(config: dict, schema: dict) -> dict:
    """Validate and resolve a configuration.

    :param config: the merged configuration (``config.yaml`` plus overlays and ``--config``).
    :param schema: the parsed JSON schema (``workflow/schemas/config.schema.yaml``).
    :returns: ``config`` with top-level defaults filled in and ``resolved`` added: sweep
        name to its settings at the chosen size.
    :raises ConfigError: listing every problem, each naming its key and what is allowed.
    """
    config = deep_merge(_defaults(schema), config)
    msgs = _errors(config, schema, schema, "config")
    if msgs:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(msgs))
    resolved = {}
    for name in config.get("sweeps", {}):
        try:
            settings = resolve_sweep(config, name, schema)
            kschema = kind_schema(schema, settings["kind"])
        except ConfigError as exc:
            msgs.append(str(exc))
            continue
        # The sweep's own block is checked too: a size override must not hide an invalid value
        # there (it would surface at another size). A size override that the kind does not
        # know is as much an error as a typo in the sweep.
        own = deep_merge(_defaults(kschema), config["sweeps"][name])
        errs = _errors(own, kschema, schema, f"sweeps.{name}")
        errs += [e for e in _errors(settings, kschema, schema, f"sweeps.{name}") if e not in errs]
        if not errs:
            errs = _cross_checks(name, own)
            errs += [e for e in _cross_checks(name, settings) if e not in errs]
        msgs.extend(errs)
        resolved[name] = settings
    for fig, spec in (config.get("figures") or {}).items():
        for sweep in spec.get("sweeps", []):
            if sweep not in config.get("sweeps", {}):
                msgs.append(f"figures.{fig}.sweeps: no sweep named {sweep!r} in sweeps:")
    if msgs:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(msgs))
    config["resolved"] = resolved
    return config


def load_config(
    path: str | Path,
    schema_path: str | Path,
    overlays: list[str | Path] = (),
    overrides: dict | None = None,
) -> dict:
    """Read ``config.yaml``, merge overlay files and overrides, validate (see above)."""
    config = load_yaml(path)
    for overlay in overlays:
        config = deep_merge(config, load_yaml(overlay))
    config = deep_merge(config, overrides or {})
    return validate_config(config, load_yaml(schema_path))


def short_number(value: float) -> str:
    """A short, path-safe literal for a grid value: ``7.071``, ``0.3``, ``1e-05``, ``20``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.4g}"


def log_grid(lo: float, hi: float, num: int, digits: int = 3) -> list[float]:
    """``num`` log-spaced values from ``lo`` to ``hi``, rounded to ``digits`` significant digits."""
    if num == 1:
        return [float(lo)]
    out = []
    for i in range(num):
        v = math.exp(math.log(lo) + i * (math.log(hi) - math.log(lo)) / (num - 1))
        out.append(float(f"{v:.{digits}g}"))
    return out
