"""docs/commands.md stays in step with the commands, and its examples and the demo scenario apply.

Every command has a section with exactly one ``json`` example of that command; the examples
(with the extra ``jsonl`` lines some sections show first) apply in document order to a fresh
ledger; each section's field table lists exactly the command's own fields; the rules it names
exist. The bundled demo scenario applies cleanly too.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from domain.commands import COMMAND_CLASSES, Command, parse_command
from domain.errors import rule_classes
from domain.ledger import Ledger
from domain.storage import store_for

DOC = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
COMMON_FIELDS = set(Command.model_fields)
# Rules a command can be refused by that are not lifecycle rules of the aggregate.
OTHER_REFUSALS = {"invalid-command", "model-not-found", "stale-version", "concurrency-conflict"}


def _sections() -> dict[str, str]:
    """The body of each ``## <title>`` section, by title."""
    text = DOC.read_text(encoding="utf-8")
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    return {title.strip(): body for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def _blocks(body: str, tag: str) -> list[str]:
    return [content for lang, content in FENCE.findall(body) if lang == tag]


def _command_documents() -> list[tuple[str, str]]:
    """Every command document of the command sections, in document order: (section, document).

    A section's ``jsonl`` block holds extra commands, one per line, applied before its example.
    """
    documents = []
    for title, body in _sections().items():
        if title not in COMMAND_CLASSES:
            continue
        for lang, content in FENCE.findall(body):
            if lang == "jsonl":
                documents += [(title, line) for line in content.splitlines() if line.strip()]
            elif lang == "json":
                documents.append((title, content))
    return documents


def _fresh_ledger(tmp_path: Path) -> Ledger:
    return Ledger(env=store_for(f"sqlite:///{tmp_path / 'l.db'}").env)


@pytest.mark.parametrize("name", list(COMMAND_CLASSES))
def test_every_command_has_a_section_with_one_example_of_itself(name: str) -> None:
    sections = _sections()
    assert name in sections, f"docs/commands.md has no '## {name}' section"
    examples = _blocks(sections[name], "json")
    assert len(examples) == 1, f"section {name!r} has {len(examples)} json examples, not one"
    assert parse_command(examples[0]).command == name  # type: ignore[attr-defined]


def test_no_section_documents_an_unknown_command() -> None:
    documented = {title for title in _sections() if re.fullmatch(r"[a-z_]+", title)}
    assert documented <= set(COMMAND_CLASSES), documented - set(COMMAND_CLASSES)


@pytest.mark.parametrize("name", list(COMMAND_CLASSES))
def test_field_table_lists_exactly_the_commands_own_fields(name: str) -> None:
    body = _sections()[name]
    listed = set(re.findall(r"^\| `(\w+)` \|", body, flags=re.MULTILINE))
    own = set(COMMAND_CLASSES[name].model_fields) - COMMON_FIELDS - {"command"}
    assert listed == own, f"{name}: missing {own - listed}, unknown {listed - own}"


def test_common_fields_are_documented() -> None:
    body = _sections()["Common fields"]
    listed = set(re.findall(r"^\| `(\w+)` \|", body, flags=re.MULTILINE))
    assert listed >= COMMON_FIELDS | {"command"}


def test_named_rules_exist_and_every_lifecycle_rule_is_named() -> None:
    slugs = {cls.rule for cls in rule_classes()}
    text = DOC.read_text(encoding="utf-8")
    for name in COMMAND_CLASSES:
        refused = re.search(r"\*\*Refused by:\*\*(.*?)(?:\n\n|$)", _sections()[name], re.DOTALL)
        assert refused, f"section {name!r} names no rules it can be refused by"
        named = set(re.findall(r"`([a-z]+(?:-[a-z]+)+)`", refused.group(1)))
        assert named, f"section {name!r} names no rules"
        assert named <= slugs | OTHER_REFUSALS, f"{name}: unknown rules {named - slugs}"
    unnamed = {slug for slug in slugs if f"`{slug}`" not in text}
    assert not unnamed, f"rules never mentioned in docs/commands.md: {sorted(unnamed)}"


def test_every_example_parses() -> None:
    for section, document in _command_documents():
        parse_command(document)  # raises CommandRejected, naming the problem, if not
        assert section


def test_examples_apply_in_document_order(tmp_path: Path) -> None:
    ledger = _fresh_ledger(tmp_path)
    documents = _command_documents()
    models = set()
    for section, document in documents:
        command = parse_command(document)
        models.add(command.model)
        try:
            ledger.execute(command)
        except Exception as error:  # report which example failed, not just why
            pytest.fail(f"the example of section {section!r} was refused: {error}")
    # One story for one model, each example one more version of it.
    assert len(models) == 1
    [summary] = ledger.models()
    assert summary.version == len(documents)
    assert summary.status == "retired_with_extended_access"


def test_bundled_scenario_applies_to_a_fresh_ledger(tmp_path: Path) -> None:
    ledger = _fresh_ledger(tmp_path)
    text = resources.files("domain.demo").joinpath("scenario.jsonl").read_text("utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        try:
            ledger.execute(parse_command(line))
        except Exception as error:
            pytest.fail(f"scenario line {number} was refused: {error}")
    summaries = ledger.models()
    statuses = [summary.status for summary in summaries]
    assert len(summaries) >= 3
    assert "fully_retired" in statuses
    assert "retired_with_extended_access" in statuses
    # Every line appends one event to its model.
    assert sum(summary.version for summary in summaries) == len(lines)
