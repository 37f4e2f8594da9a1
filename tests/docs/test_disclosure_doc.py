"""docs/disclosure.md lists exactly the policy's private fields, each with its reason."""

from __future__ import annotations

import re
from pathlib import Path

from domain.disclosure import POLICY_VERSION, PRIVATE_FIELDS
from domain.lifecycle import event_classes

DOC = Path(__file__).resolve().parents[2] / "docs" / "disclosure.md"
ROW = re.compile(r"^\| `(\w+)` \| `([\w.]+)` \| (.+?) \|$", re.MULTILINE)


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
        # A dotted name is a part of a value object field (``actor.id``, ``evidence.uri``).
        fields_named = {name.split(".")[0] for name in fields}
        assert fields_named <= names, (event, fields_named - names)


# The fields public figures and the rules read: the policy may never seal them (docs/disclosure.md,
# "Publishing more"). The fairness report groups by requester group and counts outcomes, reason
# codes and resubmissions by day; the rules follow a request by its id and its denial's code.
NEEDED_IN_PUBLIC = {
    "AccessRequested": {"request_id", "requester_group", "resubmission_of", "effective_at"},
    "AccessRequestApproved": {"request_id", "expires_on", "effective_at"},
    "AccessRequestDenied": {"request_id", "reason_code", "effective_at"},
    "AccessDenialAppealed": {"request_id", "effective_at"},
    "AccessRevoked": {"request_id", "effective_at"},
    "SubjectErased": {"subject"},
}


def test_the_policy_never_seals_what_the_public_figures_need() -> None:
    import dataclasses

    classes = {cls.__name__: cls for cls in event_classes()}
    for event, needed in NEEDED_IN_PUBLIC.items():
        fields = {f.name for f in dataclasses.fields(classes[event])}
        assert needed <= fields, (event, needed - fields)  # the table names real fields
        sealed = {name.split(".")[0] for name in PRIVATE_FIELDS.get(event, {})}
        assert not needed & sealed, (event, needed & sealed)
