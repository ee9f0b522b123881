"""The graph file's JSON Schema, made from the declarations the loader itself checks against.

Editors that read JSON Schema (VS Code, PyCharm, …) complete and check a graph file with it:
map the graph files to it in the editor's settings (VS Code: ``json.schemas`` with
``fileMatch``). ``graphmodel schema`` prints it; ``docs/graphmodel.schema.json`` is the published copy
(a test keeps it equal to this module's output). The schema says what the structure may be —
the names, kinds, enumerations and bounds; the loader still checks what a schema cannot
(that a parent exists, that shapes agree), with errors that name the place.
"""

from __future__ import annotations

import json
import typing
from dataclasses import fields

from graphmodel import FAMILIES, NETWORKS
from graphmodel.fileio import FORMAT_VERSION
from graphmodel.graph import MODEL_KINDS
from graphmodel.supports import declarable
from graphmodel.variables import PLATE_KINDS, ROLES

from .config import TrainConfig

SCHEMA_ID = "https://graphmodel.invalid/graphmodel.schema.json"  # (an identifier, not a download)

_NAME = {"type": "string", "minLength": 1, "description": "a name: a variable, plate, model or network"}
_NUMBERS = {"anyOf": [{"type": "number"}, {"type": "array"}]}


def _variable() -> dict:
    return {"type": "object", "required": ["name", "shape"], "additionalProperties": False, "properties": {
        "name": _NAME,
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 8,
                  "description": "the shape of one value, without batch or plate dimensions"},
        "support": {"enum": sorted(declarable()), "default": "real"},
        "role": {"enum": list(ROLES), "default": "latent"},
        "classes": {"type": "integer", "minimum": 1, "description": "categories of a categorical variable"},
        "plate": {**_NAME, "description": "the plate the variable repeats in"},
    }}


def _plate() -> dict:
    return {"type": "object", "required": ["name", "size"], "additionalProperties": False, "properties": {
        "name": _NAME, "size": {"type": "integer", "minimum": 1},
        "kind": {"enum": list(PLATE_KINDS), "default": "iid"},
        "inside": {**_NAME, "description": "the plate this one is nested in"},
        "end": {"type": "string", "description": "a sequence's end token (pen[2]): sampling stops at it"},
        "jump": {"type": "object", "required": ["max"], "additionalProperties": False,
                 "description": "a pair of steps t1 < t2 = t1 + δ per example, δ uniform in [1, max] (TD-VAE)",
                 "properties": {
                     "max": {"type": "integer", "minimum": 1, "description": "the longest jump (below size)"},
                     "delta": {**_NAME, "description": "an input variable (1,) that receives δ"},
                     "gather": {"type": "object", "additionalProperties": {"type": "string", "pattern": r"\[t[12]\]$"},
                                "description": "observed variable → 'x[t2]': the data at one step of the pair"}}},
    }}


def _networks() -> list:
    return [NETWORKS.get(name).json_schema() for name in NETWORKS]


def _net() -> dict:
    return {"anyOf": [{"type": "string", "description": "the name of a network in the networks section"},
                      *_networks()]}


def _param() -> dict:
    schedule = {"type": "object", "required": ["schedule", "start", "end", "steps"], "properties": {
        "schedule": {"const": "anneal"}, "start": {"type": "number"}, "end": {"type": "number"},
        "steps": {"type": "integer", "minimum": 1}}}
    learn = {"type": "object", "required": ["learn"], "properties": {"learn": _NUMBERS}}
    return {"anyOf": [{"const": "net"}, {"type": "number"}, {"type": "array"}, schedule, learn]}


def _factor() -> dict:
    return {"type": "object", "required": ["model", "target", "family"], "additionalProperties": False,
            "properties": {
                "model": _NAME, "target": _NAME,
                "family": {"enum": sorted(FAMILIES)},
                "parents": {"type": "array", "items": {"type": "string"},
                            "description": "parent variables: x, h[t-1], h[last], b[t1], b[t2], …"},
                "params": {"type": "object", "additionalProperties": _param()},
                "net": _net(),
                "init": {"anyOf": [{"type": "boolean"}, {"const": "before"}],
                         "description": "the factor of step 0 of a sequence, or \"before\": a value before the first step"},
                "reduce": {"enum": ["sum", "mean"], "description": "reduce parents over their plate"},
                "family_options": {"type": "object"},
                "positive": {"anyOf": [{"type": "string"}, {"type": "object"}]},
                "autoregressive": {"anyOf": [{"type": "boolean"}, {"type": "object"}]},
                "flow": {"type": "array", "items": {"type": "object"}},
                "per_step": {"type": "boolean",
                             "description": "in a sequence plate: a separate network at each step (default: one shared)"},
            }}


def _json_type(annotation) -> dict:
    kinds = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null"}
    args = typing.get_args(annotation) or (annotation,)
    names = sorted({kinds[a] for a in args if a in kinds})
    if "integer" in names and "number" in names:
        names.remove("integer")
    return {"type": names[0] if len(names) == 1 else names}


def _training() -> dict:
    hints = typing.get_type_hints(TrainConfig)
    props = {}
    for f in fields(TrainConfig):
        if f.name.startswith("_"):
            continue
        props[f.name] = {**_json_type(hints[f.name]), "default": f.default if not callable(f.default) else None}
    return {"type": "object", "properties": props,
            "description": "how to train (every key may also be set on the command line or in Python)"}


def file_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a graph file, from the registries as they are now
    (so a plugin's families and networks are in it when its module was loaded first)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "graphmodel graph file",
        "type": "object",
        "required": ["format_version", "variables", "factors"],
        "additionalProperties": False,
        "properties": {
            "format_version": {"const": FORMAT_VERSION},
            "name": {"type": "string"},
            "variables": {"type": "array", "items": _variable()},
            "plates": {"type": "array", "items": _plate()},
            "models": {"type": "object", "additionalProperties": {"enum": list(MODEL_KINDS)}},
            "networks": {"type": "object", "additionalProperties": _net()},
            "factors": {"type": "array", "items": _factor()},
            "objective": {"type": "object", "description": "the training objective: a kind and its options"},
            "data": {"type": "object", "description": "a dataset and how its fields bind to variables"},
            "training": _training(),
            "layout": {"type": "object", "description": "the editor's positions (ignored by training)"},
        },
    }


def schema_text() -> str:
    """The schema as the published file holds it (sorted keys, two-space indent)."""
    return json.dumps(file_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
