"""orjson where it gives exactly what `json` gives, `json` everywhere else (`contracts/json_codec.py`)."""

import datetime as dt
import json
import math

import pytest

from spotify_assets.contracts import json_codec

PLAIN_ROW = {
    "ts": "2022-01-01T00:00:00Z",
    "ms_played": 9_223_372_036_854_775_807,
    "text": 'ü "quoted" \\ back\nslash \x01\x1f\x7f \u2028 🎵 日本語',
    "flags": [True, False, None],
    "nested": {"b": -1, "a": [{}], "": "empty key"},
}


def standard_bytes(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.mark.parametrize("value", [PLAIN_ROW, [PLAIN_ROW, PLAIN_ROW], {}, [], "text", 7, None, True])
def test_plain_values_are_written_by_orjson_as_json_writes_them(value):
    written = json_codec.dumps_exact(value)
    assert written is not None  # orjson wrote it
    assert written == standard_bytes(value)
    assert json_codec.loads(written) == json.loads(written) == value


@pytest.mark.parametrize(
    "value",
    [
        {"ms_played": 1e-05},  # orjson would write 0.00001
        {"n": [1, {"deep": [2.5]}]},
        {"big": 2**64},  # beyond 64 bits
        {"text": "\ud800"},  # a lone surrogate
        {1: "a key that is not a string"},
        {"when": dt.datetime(2024, 1, 1)},  # orjson writes datetimes, json refuses them
        {"name": type("Name", (str,), {})("a str subclass")},
        1.5,
    ],
    ids=["float", "nested-float", "big-int", "surrogate", "int-key", "datetime", "str-subclass", "bare"],
)
def test_values_orjson_could_write_otherwise_are_left_to_json(value):
    assert json_codec.dumps_exact(value) is None


@pytest.mark.parametrize(
    "text",
    [
        '{"big":18446744073709551616,"neg":-9223372036854775809}',  # orjson would read floats
        '{"f":1e-07,"g":[1.0,{"h":2.5}]}',
        '{"nan":NaN,"inf":-Infinity}',  # json reads them, orjson refuses
        '{"lone":"\\ud800"}',
        '{"a":1,"a":2}',
    ],
    ids=["big-ints", "floats", "nan", "surrogate", "duplicate-key"],
)
def test_parsing_gives_what_json_gives(text):
    parsed = json_codec.loads(text.encode("utf-8"))
    expected = json.loads(text)
    assert repr(parsed) == repr(expected)  # repr: NaN is not equal to itself
    assert list(map(type, parsed.values())) == list(map(type, expected.values()))
    if "big" in parsed:
        assert parsed["big"] == 2**64 and type(parsed["big"]) is int


def test_text_json_refuses_raises_json_s_own_error():
    with pytest.raises(json.JSONDecodeError, match="Expecting"):
        json_codec.loads(b'{"truncated": [1, 2')
    with pytest.raises(UnicodeDecodeError):
        json_codec.loads(b'{"latin1": "\xe9"}')


def test_only_json_values_are_plain():
    assert json_codec.is_plain(PLAIN_ROW)
    assert not json_codec.is_plain({"a": [1, [2, [math.pi]]]})
    assert not json_codec.is_plain({"a": {"b": {"c": (1, 2)}}})


def test_a_parse_says_whether_orjson_may_write_the_value_back():
    rows = [PLAIN_ROW, {"n": 1}]
    text = json.dumps(rows, ensure_ascii=False).encode("utf-8")
    parsed, plain = json_codec.parse(text)
    assert plain and parsed == rows
    assert json_codec.dumps_plain(parsed) == [standard_bytes(row) for row in rows]
    parsed, plain = json_codec.parse(b'[{"n": 1}, {"n": [1.0]}]')
    assert not plain and parsed == [{"n": 1}, {"n": [1.0]}]
