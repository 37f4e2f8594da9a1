"""How a decision reaches the aggregate: each command is one call of a command method.

A command's own fields (those beyond the decision fields every command shares) are the
keyword arguments of the `ModelLifecycle` method of the same name, once turned into domain
values: lists become tuples, nested documents become value objects (`Channel`,
`DifferingFile`, `ManifestEntry`), criteria scores a plain mapping. The one command whose fields
differ is ``preserve_weights``, whose manifest document gives the method its files and digest.
The ledger (`Ledger.execute`) checks authority, loads the model and calls `decide`; a restored
event (`domain.ledger.restored_event`) is replayed through the same `decide`.
"""

from __future__ import annotations

from typing import Any

from domain import commands as cmd
from domain.decisions import Channel, DifferingFile, Justification, ManifestEntry
from domain.lifecycle import ModelLifecycle

METHOD_OF_COMMAND = {"retire_model": "retire"}
"""Command methods not named like their command (every other is)."""

_SHARED = frozenset({"command", *cmd.Command.model_fields})


def decide(model: ModelLifecycle, command: str, decided: Justification, facts: Any) -> None:
    """Call the aggregate's command method for ``command`` (it checks the rules, then records)."""
    getattr(model, METHOD_OF_COMMAND.get(command, command))(decided, **facts)


def command_facts(command: cmd.Command) -> dict[str, Any]:
    """A parsed command's own fields, as domain values, named as its command method takes them."""
    facts = {
        name: _domain_value(getattr(command, name))
        for name in type(command).model_fields
        if name not in _SHARED
    }
    if isinstance(command, cmd.PreserveWeights):
        del facts["manifest"]
        facts["files"] = _domain_value(command.manifest.files)
        facts["digest"] = command.manifest.manifest_digest
    return facts


def _domain_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_domain_value(item) for item in value)
    if isinstance(value, cmd.ChannelRef):
        return Channel(channel=value.channel, audience=value.audience)
    if isinstance(value, cmd.DifferingFileRef):
        return DifferingFile(path=value.path, status=value.status)
    if isinstance(value, cmd.ManifestFile):
        return ManifestEntry(path=value.path, size=value.size, sha256=value.sha256)
    if isinstance(value, cmd.CriteriaScores):
        return value.as_dict()
    return value
