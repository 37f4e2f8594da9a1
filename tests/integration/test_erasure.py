"""Erasure that keeps every proof valid: a person's values are gone, every proof still holds.

A person's requests are sealed as they are recorded; `erase_subject` destroys their key in the
transaction that records `SubjectErased`. Afterwards their values are nowhere in the store's
tables (events, openings, views), the history and the register say they were erased, the rules
refuse to seal anything more for them, and the log (every earlier checkpoint, every inclusion
and consistency proof) verifies exactly as before.
"""

from __future__ import annotations

from typing import Any

import pytest

from api.bootstrap import build_log, build_views
from api.settings import Settings
from domain import errors
from domain.ledger import Ledger
from projections import registers
from projections.queries import Queries
from projections.translog import merkle
from projections.translog.checkpoint import generate_signing_key, verifier_key
from projections.translog.verify import verify_log
from tests.support import doc, parse, register, unique

SIGNING_KEY = generate_signing_key("reliquary.test/ledger")

NAME, ORG, PURPOSE, REASON = "Dr. Ada Quill", "Quill Lab", "study the model's refusals", "no plan"


def _request(model: str, request_id: str, actor: str) -> dict[str, Any]:
    return {
        **doc(
            "request_access",
            model,
            role="researcher",
            request_id=request_id,
            requester=NAME if actor == "ada" else "Other Person",
            organisation=ORG if actor == "ada" else "Other Org",
            requester_group="academic",
            purpose=PURPOSE if actor == "ada" else "other purpose",
            scope="API access",
        ),
        "actor": {"id": actor, "role": "researcher"},
    }


def _all_text(ledger: Ledger, views: Any) -> bytes:
    """Every byte of every row the store's own tables hold (events, openings, keys, views)."""
    recorder: Any = ledger.recorder
    found = b""
    with recorder.datastore.transaction(commit=False) as cursor:
        for table in (recorder.openings_table, recorder.subjects_table):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (constant names)
            for row in cursor.fetchall():
                values = row.values() if isinstance(row, dict) else tuple(row)
                found += repr(tuple(values)).encode()
    for table in ("view_access_requests", "view_timeline", "view_search"):
        for row in views.recorder.fetch(f"SELECT * FROM {table}", ()):  # noqa: S608
            found += repr(tuple(row)).encode()
    for notification in ledger.notifications_after(0):
        found += notification.state
    return found


def test_erasure_removes_the_values_and_keeps_every_proof(
    database_url: str, ledger: Ledger
) -> None:
    settings = Settings(database_url=database_url, log_origin="reliquary.test/ledger")
    model = unique()
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_request(model, "r1", "ada")))
    ledger.execute(parse(_request(model, "r2", "bob")))
    deny = doc("deny_access_request", model, role="board", request_id="r1",
               reason_code="incomplete_application", reason=REASON)  # fmt: skip
    ledger.execute(parse(deny))
    log = build_log(settings, ledger)
    log.catch_up()
    views = build_views(ledger, settings, tables_exist=True)
    views.catch_up()
    log.checkpoint(SIGNING_KEY)  # a checkpoint signed before the erasure
    size_before, root_before = log.size(), log.root()
    # Before: the value is in the store (encrypted in its opening, opened in the register).
    # Before: the board reads the register opened.
    rows = {r.request_id: r for r in registers.access_requests(views.recorder, model)}
    assert (rows["r1"].requester, rows["r1"].reason) == (NAME, REASON)

    erase = doc("erase_subject", model, role="board", subject="ada")
    ledger.execute(parse(erase))
    log.catch_up()
    views.catch_up()

    # The values are nowhere in the store's tables; the other person's still read.
    text = _all_text(ledger, views)
    for value in (NAME, ORG, PURPOSE, REASON):
        assert value.encode() not in text, value
    rows = {r.request_id: r for r in registers.access_requests(views.recorder, model)}
    assert (rows["r1"].requester, rows["r1"].purpose, rows["r1"].reason) == ("[erased]",) * 3
    assert rows["r2"].requester == "Other Person"
    # The history says so; the events keep their commitments.
    history = Queries(ledger, views, None).history(model)  # type: ignore[arg-type]
    requested = history.events[1]["facts"]["requester"]
    assert requested["erased"] is True and requested["commitment"].startswith("sha256:")
    # Every earlier tree is still the prefix of the log, and the log verifies.
    assert log.root(size_before) == root_before
    consistency = log.consistency_proof(size_before, log.size())
    merkle.verify_consistency(
        size_before, log.size(), consistency.old_root, consistency.new_root, consistency.path
    )
    for index in range(size_before):
        proof = log.inclusion_proof(index, size_before)
        merkle.verify_inclusion(proof.leaf_hash, index, size_before, proof.path, root_before)
    log.checkpoint(SIGNING_KEY)
    assert verify_log(log, verifier_key(SIGNING_KEY)).ok
    # Nothing more is sealed for the erased person; their earlier request cannot move on.
    with pytest.raises(errors.SubjectErased):
        ledger.execute(parse(_request(model, "r3", "ada")))
    assert ledger.state(model).erased_subjects == (history.events[-1]["facts"]["subject"],)
