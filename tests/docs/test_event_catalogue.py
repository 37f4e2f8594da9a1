"""docs/events.md is kept in step with the event classes, their fields and the rule slugs.

The catalogue is the part of docs/events.md under ``## Events``: one ``### ClassName`` section
per class of `event_classes()`, in that order, each naming its topic and class_version and
listing its own fields in a table whose first column is the field name in backticks.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from domain.errors import rule_classes
from domain.lifecycle import ModelLifecycle, event_classes

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"

# Fields every event has from the base decision event or from the library: documented once, at
# the top of the page, not in each event's table.
SHARED_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelLifecycle.Event)) | {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
}

EVENT_CLASSES = event_classes()

_HEADING = re.compile(r"^(#{2,3}) (.+?)\s*$", re.MULTILINE)
_TABLE_FIELD = re.compile(r"^\|\s*`([^`]+)`\s*\|", re.MULTILINE)
# reliquary/<ClassName>/v<n>; a superseded generation kept in Python as <ClassName>V<n> keeps
# the topic it was stored under (see "Changing what an event means" in docs/events.md).
_TOPIC = re.compile(r"^reliquary/(?P<name>[A-Z][A-Za-z0-9]*)/v(?P<generation>[0-9]+)$")


def _catalogue_sections() -> dict[str, str]:
    """The ``### Name`` sections under ``## Events``, in document order, by name."""
    text = DOC.read_text(encoding="utf-8")
    headings = list(_HEADING.finditer(text))
    sections: dict[str, str] = {}
    in_catalogue = False
    for index, heading in enumerate(headings):
        level, title = heading.group(1), heading.group(2)
        if level == "##":
            in_catalogue = title == "Events"
            continue
        if not in_catalogue:
            continue
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        assert title not in sections, f"docs/events.md has two sections for {title}"
        sections[title] = text[heading.end() : end]
    return sections


SECTIONS = _catalogue_sections()


def _own_fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} - SHARED_FIELDS


def _ids(classes: list[type]) -> list[str]:
    return [cls.__name__ for cls in classes]


def test_the_catalogue_has_a_section_per_event_class_in_declaration_order() -> None:
    # Every class is documented, nothing that does not exist is, and the order is the code's.
    assert list(SECTIONS) == [cls.__name__ for cls in EVENT_CLASSES]


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=_ids(EVENT_CLASSES))
def test_each_section_names_the_topic_and_class_version(cls: type) -> None:
    section = SECTIONS.get(cls.__name__)
    assert section is not None, f"docs/events.md has no '### {cls.__name__}' section"
    topic: str = cls.TOPIC  # type: ignore[attr-defined]
    declared: int = cls.class_version  # type: ignore[attr-defined]
    assert f"`{topic}`" in section, f"### {cls.__name__} does not name its topic `{topic}`"
    versions = re.findall(r"class_version\W{0,3}(\d+)", section)
    assert versions, f"### {cls.__name__} does not give its class_version"
    assert int(versions[0]) == declared, (
        f"### {cls.__name__} says class_version {versions[0]}, the code says {declared}"
    )


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=_ids(EVENT_CLASSES))
def test_each_section_lists_exactly_the_event_s_own_fields(cls: type) -> None:
    section = SECTIONS.get(cls.__name__, "")
    documented = set(_TABLE_FIELD.findall(section))
    own = _own_fields(cls)
    assert own - documented == set(), f"### {cls.__name__}: fields missing from its table"
    assert documented - own == set(), f"### {cls.__name__}: table lists fields it does not have"


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=_ids(EVENT_CLASSES))
def test_each_event_class_declares_its_own_topic_and_class_version(cls: type) -> None:
    assert "TOPIC" in cls.__dict__, f"{cls.__name__} inherits its TOPIC instead of declaring one"
    assert "class_version" in cls.__dict__, f"{cls.__name__} does not declare its class_version"
    version = cls.__dict__["class_version"]
    assert isinstance(version, int)
    assert version >= 1
    match = _TOPIC.match(cls.__dict__["TOPIC"])
    assert match is not None, f"{cls.__name__}: topic {cls.__dict__['TOPIC']!r} is malformed"
    name = match.group("name")
    generation = match.group("generation")
    assert cls.__name__ in (name, f"{name}V{generation}"), (
        f"{cls.__name__}: topic {cls.__dict__['TOPIC']!r} names another event"
    )


def test_every_topic_is_distinct() -> None:
    topics = [cls.TOPIC for cls in EVENT_CLASSES]  # type: ignore[attr-defined]
    duplicates = sorted({topic for topic in topics if topics.count(topic) > 1})
    assert duplicates == []
    assert ModelLifecycle.TOPIC not in topics


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=_ids(EVENT_CLASSES))
def test_every_version_has_an_upcaster_from_the_one_before(cls: type) -> None:
    # The mapper calls upcast_v<n>_v<n+1> for every step from the stored version up.
    for version in range(1, cls.class_version):  # type: ignore[attr-defined]
        name = f"upcast_v{version}_v{version + 1}"
        assert isinstance(cls.__dict__.get(name), staticmethod), f"{cls.__name__}.{name} missing"


def test_the_base_event_fields_have_no_defaults_and_are_documented() -> None:
    # A defaulted base field breaks every subclass with a required one (the field-order trap).
    text = DOC.read_text(encoding="utf-8")
    for base_field in dataclasses.fields(ModelLifecycle.Event):
        assert base_field.default is dataclasses.MISSING, f"{base_field.name} has a default"
        assert base_field.default_factory is dataclasses.MISSING, f"{base_field.name} has one"
        assert f"`{base_field.name}`" in text, f"base field {base_field.name} is not documented"
    assert "`originator_topic`" in text


@pytest.mark.parametrize("slug", [cls.rule for cls in rule_classes()])
def test_every_rule_slug_is_documented(slug: str) -> None:
    assert f"`{slug}`" in DOC.read_text(encoding="utf-8")


def test_the_denial_reason_codes_listed_are_the_vocabulary() -> None:
    from typing import get_args

    from domain.decisions import DENIAL_REASONS, DenialReasonCode

    section = SECTIONS["AccessRequestDenied"]
    listed = re.findall(r"^- `([a-z_]+)`: ", section, flags=re.MULTILINE)
    assert listed == list(DENIAL_REASONS) == list(get_args(DenialReasonCode))
