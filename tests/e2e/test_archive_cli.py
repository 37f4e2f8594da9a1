"""Preserving weights by manifest and verifying copies of the archive, through the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from api.cli import main


@pytest.fixture
def cli(demo_cli):  # type: ignore[no-untyped-def]
    """The demo ledger's CLI (tests/e2e/conftest.py)."""
    return demo_cli


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    root = tmp_path / "weights"
    (root / "shards").mkdir(parents=True)
    (root / "config.json").write_text('{"layers": 2}')
    (root / "shards" / "model-00001.safetensors").write_bytes(bytes(range(256)) * 4000)
    (root / "shards" / "model-00002.safetensors").write_bytes(b"\x01" * 50_000)
    (root / "tokenizer é.json").write_text("{}")
    return root


def _preserve(cli, archive: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = cli(
        "preserve",
        "lumen-4",
        str(archive),
        "--location",
        "s3://archive/lumen-4",
        "--custodian",
        "Archive team",
        "--rationale",
        "Weights archived before retirement.",
        "--actor-id",
        "curator-1",
        "--json",
    )
    assert code == 0, err
    recorded = json.loads(out)
    assert recorded["event"] == "WeightsPreserved"
    assert recorded["files"] == 4
    assert (recorded["oms_root_digest"], recorded["oms_bundle_digest"]) == (None, None)
    # A read never signs: the operator signs a checkpoint that covers the record.
    assert cli("checkpoint")[0] == 0


def _statuses(out: str) -> dict[str, str]:
    return {f["path"]: f["status"] for f in json.loads(out)["files"]}


def test_manifest_matches_sha256sum_lines(cli, archive: Path) -> None:
    code, out, _ = cli("manifest", str(archive), "--json")
    manifest = json.loads(out)
    lines = "".join(
        f"{hashlib.sha256((archive / f['path']).read_bytes()).hexdigest()}  {f['path']}\n"
        for f in manifest["files"]
    )
    assert [f["path"] for f in manifest["files"]] == sorted(
        (f["path"] for f in manifest["files"]), key=lambda p: p.encode()
    )
    assert manifest["manifest_digest"] == hashlib.sha256(lines.encode()).hexdigest()


def test_an_identical_copy_verifies_with_its_inclusion_proof(cli, archive: Path) -> None:
    _preserve(cli, archive)
    copy = archive.parent / "copy"
    shutil.copytree(archive, copy)
    code, out, err = cli("verify-archive", "lumen-4", str(copy), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["intact"] is True
    assert set(_statuses(out).values()) == {"OK"}
    assert result["recorded_in"]["inclusion_verified"] is True
    assert result["recorded_in"]["version"] == 3
    # The copy's OMS root digest, recomputed here: raw SHA-256s in path-component order.
    paths = sorted(
        (p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file()),
        key=lambda path: path.split("/"),
    )
    raw = b"".join(hashlib.sha256((copy / path).read_bytes()).digest() for path in paths)
    assert result["observed_oms_root_digest"] == hashlib.sha256(raw).hexdigest()
    assert result["recorded_oms_root_digest"] is None  # preserved without a model.sig


def test_every_kind_of_difference_is_named_and_can_be_recorded(cli, archive: Path) -> None:
    _preserve(cli, archive)
    (archive / "shards" / "model-00002.safetensors").write_bytes(b"\x02" * 50_000)
    (archive / "config.json").unlink()
    (archive / "notes.txt").write_text("added later")

    code, out, _ = cli(
        "verify-archive",
        "lumen-4",
        str(archive),
        "--record",
        "--location",
        "s3://archive/lumen-4",
        "--actor-id",
        "auditor-1",
        "--actor-role",
        "auditor",
        "--json",
    )
    assert code == 1
    assert _statuses(out) == {
        "config.json": "MISSING",
        "notes.txt": "UNEXPECTED",
        "shards/model-00001.safetensors": "OK",
        "shards/model-00002.safetensors": "MODIFIED",
        "tokenizer é.json": "OK",
    }
    # The check is now on the record: not intact, and which files differ.
    code, out, _ = cli("history", "lumen-4", "--json")
    last = json.loads(out)["events"][-1]
    assert last["type"] == "ArchiveVerified"
    assert last["facts"]["intact"] is False
    assert {d["path"]: d["status"] for d in last["facts"]["differing_files"]} == {
        "config.json": "missing",
        "notes.txt": "unexpected",
        "shards/model-00002.safetensors": "modified",
    }


def test_verify_archive_from_a_bundle_needs_no_database(
    cli, archive: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    _preserve(cli, archive)
    assert cli("export", str(tmp_path / "bundle"))[0] == 0
    key = cli("key")[1].strip()
    # No database at all: an unreachable URL would fail if it were used.
    code = main(
        [
            "--database-url",
            "postgresql://nobody@127.0.0.1:1/none",
            "verify-archive",
            "--bundle",
            str(tmp_path / "bundle"),
            "--key",
            key,
            "lumen-4",
            str(archive),
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out)["intact"] is True


def test_usage_errors_exit_2(cli, archive: Path, tmp_path: Path) -> None:
    _preserve(cli, archive)
    assert cli("verify-archive", "lumen-4", str(tmp_path / "absent"))[0] == 2
    assert cli("verify-archive", "lumen-4", str(archive), "--record")[0] == 2
    (archive / "link").symlink_to(archive / "config.json")
    code, _, err = cli("verify-archive", "lumen-4", str(archive))
    assert code == 2
    assert "link" in err


def test_a_model_without_preserved_weights(cli, archive: Path) -> None:
    code, _, err = cli("verify-archive", "lumen-4", str(archive))
    assert code == 1
    assert "no preserved weights" in err
