"""The transparency log's CLI, in process, on each backend."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from api.cli import main
from projections.translog import merkle
from projections.translog.checkpoint import parse_tlog_proof, verify_checkpoint


@pytest.fixture
def cli(demo_cli):  # type: ignore[no-untyped-def]
    """The demo ledger's CLI (tests/e2e/conftest.py)."""
    return demo_cli


def test_init_creates_a_private_signing_key_once(cli, tmp_path: Path) -> None:
    key_file = tmp_path / "signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    before = key_file.read_text()
    code, out, _ = cli("init", "--json")
    assert json.loads(out)["signing_key_created"] is False
    assert key_file.read_text() == before
    code, out, _ = cli("key")
    assert code == 0
    assert out.strip().startswith("reliquary.local/ledger+")
    assert "PRIVATE" not in out


def test_a_readable_key_is_refused(cli, tmp_path: Path) -> None:
    os.chmod(tmp_path / "signing.key", 0o644)
    code, _, err = cli("checkpoint")
    assert code == 4  # the signing key is unavailable
    assert "readable by others" in err


def test_checkpoint_and_proofs_verify(cli) -> None:
    code, out, _ = cli("key")
    verifier = out.strip()
    code, out, _ = cli("checkpoint", "--json")
    checkpoint = json.loads(out)
    signed = verify_checkpoint(checkpoint["note"], verifier)
    assert signed.size == checkpoint["size"] > 100

    code, out, _ = cli("proof", "inclusion", "17", "--json")
    proof = json.loads(out)
    assert proof["tree_size"] == signed.size
    merkle.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        proof["leaf_index"],
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["audit_path"]],
        signed.root_hash,
    )

    code, out, _ = cli("proof", "inclusion", "17", "--tlog-proof")
    index, path, note, _extra = parse_tlog_proof(out)
    assert (index, [h.hex() for h in path]) == (17, proof["audit_path"])
    assert verify_checkpoint(note, verifier).root_hash == signed.root_hash

    code, out, _ = cli("proof", "consistency", "20", str(signed.size), "--json")
    consistency = json.loads(out)
    merkle.verify_consistency(
        20,
        signed.size,
        bytes.fromhex(consistency["old_root"]),
        signed.root_hash,
        [bytes.fromhex(h) for h in consistency["path"]],
    )

    code, _, err = cli("proof", "inclusion", "99999")
    assert code == 1
    assert "not in a tree" in err

    code, out, _ = cli("checkpoint", "--list", "--json")
    assert [c["size"] for c in json.loads(out)] == [signed.size]


def test_verify_with_a_kept_checkpoint(cli, tmp_path: Path) -> None:
    code, out, _ = cli("checkpoint")
    kept = tmp_path / "kept.checkpoint"
    kept.write_text(out)
    code, out, err = cli("verify", "--since", str(kept), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["ok"] is True
    assert report["extends_kept_checkpoint"] is True
    assert err.startswith("OK:")

    forged = tmp_path / "forged.checkpoint"
    forged.write_text(kept.read_text().replace("\n1", "\n2", 1))
    code, _, err = cli("verify", "--since", str(forged))
    assert code == 1
    assert "FAIL: the kept checkpoint does not verify" in err


def test_history_with_proofs_verifies_offline(cli) -> None:
    code, out, err = cli("history", "harbor-7b", "--proofs", "--json")
    assert code == 1  # a read never signs: nothing is signed yet
    assert "no signed checkpoint" in err and "reliquary checkpoint" in err
    assert cli("checkpoint")[0] == 0  # the operator signs, as a writer
    code, out, _ = cli("history", "harbor-7b", "--proofs", "--json")
    answer = json.loads(out)
    proofs = answer["proofs"]
    signed = verify_checkpoint(proofs["checkpoint"], proofs["verifier_key"])
    versions = []
    for leaf in proofs["leaves"]:
        leaf_hash = merkle.leaf_hash(leaf["leaf"].encode())
        assert leaf_hash.hex() == leaf["leaf_hash"]
        merkle.verify_inclusion(
            leaf_hash,
            leaf["sequence"],
            signed.size,
            [bytes.fromhex(h) for h in leaf["audit_path"]],
            signed.root_hash,
        )
        versions.append(json.loads(leaf["leaf"])["version"])
    # Per-model completeness: every version from 1 to the model's current one is proven.
    assert versions == list(range(1, answer["version"] + 1))


def test_export_verify_bundle_and_import(cli, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "bundle"
    code, out, _ = cli("export", str(bundle), "--json")
    assert code == 0
    exported = json.loads(out)["events"]
    names = sorted(p.name for p in bundle.iterdir())
    # Beside the four files, one manifest per WeightsPreserved digest (five in the demo).
    assert [n for n in names if not n.startswith("manifest-")] == [
        "README.md",
        "checkpoint",
        "events.jsonl",
        "verifier-key",
    ]
    assert len(names) == 4 + 5
    code, out, err = cli("verify-bundle", str(bundle), "--json")
    assert code == 0
    assert json.loads(out)["events"] == exported

    # A bundle imported into an empty ledger gives the same root.
    root = json.loads(out)["root"]
    empty = f"sqlite:///{tmp_path / 'imported.db'}"
    pinned = cli("key")[1].strip()  # the key the operator published, pinned by the importer
    capsys.readouterr()
    assert main(["--database-url", empty, "import", str(bundle), "--key", pinned, "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported == {"events": exported, "root": root}

    # One changed byte, and the bundle no longer verifies.
    events = bundle / "events.jsonl"
    events.write_bytes(events.read_bytes().replace(b"Opus 3", b"Opus 4", 1))
    code, _, err = cli("verify-bundle", str(bundle))
    assert code == 1
    assert "FAIL: root mismatch" in err


def test_an_auditor_without_the_private_key(cli, tmp_path: Path) -> None:
    code, out, _ = cli("key")
    pinned = tmp_path / "pinned.key"
    pinned.write_text(out)
    assert cli("checkpoint")[0] == 0
    (tmp_path / "signing.key").rename(tmp_path / "elsewhere.key")

    # verify with the pinned key (as a file), proofs against the latest kept checkpoint.
    code, out, err = cli("verify", "--key", str(pinned), "--json")
    assert code == 0
    assert json.loads(out)["ok"] is True
    code, out, err = cli("proof", "inclusion", "3", "--json")
    assert code == 0
    assert "latest checkpoint" in err
    code, out, _ = cli("history", "harbor-7b", "--proofs", "--json")
    assert code == 0
    assert json.loads(out)["proofs"]["verifier_key"] is None  # the auditor uses the pinned key
    code, _, err = cli("verify")
    assert code == 4  # no key to verify with
    assert "--key" in err


def test_grant_service_role_is_for_postgres(cli, database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("the PostgreSQL case is tested in tests/integration/test_append_only.py")
    code, _, err = cli("grant-service-role", "someone")
    assert code == 2
    assert "SQLite has no roles" in err
