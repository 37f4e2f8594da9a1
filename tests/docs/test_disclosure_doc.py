"""docs/disclosure.md lists exactly the policy's private fields, each with its reason."""

from __future__ import annotations

import re
from pathlib import Path

from domain.disclosure import POLICY_VERSION, PRIVATE_FIELDS
from domain.lifecycle import event_classes

DOC = Path(__file__).resolve().parents[2] / "docs" / "disclosure.md"
ROW = re.compile(r"^\| `(\w+)` \| `(\w+)` \| (.+?) \|$", re.MULTILINE)


def test_the_table_is_the_policy() -> None:
    text = DOC.read_text(encoding="utf-8")
    listed = {(event, field): why for event, field, why in ROW.findall(text)}
    policy = {
        (event, field): why
        for event, fields in PRIVATE_FIELDS.items()
        for field, why in fields.items()
    }
    assert listed == policy
    assert f"Policy version: **{POLICY_VERSION}**." in text


def test_every_private_field_is_a_field_of_its_event() -> None:
    import dataclasses

    classes = {cls.__name__: cls for cls in event_classes()}
    for event, fields in PRIVATE_FIELDS.items():
        names = {f.name for f in dataclasses.fields(classes[event])}
        assert set(fields) <= names, (event, set(fields) - names)
