"""Typed options: validation, defaults and the JSON Schema that one declaration gives."""

from __future__ import annotations

import pytest

from graphmodel.options import Option, check_options, with_defaults

SCHEMA = (
    Option("hidden", "ints", [400], "widths of the hidden layers", minimum=1, nonempty=True),
    Option("activation", "str", "relu", "nonlinearity", choices=("relu", "tanh")),
    Option("kernel_size", "int", 3, "kernel size", minimum=1, maximum=15),
    Option("bias", "bool", True, "a bias per output"),
    Option("dropout", "float", 0.0, "dropout probability", minimum=0.0, maximum=1.0),
    Option("limit", "int", None, "an optional cap", minimum=1, nullable=True),
)


@pytest.mark.parametrize("values", [
    {}, {"hidden": [1, 2]}, {"activation": "tanh"}, {"kernel_size": 15}, {"bias": False},
    {"dropout": 1}, {"dropout": 0.5}, {"limit": None}, {"limit": 3},
])
def test_valid_values_pass(values):
    assert check_options(SCHEMA, values) == []


@pytest.mark.parametrize("values, key, words", [
    ({"hidden": []}, "hidden", "non-empty list of integers ≥ 1"),
    ({"hidden": [0]}, "hidden", "found 0"),
    ({"hidden": 4}, "hidden", "found 4"),
    ({"activation": "selu"}, "activation", "one of relu, tanh, found 'selu'"),
    ({"kernel_size": 16}, "kernel_size", "an integer in [1, 15], found 16"),
    ({"kernel_size": True}, "kernel_size", "found True"),
    ({"kernel_size": 2.5}, "kernel_size", "found 2.5"),
    ({"bias": 1}, "bias", "true or false, found 1"),
    ({"dropout": float("nan")}, "dropout", "found nan"),
    ({"dropout": "0.1"}, "dropout", "found '0.1'"),
    ({"limit": 0}, "limit", "≥ 1 or null"),
    ({"kernel": 3}, "kernel", "unknown option; known: hidden, activation"),
])
def test_invalid_values_name_the_key_the_expected_and_the_found(values, key, words):
    [(k, msg)] = check_options(SCHEMA, values)
    assert k == key and words in msg


def test_defaults_fill_in_and_lists_are_not_shared():
    a = with_defaults(SCHEMA, {"bias": False})
    assert a == {"hidden": [400], "activation": "relu", "kernel_size": 3, "bias": False, "dropout": 0.0,
                 "limit": None}
    a["hidden"].append(1)
    assert SCHEMA[0].default == [400]


def test_json_schema_of_an_option():
    assert SCHEMA[0].to_json_schema()["items"] == {"type": "integer", "minimum": 1}
    assert SCHEMA[1].to_json_schema()["enum"] == ["relu", "tanh"]
    assert SCHEMA[5].to_json_schema()["anyOf"][1] == {"type": "null"}
    assert "kernel_size (an integer in [1, 15]; default 3)" in SCHEMA[2].describe()


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        Option("x", "list", [], "")
