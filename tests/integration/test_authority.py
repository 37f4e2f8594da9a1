"""The authority table holds for every command and every role, before anything is loaded.

Each command's example from docs/commands.md is issued in every role: a role the table does
not allow is refused with `role-not-allowed` and appends nothing (on an empty ledger, so the
refusal cannot come from a missing model: it is checked first); an allowed role gets past
authority (to whatever the rules then say). Separation of duties holds whatever role an actor
presents.
"""

from __future__ import annotations

import json

import pytest

from domain.authority import ROLES_BY_COMMAND, Authentication
from domain.commands import COMMAND_CLASSES, parse_command_object
from domain.decisions import Role
from domain.errors import AuthorityViolation, OwnRequestDecision, RequestForAnother, RoleNotAllowed
from domain.ledger import Ledger
from tests.docs.test_commands_doc import _command_documents
from tests.support import doc, parse, register, unique

EXAMPLES = {
    section: json.loads(document)
    for section, document in _command_documents()
    if json.loads(document)["command"] == section
}


def test_every_command_has_an_entry_and_an_example() -> None:
    assert set(ROLES_BY_COMMAND) == set(COMMAND_CLASSES)
    assert set(EXAMPLES) == set(COMMAND_CLASSES)


@pytest.mark.parametrize("command", sorted(COMMAND_CLASSES))
def test_each_role_is_allowed_or_refused_as_the_table_says(ledger: Ledger, command: str) -> None:
    for role in Role:
        document = {**EXAMPLES[command], "actor": {"id": f"{role.value}-x", "role": role.value}}
        try:
            ledger.execute(parse_command_object(document))
        except RoleNotAllowed:
            assert role not in ROLES_BY_COMMAND[command], (command, role)
        except AuthorityViolation as other:  # pragma: no cover - a wrong refusal
            pytest.fail(f"{command} by {role}: {other}")
        except Exception:  # noqa: S110 (past authority: the rules may refuse it on this ledger)
            assert role in ROLES_BY_COMMAND[command], (command, role)
        else:
            assert role in ROLES_BY_COMMAND[command], (command, role)
    # Nothing but allowed registrations was ever appended.
    appended = list(ledger.notifications_after(0))
    assert len(appended) == (1 if command == "register_model" else 0)


def _access_request(model: str, actor: str) -> dict[str, object]:
    return {
        **doc(
            "request_access",
            model,
            role="researcher",
            request_id="req-1",
            requester="A. Researcher",
            organisation="Independent",
            requester_group="independent",
            purpose="p",
            scope="s",
        ),
        "actor": {"id": actor, "role": "researcher"},
    }


@pytest.mark.parametrize("decision", ["approve", "deny", "revoke"])
def test_nobody_decides_their_own_request_in_any_role(ledger: Ledger, decision: str) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    ledger.execute(parse_command_object(_access_request(model, "sam")))
    if decision == "revoke":
        approve = doc("approve_access_request", model, role="board", request_id="req-1", terms="T")
        ledger.execute(parse(approve))
    fields = {
        "approve": {"terms": "T"},
        "deny": {"reason_code": "other", "reason": "R"},
        "revoke": {"reason": "R"},
    }
    command = {"approve": "approve_access_request", "deny": "deny_access_request"}.get(
        decision, "revoke_access"
    )
    own = {
        **doc(command, model, role="board", request_id="req-1", **fields[decision]),
        "actor": {"id": "sam", "role": "board"},  # the requester, holding a board role too
    }
    version = ledger.version_of(model)

    with pytest.raises(OwnRequestDecision, match="'sam' requested this access"):
        ledger.execute(parse_command_object(own), authentication=Authentication.TOKEN)

    assert ledger.version_of(model) == version


def test_only_the_requester_appeals_its_denial(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    ledger.execute(parse_command_object(_access_request(model, "sam")))
    ledger.execute(parse(doc("deny_access_request", model, role="board", request_id="req-1",
                             reason_code="other", reason="R")))  # fmt: skip
    appeal = doc("appeal_access_denial", model, role="researcher", request_id="req-1",
                 new_facts="New facts.")  # fmt: skip
    version = ledger.version_of(model)

    with pytest.raises(RequestForAnother):
        ledger.execute(
            parse_command_object({**appeal, "actor": {"id": "kim", "role": "researcher"}})
        )
    assert ledger.version_of(model) == version
    ledger.execute(parse_command_object({**appeal, "actor": {"id": "sam", "role": "researcher"}}))
    assert ledger.version_of(model) == version + 1
