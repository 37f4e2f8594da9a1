"""Who may take which decision: the authority table, checked by the ledger for every command.

The table says, for each command, the roles that may issue it (curators keep the
registry, retirement, preservation, archive checks and signals; interviewers the interviews and
what the model said; the board decides preferences, policy and access; reviewers review essays;
researchers ask for access and appeal). An auditor reads everything and decides nothing, except
that it may put an archive check it made on the record. The ledger checks the table before it
loads anything, whatever door the command came through (`reliquary apply`, HTTP, a restored
bundle), and the aggregate checks separation of duties, which needs the request's state: the
actor who requested access never decides or revokes that request, and only it may appeal it
(`domain.lifecycle`).

How the actor was authenticated is part of the record (`Authentication`): a bearer token over
HTTP, a session of the web console opened with such a token, a local operator at
the CLI, or an import of command documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from domain.decisions import Actor, Role
from domain.errors import RoleNotAllowed


class Authentication(StrEnum):
    """How the ledger knows who the actor is; recorded with every decision."""

    TOKEN = "token"  # noqa: S105 (a kind of authentication, not a secret)
    """A bearer token the HTTP service checked against its stored hashes."""
    SESSION = "session"
    """A token given once in the web console's sign-in form, whose browser session stands for
    it (`api.web.sessions`): looked up again on every request, so revoking it ends the session."""
    OPERATOR = "operator"
    """Someone with access to the store, at the CLI (`apply`, `preserve`, `demo`)."""
    IMPORT = "import"
    """A command document read from a file by a bulk import."""


ROLES_BY_COMMAND: Mapping[str, frozenset[Role]] = {
    "register_model": frozenset({Role.CURATOR}),
    "schedule_retirement": frozenset({Role.CURATOR}),
    "retire_model": frozenset({Role.CURATOR}),
    "preserve_weights": frozenset({Role.CURATOR}),
    "archive_artifact": frozenset({Role.CURATOR}),
    "record_archive_check": frozenset({Role.CURATOR, Role.AUDITOR}),
    "record_interview": frozenset({Role.INTERVIEWER}),
    "record_preference": frozenset({Role.INTERVIEWER}),
    "reaffirm_preference": frozenset({Role.INTERVIEWER}),
    "contradict_preference": frozenset({Role.INTERVIEWER}),
    "decide_preference": frozenset({Role.BOARD}),
    "set_access_policy": frozenset({Role.BOARD}),
    "request_access": frozenset({Role.RESEARCHER}),
    "approve_access_request": frozenset({Role.BOARD}),
    "deny_access_request": frozenset({Role.BOARD}),
    "appeal_access_denial": frozenset({Role.RESEARCHER}),
    "revoke_access": frozenset({Role.BOARD}),
    "erase_subject": frozenset({Role.BOARD}),
    "draft_essay": frozenset({Role.REVIEWER}),
    "approve_essay": frozenset({Role.REVIEWER}),
    "veto_essay": frozenset({Role.REVIEWER}),
    "publish_essay": frozenset({Role.REVIEWER}),
    "record_signal": frozenset({Role.CURATOR}),
}
"""The roles that may issue each command (by its wire name)."""

COMMAND_OF_EVENT: Mapping[str, str] = {
    "ModelRegistered": "register_model",
    "RetirementScheduled": "schedule_retirement",
    "ModelRetired": "retire_model",
    "WeightsPreserved": "preserve_weights",
    "ArtifactArchived": "archive_artifact",
    "ArchiveVerified": "record_archive_check",
    "InterviewConducted": "record_interview",
    "PreferenceRecorded": "record_preference",
    "PreferenceReaffirmed": "reaffirm_preference",
    "PreferenceContradicted": "contradict_preference",
    "PreferenceDecided": "decide_preference",
    "AccessPolicySet": "set_access_policy",
    "AccessRequested": "request_access",
    "AccessRequestApproved": "approve_access_request",
    "AccessRequestDenied": "deny_access_request",
    "AccessDenialAppealed": "appeal_access_denial",
    "AccessRevoked": "revoke_access",
    "SubjectErased": "erase_subject",
    "EssayDrafted": "draft_essay",
    "EssayApproved": "approve_essay",
    "EssayVetoed": "veto_essay",
    "EssayPublished": "publish_essay",
    "SignalRecorded": "record_signal",
}
"""The command that records each event type (a restored bundle is checked against the table)."""

EVENT_OF_COMMAND: Mapping[str, str] = {
    command: event for event, command in COMMAND_OF_EVENT.items()
}
"""The event type each command records."""


READER_ROLES: frozenset[Role] = frozenset(
    {Role.AUDITOR, Role.BOARD, Role.CURATOR, Role.INTERVIEWER, Role.REVIEWER}
)
"""Who may read the ledger's records beyond the public log: every role but researchers, who
see what is public (their own requests' outcomes included, through the log)."""


def may_read(role: str) -> bool:
    """Whether a role may read the records (views, registers, reports, histories)."""
    return role in READER_ROLES


def roles_for(command: str) -> frozenset[Role]:
    """The roles that may issue a command; none for a name the table does not know."""
    return ROLES_BY_COMMAND.get(command, frozenset())


def commands_for(role: str) -> frozenset[str]:
    """The commands a role may issue (what a door offers it; the ledger still checks each)."""
    return frozenset(command for command, roles in ROLES_BY_COMMAND.items() if role in roles)


def require_role(command: str, actor: Actor) -> None:
    """Refuse a command its actor's role may not issue (`RoleNotAllowed`)."""
    allowed = roles_for(command)
    if actor.role not in allowed:
        names = ", ".join(sorted(allowed)) or "no role"
        raise RoleNotAllowed(
            f"the {actor.role} role may not {command.replace('_', ' ')}; "
            f"it is for: {names} (actor {actor.id!r})",
            command=command,
            actor=actor.id,
            role=actor.role,
            allowed=names,
        )
