"""Bad command documents: each is refused with one line that names the problem."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.commands import COMMAND_CLASSES, MAX_DOCUMENT_BYTES, parse_command
from domain.errors import CommandRejected
from tests.support import doc, register


def _refusal(document: str | bytes) -> str:
    with pytest.raises(CommandRejected) as refused:
        parse_command(document)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_malformed_json() -> None:
    assert _refusal('{"command": "register_model",').startswith("malformed JSON")


def test_not_an_object() -> None:
    assert "JSON object" in _refusal("[1, 2]")


def test_unknown_command() -> None:
    assert "unknown command 'retire_everything'" in _refusal(
        json.dumps({**register("m"), "command": "retire_everything"})
    )


def test_missing_command() -> None:
    document = register("m")
    del document["command"]
    assert "missing field 'command'" in _refusal(json.dumps(document))


def test_unknown_field() -> None:
    assert "unknown field 'colour'" in _refusal(json.dumps({**register("m"), "colour": "red"}))


def test_wrong_type() -> None:
    message = _refusal(json.dumps({**register("m"), "family": 7}))
    assert "field 'family'" in message


def test_empty_rationale() -> None:
    message = _refusal(json.dumps({**register("m"), "rationale": "   "}))
    assert "field 'rationale'" in message and "blank" in message


@pytest.mark.parametrize("bad", ["2024-13-01", "04/03/2024", "2024-03-04T00:00:00", "1709510400"])
def test_date_in_the_wrong_format(bad: str) -> None:
    message = _refusal(json.dumps({**register("m"), "release_date": bad}))
    assert "field 'release_date'" in message and "YYYY-MM-DD" in message


def test_date_as_a_number() -> None:
    message = _refusal(json.dumps({**register("m"), "release_date": 1709510400}))
    assert "YYYY-MM-DD" in message


def test_naive_effective_at() -> None:
    message = _refusal(json.dumps({**register("m"), "effective_at": "2025-01-01T00:00:00"}))
    assert "time zone" in message


@pytest.mark.parametrize("name", ["bad\u0000name", "bad\nname", "tab\tname", " padded", ""])
def test_model_name_with_control_characters_or_padding(name: str) -> None:
    message = _refusal(json.dumps(register(name)))
    assert "field 'model'" in message


def test_unknown_role() -> None:
    document = {**register("m"), "actor": {"id": "x", "role": "emperor"}}
    assert "field 'actor.role'" in _refusal(json.dumps(document))


def test_ten_megabyte_line() -> None:
    document = json.dumps({**register("m"), "rationale": "x" * (10 * 1024 * 1024)})
    message = _refusal(document)
    assert f"over the limit of {MAX_DOCUMENT_BYTES} bytes" in message


def test_manifest_paths_must_be_relative_and_unique() -> None:
    entry = {"path": "../etc/passwd", "size": 1, "sha256": "0" * 64}
    document = doc(
        "preserve_weights",
        "m",
        manifest={"manifest_digest": "0" * 64, "files": [entry]},
        locations=["s3://a"],
        custodian="c",
        retention="r",
    )
    assert "manifest.files.0.path" in _refusal(json.dumps(document))
    entry = {"path": "a.bin", "size": 1, "sha256": "0" * 64}
    document["manifest"] = {"manifest_digest": "0" * 64, "files": [entry, entry]}
    assert "listed twice" in _refusal(json.dumps(document))


def test_every_command_has_a_distinct_wire_name() -> None:
    assert len(COMMAND_CLASSES) == len(set(COMMAND_CLASSES)) == 23
    assert all(name == name.lower() and " " not in name for name in COMMAND_CLASSES)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    try:
        parse_command(data)
    except CommandRejected as refused:
        message = str(refused)
    else:
        return
    assert message


@given(st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=5))
def test_arbitrary_objects_are_refused_cleanly(extra: dict[str, str]) -> None:
    document = {**register("m"), **{f"x{key}": value for key, value in extra.items()}}
    if not extra:
        return
    with pytest.raises(CommandRejected, match="unknown field"):
        parse_command(json.dumps(document))
