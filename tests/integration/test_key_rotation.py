"""Key rotation: checkpoints signed by an earlier key stay verifiable; new ones use the new key."""

from __future__ import annotations

import pytest

from api.cli.demo import load_demo
from domain.ledger import Ledger
from projections.translog.checkpoint import generate_signing_key, verifier_key, verify_checkpoint
from projections.translog.verify import verify_log
from tests.support import open_log


def test_rotation_keeps_old_checkpoints_verifiable(database_url: str, ledger: Ledger) -> None:
    log = open_log(database_url, ledger)
    load_demo(ledger)
    old, new = (
        generate_signing_key("reliquary.test/ledger"),
        generate_signing_key("reliquary.test/ledger"),
    )

    # The last checkpoint under the old key...
    before = log.checkpoint(old)
    # ...and, with nothing new recorded, the first under the new key: a new note, same tree.
    after = log.checkpoint(new)
    assert after.note != before.note
    assert (after.size, after.root_hash) == (before.size, before.root_hash)
    verify_checkpoint(after.note, verifier_key(new))
    assert log.checkpoint(new) == after  # and it is reused, not signed again

    # An auditor who trusts both keys finds everything in order...
    report = verify_log(log, [verifier_key(new), verifier_key(old)], kept_checkpoint=before.note)
    assert report.problems == []
    assert report.checkpoints_checked == 2
    assert report.extends_kept_checkpoint is True
    # ...one who trusts only the new key is told which checkpoint it cannot check.
    report = verify_log(log, verifier_key(new))
    assert not report.ok
    assert report.problems[0].startswith(f"checkpoint of size {before.size}:")


def test_a_checkpoint_by_an_unknown_key_is_reported(database_url: str, ledger: Ledger) -> None:
    log = open_log(database_url, ledger)
    load_demo(ledger)
    stranger = generate_signing_key("reliquary.test/ledger")
    log.checkpoint(stranger)
    report = verify_log(log, verifier_key(generate_signing_key("reliquary.test/ledger")))
    with pytest.raises(AssertionError):
        assert report.ok
