"""docs/commands.md's "Limits" table says what `domain.commands` enforces, and why holds.

Every ``MAX_*`` limit of the command model has a row naming the constant and its value (the
document size, a setting, is documented in configuration.md); and a command with every text
field and list at its limit, in plain ASCII, records an event that fits one log entry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from domain import commands
from domain.commands import COMMAND_ADAPTER, COMMAND_CLASSES, parse_command
from domain.ledger import MAX_EVENT_BYTES

DOC = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
_ROW = re.compile(r"^\| .*\(`(MAX_[A-Z_]+)`\) \| ([\d,]+) (?:characters|items) \|", re.MULTILINE)
# A stored event is its command's facts, actor and justification plus an envelope (topic,
# authentication, the decision's own fields): a few hundred bytes over the command's JSON.
ENVELOPE = 2_048


def _limits_section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("\n## Limits\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _constants() -> dict[str, int]:
    return {
        name: value
        for name, value in vars(commands).items()
        if name.startswith("MAX_") and name != "MAX_DOCUMENT_BYTES" and isinstance(value, int)
    }


def test_the_table_lists_every_limit_with_its_value() -> None:
    rows = {name: int(value.replace(",", "")) for name, value in _ROW.findall(_limits_section())}
    assert rows == _constants()


# --- every command at its limits ---------------------------------------------------------------

_SCHEMA = COMMAND_ADAPTER.json_schema()
_DEFS = _SCHEMA["$defs"]
# Differing files are bounded by the record itself (the table says so), not by text limits; a
# manifest's files are stored beside the record (tests/integration/test_manifest_store.py).
_ONE_ITEM = {"files", "differing_files"}


def _maximal(schema: dict[str, Any], key: str = "") -> Any:
    """The largest value a schema allows, in ASCII: every string and list at its limit."""
    if "$ref" in schema:
        return _maximal(_DEFS[schema["$ref"].split("/")[-1]], key)
    if "anyOf" in schema:
        return _maximal(next(s for s in schema["anyOf"] if s.get("type") != "null"), key)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: _maximal(sub, name) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = 1 if key in _ONE_ITEM else schema["maxItems"]
        return [_maximal(schema["items"], key) for _ in range(count)]
    if kind == "string":
        return _maximal_string(schema)
    if kind in ("number", "integer"):
        return 0
    if kind == "boolean":
        return True
    raise AssertionError(f"no maximal value for {schema}")


def _maximal_string(schema: dict[str, Any]) -> str:
    if schema.get("format") == "date":
        return "2025-01-01"
    if schema.get("format") == "date-time":
        return "2025-01-01T00:00:00Z"
    pattern, longest = schema.get("pattern"), schema.get("maxLength")
    if pattern is None:
        return "x" * longest
    if pattern.startswith("^sha256:"):
        return "sha256:" + "a" * 64
    if pattern.startswith(("^[0-9a-f]{64}", "^[a-z][a-z0-9_]")):
        return "a" * 64
    assert longest is not None, f"a string of pattern {pattern} has no maxLength"
    return "https://" + "a" * (longest - len("https://"))


@pytest.mark.parametrize("name", list(COMMAND_CLASSES))
def test_a_command_at_every_limit_fits_one_log_entry(name: str) -> None:
    document = _maximal(_DEFS[COMMAND_CLASSES[name].__name__])
    command = parse_command(json.dumps(document))
    size = len(command.model_dump_json().encode())
    assert size + ENVELOPE <= MAX_EVENT_BYTES, f"{name} at its limits is {size} bytes"
