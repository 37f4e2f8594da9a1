"""Restoring a bundle re-checks every event: the same rules and authority as a live command.

A bundle that verifies (its signature, every leaf, its root) may still hold events the ledger
would never have recorded: a publication after a veto, a decision by a role not allowed to take
it, an event type outside the catalogue. Signed with the pinned key or not, `reliquary import`
refuses it whole, naming the line and the rule, and stores nothing.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import rfc8785

from api.bootstrap import build_ledger, build_log
from api.cli.demo import load_demo
from api.settings import Settings
from domain.errors import BundleDoesNotVerify, BundleError, BundleRefused
from domain.ledger import Ledger
from projections.translog import merkle
from projections.translog.bundle import export_bundle, import_bundle
from projections.translog.checkpoint import (
    Checkpoint,
    generate_signing_key,
    sign_checkpoint,
    verifier_key,
)
from projections.translog.tree import TransparencyLog, append_leaf

ORIGIN = "reliquary.test/ledger"
SIGNING_KEY = generate_signing_key(ORIGIN)
VERIFIER = verifier_key(SIGNING_KEY)


@pytest.fixture
def bundle(ledger: Ledger, database_url: str, tmp_path: Path) -> Path:
    """The demo ledger exported as a bundle."""
    load_demo(ledger)
    log = build_log(Settings(database_url=database_url, log_origin=ORIGIN), ledger)
    export_bundle(log, tmp_path / "bundle", SIGNING_KEY, VERIFIER)
    return tmp_path / "bundle"


@pytest.fixture
def empty(tmp_path: Path) -> TransparencyLog:
    """An empty ledger's log to restore into."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'restored.db'}", log_origin=ORIGIN)
    ledger = build_ledger(settings)
    yield build_log(settings, ledger)  # type: ignore[misc]
    ledger.close()


def _records(bundle: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (bundle / "events.jsonl").read_bytes().splitlines()]


def _resign(bundle: Path, records: list[dict[str, Any]], key: str = SIGNING_KEY) -> None:
    """Write ``records`` as the bundle's events and sign a checkpoint of them: it verifies."""
    lines = [rfc8785.dumps(record) for record in records]
    frontier: dict[merkle.Node, bytes] = {}
    for index, line in enumerate(lines):
        append_leaf(frontier, {}, index, merkle.leaf_hash(line))
    root = merkle.range_hash(0, len(lines), frontier)
    (bundle / "events.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    (bundle / "checkpoint").write_text(
        sign_checkpoint(Checkpoint(origin=ORIGIN, size=len(lines), root_hash=root), key)
    )
    (bundle / "verifier-key").write_text(verifier_key(key) + "\n")


def _type(record: dict[str, Any]) -> str:
    return str(record["topic"]).split("/")[1] if "/" in record["topic"] else record["topic"]


def _actor(record: dict[str, Any]) -> dict[str, Any]:
    """A leaf's actor (stored as the library's ``{"_type_": "actor", "_data_": ...}``)."""
    return dict(record["state"]["actor"]["_data_"])


def _appended(
    records: list[dict[str, Any]], template: dict[str, Any], *, state: Any = None, **changes: Any
) -> None:
    """Append a forged leaf for ``template``'s model at the model's next version."""
    model = template["model_id"]
    version = max(r["version"] for r in records if r["model_id"] == model) + 1
    forged = copy.deepcopy(template)
    forged["state"].update(state or {})
    records.append({**forged, **changes, "sequence": len(records), "version": version})


def _stored(log: TransparencyLog) -> int:
    return log.ledger.recorder.max_notification_id() or 0


def test_an_honest_bundle_is_restored_byte_for_byte(bundle: Path, empty: TransparencyLog) -> None:
    count = import_bundle(empty, bundle, VERIFIER)

    assert count == len(_records(bundle))
    lines = (bundle / "events.jsonl").read_bytes().splitlines()
    assert [merkle.leaf_hash(line) for line in lines][-1] == empty.recorder.nodes([(0, count - 1)])[
        (0, count - 1)
    ]


def test_a_publication_after_a_veto_is_refused_with_its_line_and_rule(
    bundle: Path, empty: TransparencyLog
) -> None:
    records = _records(bundle)
    vetoed = next(r for r in records if _type(r) == "EssayVetoed")
    published = next(
        r for r in records if _type(r) == "EssayPublished" and r["model_id"] == vetoed["model_id"]
    )
    state = {
        "essay_id": vetoed["state"]["essay_id"],
        "timestamp": records[-1]["state"]["timestamp"],
    }
    _appended(records, published, state=state)
    _resign(bundle, records)

    with pytest.raises(BundleRefused, match=rf"line {len(records)}: essay-published-after-veto"):
        import_bundle(empty, bundle, VERIFIER)
    assert _stored(empty) == 0


def test_a_decision_by_a_role_not_allowed_is_refused(bundle: Path, empty: TransparencyLog) -> None:
    records = _records(bundle)
    line = next(i for i, r in enumerate(records) if _type(r) == "AccessRequestApproved")
    records[line]["state"]["actor"]["_data_"]["role"] = "researcher"
    _resign(bundle, records)

    with pytest.raises(BundleRefused, match=rf"line {line + 1}: role-not-allowed") as refused:
        import_bundle(empty, bundle, VERIFIER)
    assert refused.value.facts["rule"] == "role-not-allowed"
    assert _stored(empty) == 0


def test_a_requester_approving_its_own_request_is_refused(
    bundle: Path, empty: TransparencyLog
) -> None:
    records = _records(bundle)
    line = next(i for i, r in enumerate(records) if _type(r) == "AccessRequestApproved")
    request_id = records[line]["state"]["request_id"]
    requested = next(
        r
        for r in records
        if _type(r) == "AccessRequested" and r["state"]["request_id"] == request_id
    )
    # The same actor id, presenting a board role this time.
    records[line]["state"]["actor"]["_data_"] = {**_actor(requested), "role": "board"}
    _resign(bundle, records)

    with pytest.raises(BundleRefused, match=rf"line {line + 1}: own-request-decision"):
        import_bundle(empty, bundle, VERIFIER)
    assert _stored(empty) == 0


def test_an_event_type_outside_the_catalogue_is_refused_and_nothing_is_imported(
    bundle: Path, empty: TransparencyLog
) -> None:
    records = _records(bundle)
    # A topic in the library's module:Class form; resolving it would import `this`.
    _appended(records, records[-1], topic="this:s")
    _resign(bundle, records)
    sys.modules.pop("this", None)

    with pytest.raises(BundleRefused, match="unknown event type 'this:s'"):
        import_bundle(empty, bundle, VERIFIER)
    assert "this" not in sys.modules
    assert _stored(empty) == 0


def test_a_changed_fact_the_rules_derive_is_refused(bundle: Path, empty: TransparencyLog) -> None:
    records = _records(bundle)
    line = next(i for i, r in enumerate(records) if _type(r) == "ArchiveVerified")
    records[line]["state"]["intact"] = not records[line]["state"]["intact"]
    _resign(bundle, records)

    with pytest.raises(BundleRefused, match=rf"line {line + 1}: .*intact differ"):
        import_bundle(empty, bundle, VERIFIER)


def test_the_verifier_key_must_be_pinned(bundle: Path, empty: TransparencyLog) -> None:
    with pytest.raises(BundleError, match="pin the verifier key"):
        import_bundle(empty, bundle, "")
    # A bundle re-signed by another key, with that key inside it, is refused.
    other = generate_signing_key(ORIGIN)
    _resign(bundle, _records(bundle), key=other)
    with pytest.raises(BundleDoesNotVerify, match="not the one you pinned"):
        import_bundle(empty, bundle, VERIFIER)
    assert _stored(empty) == 0
