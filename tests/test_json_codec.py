"""fastsio.packet's hot-path helpers against what they stand in for:
compact_dumps (the standard library's C encoder built once) against
json.dumps(obj, separators=(",", ":")) as python-socketio calls it, fast_loads
(the C scanner called directly) against json.loads, and the C has_binary
against the rule python-socketio applies. Same text, same values, same
errors."""
import json
import math

import pytest

from fastsio import packet

dumps = packet.compact_dumps(json)
loads = packet.fast_loads(json)

VALUES = [
    None, True, 0, -1, 2 ** 70, 1.5, -0.0, 1e300, float("inf"), float("nan"),
    "", "plain", "quote\" backslash\\ newline\n", "é ü 中文 \u2028 \U0001f600", "\x00\x1f",
    [], {}, [1, [2, [3, []]]], {"a": {"b": [None, {"c": "d"}]}},
    {"z": 1, "a": 2}, {1: "int key", True: "bool key", None: "none key", 1.5: "float key"},
    ["echo", {"data": "x" * 100, "n": [1, 2.25, False]}], (1, 2), [(3, 4)],
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_compact_dumps_writes_what_json_dumps_writes(value):
    assert dumps(value) == json.dumps(value, separators=(",", ":"))


def test_compact_dumps_errors_as_json_dumps():
    circular = []
    circular.append(circular)
    for _ in range(2):   # a failed call leaves the shared markers clean
        with pytest.raises(ValueError, match="Circular reference"):
            dumps(circular)
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps([object()])
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"k": {1, 2}})
    nested = {"a": [1, 2]}
    assert dumps([nested, nested]) == '[{"a":[1,2]},{"a":[1,2]}]'   # shared, not circular


def test_compact_dumps_of_other_modules_keeps_their_dumps():
    class Module:
        @staticmethod
        def dumps(obj, separators=None):
            return "custom" if separators == (",", ":") else "spaced"

    assert packet.compact_dumps(Module)([1]) == "custom"


@pytest.mark.parametrize("text", [
    '["echo",{"data":"x"}]', '[1,2.5,-3e2,true,false,null]', '{"a":{"b":[]}}', '"s"', "12",
    '["\\u00e9\\ud83d\\ude00","\\n"]', "NaN", "-Infinity", '[1e400]',
    ' [1]', '[1] ', '\n{"a":1}\t',
])
def test_fast_loads_reads_what_json_loads_reads(text):
    got, want = loads(text), json.loads(text)
    assert type(got) is type(want)
    if isinstance(want, float) and math.isnan(want):
        assert math.isnan(got)
    else:
        assert got == want


@pytest.mark.parametrize("text", ["", " ", "[", "[1]x", '{"a":}', '[1,]', "tru", '"\\x"', "[1] [2]"])
def test_fast_loads_errors_as_json_loads(text):
    with pytest.raises(json.JSONDecodeError) as want:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        loads(text)
    assert str(got.value) == str(want.value)


def test_fast_loads_of_other_modules_is_their_loads():
    class Module:
        @staticmethod
        def loads(text):
            return ("custom", text)

    assert packet.fast_loads(Module)("[1]") == ("custom", "[1]")


def reference_has_binary(data):
    """python-socketio's rule (Packet.data_is_binary), with bytearray too."""
    if isinstance(data, (bytes, bytearray)):
        return True
    if isinstance(data, list):
        return any(reference_has_binary(item) for item in data)
    if isinstance(data, dict):
        return any(reference_has_binary(item) for item in data.values())
    return False


@pytest.mark.parametrize("value", VALUES + [
    b"", bytearray(b"x"), [1, {"a": [b"x"]}], {"k": bytearray()}, [[[[{"z": [b"deep"]}]]]],
    (b"in a tuple",), {b"key": 1}, [{"a": 1}, "b", [None, memoryview(b"m")]],
], ids=repr)
def test_has_binary_applies_the_reference_rule(value):
    assert packet.has_binary(value) is reference_has_binary(value)


def test_has_binary_on_deep_nesting_raises_recursion_error():
    deep = []
    for _ in range(100000):
        deep = [deep]
    with pytest.raises(RecursionError):
        packet.has_binary(deep)
