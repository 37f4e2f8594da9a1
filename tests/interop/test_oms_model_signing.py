"""OMS model signing both ways, checked by `model-signing` 1.1.1 itself, on each backend.

(a) A folder signed by model_signing (its Python API, an EC P-256 key) is preserved with
``--oms-bundle``: the event records the bundle's root digest and the SHA-256 of its bytes; a
model.sig of another or a tampered folder is refused and appends nothing. (b) ``reliquary oms
export`` writes a model.sig that ``python -m model_signing verify key`` and its Python API
accept unchanged, and that they refuse once a file is tampered with or with another public
key. The domain rule is checked at the ledger too (any door), and verify-archive takes either
digest. model-signing is a development dependency (with the pyOpenSSL it imports): these tests
run wherever the tests do, never skipped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from eventsourcing.persistence import StoredEvent

from api.bootstrap import build_ledger
from api.cli import main
from api.settings import Settings
from domain.decisions import Actor
from domain.errors import OmsRootMismatch
from domain.identity import model_id
from domain.ledger import Ledger
from domain.lifecycle import ModelLifecycle
from tests.support import doc, parse, register, unique


@dataclass(frozen=True)
class Cli:
    """``reliquary ARGS`` on a store (exit code, stdout, stderr), and its one model."""

    run: Callable[..., tuple[int, str, str]]
    model: str
    url: str

    def __call__(self, *args: str) -> tuple[int, str, str]:
        return self.run(*args)


LOCATION = ("--location", "s3://archive/oms", "--custodian", "Archive team")
WHO = ("--rationale", "Archived with its model.sig.", "--actor-id", "curator-1")


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    """A model folder whose order differs between OMS and the manifest ("a/b" and "a.b")."""
    root = tmp_path / "weights"
    (root / "a").mkdir(parents=True)
    (root / "a" / "b").write_bytes(b"shard one")
    (root / "a.b").write_bytes(b"shard two")
    (root / "config.json").write_text('{"layers": 2}')
    (root / "tokenizer é.json").write_text("{}")
    return root


def _pem_private(key: Any) -> bytes:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _key_pair(folder: Path, name: str) -> tuple[Path, Path]:
    """An EC P-256 key pair as PEM files: (private, public)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}-pub.pem"
    private.write_bytes(_pem_private(key))
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    return _key_pair(tmp_path, "signer")


def _sign_with_model_signing(folder: Path, key: Path, signature: Path) -> None:
    import model_signing

    model_signing.signing.Config().use_elliptic_key_signer(private_key=key).sign(folder, signature)


def _model_signing_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this interpreter, the test's own arguments)
        [sys.executable, "-m", "model_signing", *args], capture_output=True, text=True
    )


def _independent_root(folder: Path) -> str:
    """OMS's root, recomputed here: the raw SHA-256 of each file, by path components."""
    paths = sorted(
        (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()),
        key=lambda path: path.split("/"),
    )
    raw = b"".join(hashlib.sha256((folder / path).read_bytes()).digest() for path in paths)
    return hashlib.sha256(raw).hexdigest()


@pytest.fixture
def cli(database_url: str, tmp_path: Path, capsys: Any, monkeypatch: Any) -> Cli:
    """``reliquary ARGS`` on an initialised store of each backend with one registered model."""
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(tmp_path / "signing.key"))
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert run("init")[0] == 0
    model = unique("oms")
    commands = tmp_path / "register.jsonl"
    commands.write_text(json.dumps(register(model)) + "\n")
    assert run("apply", str(commands))[0] == 0, "the model is registered"
    return Cli(run, model, database_url)


def _events(cli: Cli) -> list[Any]:
    ledger = build_ledger(Settings(database_url=cli.url))
    try:
        return ledger.history(cli.model)
    finally:
        ledger.close()


def _preserve(cli: Cli, folder: Path, *extra: str) -> tuple[int, str, str]:
    return cli("preserve", cli.model, str(folder), *LOCATION, *WHO, *extra, "--json")


# --- (a) a model.sig made by model_signing, recorded by preserve ------------------------------


def test_a_folder_signed_by_model_signing_is_preserved_with_its_root_and_bundle_digest(
    cli: Cli, weights: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    signature = tmp_path / "model.sig"  # outside the folder: every file of it is signed
    _sign_with_model_signing(weights, keys[0], signature)
    signed = json.loads(
        base64.b64decode(json.loads(signature.read_bytes())["dsseEnvelope"]["payload"])
    )
    root = signed["subject"][0]["digest"]["sha256"]
    assert root == _independent_root(weights)

    code, out, err = _preserve(cli, weights, "--oms-bundle", str(signature))
    assert code == 0, err
    printed = json.loads(out)
    bundle_digest = hashlib.sha256(signature.read_bytes()).hexdigest()
    assert (printed["oms_root_digest"], printed["oms_bundle_digest"]) == (root, bundle_digest)
    event = _events(cli)[-1]
    assert isinstance(event, ModelLifecycle.WeightsPreserved)
    assert event.oms_root_digest == root
    assert event.oms_bundle_digest == bundle_digest
    assert event.manifest_digest == printed["manifest_digest"]
    # The root of the OMS order is not the manifest digest (byte order, paths in the lines).
    assert event.manifest_digest != root


def test_a_model_sig_of_a_tampered_or_other_folder_is_refused_and_nothing_is_appended(
    cli: Cli, weights: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    signature = tmp_path / "model.sig"
    _sign_with_model_signing(weights, keys[0], signature)
    before = len(_events(cli))

    tampered = tmp_path / "tampered"
    shutil.copytree(weights, tampered)
    (tampered / "a.b").write_bytes(b"shard two, altered")
    code, _, err = _preserve(cli, tampered, "--oms-bundle", str(signature))
    assert code == 2
    assert "1 file(s) differ from what it signs: 'a.b'" in err

    other = tmp_path / "other"
    shutil.copytree(weights, other)
    (other / "extra.bin").write_bytes(b"not signed")
    (other / "config.json").unlink()
    code, _, err = _preserve(cli, other, "--oms-bundle", str(signature))
    assert code == 2
    assert "it signs are not in the folder: 'config.json'" in err
    assert "the folder it does not sign: 'extra.bin'" in err
    assert len(_events(cli)) == before


def test_a_model_sig_that_left_files_out_by_its_ignore_paths_is_refused(
    cli: Cli, weights: Path, keys: tuple[Path, Path]
) -> None:
    # model_signing's CLI leaves the signature itself (and .git...) out of what it signs; a
    # manifest lists every file, so the two would not describe the same folder.
    signature = weights / "model.sig"
    signed = _model_signing_cli(
        "sign", "key", "--private_key", str(keys[0]), "--signature", str(signature), str(weights)
    )
    assert signed.returncode == 0, signed.stderr
    code, _, err = _preserve(cli, weights, "--oms-bundle", str(signature))
    assert code == 2
    assert "left out by its ignore_paths" in err and "'model.sig'" in err
    assert len(_events(cli)) == 1  # the registration only


def test_what_is_not_an_oms_bundle_is_refused(cli: Cli, weights: Path, tmp_path: Path) -> None:
    for name, content in [
        ("not-json.sig", b"\x00\x01"),
        ("statement.sig", b'{"_type": "https://in-toto.io/Statement/v1"}'),
        ("other-media.sig", b'{"mediaType": "x", "dsseEnvelope": {}}'),
    ]:
        (tmp_path / name).write_bytes(content)
        code, _, err = _preserve(cli, weights, "--oms-bundle", str(tmp_path / name))
        assert code == 2, name
        assert name in err
    code, _, err = _preserve(cli, weights, "--oms-bundle", str(tmp_path / "absent.sig"))
    assert code == 2 and "cannot read the OMS bundle" in err
    assert len(_events(cli)) == 1


# --- (b) reliquary oms export, verified by model_signing --------------------------------------


def _export(cli: Cli, key: Path, output: Path) -> dict[str, Any]:
    code, out, err = cli(
        "oms", "export", cli.model, "--key", str(key), "--output", str(output), "--json"
    )
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_an_exported_bundle_verifies_with_model_signing_and_fails_when_tampered_or_wrong_key(
    cli: Cli, weights: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    import model_signing

    assert _preserve(cli, weights)[0] == 0
    signature = tmp_path / "exported.sig"
    written = _export(cli, keys[0], signature)
    assert written["path"] == str(signature)
    assert written["oms_root_digest"] == _independent_root(weights)
    assert written["bundle_digest"] == hashlib.sha256(signature.read_bytes()).hexdigest()
    assert written["files"] == 4
    assert keys[0].read_text().splitlines()[1] not in json.dumps(written)  # never the key

    verified = _model_signing_cli(
        "verify", "key", "--signature", str(signature), "--public_key", str(keys[1]), str(weights)
    )
    assert verified.returncode == 0, verified.stderr
    assert "Verification succeeded" in verified.stdout
    # Its Python API too, guessing the hashing from the statement.
    model_signing.verifying.Config().use_elliptic_key_verifier(public_key=keys[1]).verify(
        weights, signature
    )

    other_pub = _key_pair(tmp_path, "other")[1]
    wrong = _model_signing_cli(
        "verify", "key", "--signature", str(signature), "--public_key", str(other_pub), str(weights)
    )
    assert wrong.returncode == 1
    assert "Key mismatch" in wrong.stderr

    (weights / "a" / "b").write_bytes(b"shard one, altered")
    tampered = _model_signing_cli(
        "verify", "key", "--signature", str(signature), "--public_key", str(keys[1]), str(weights)
    )
    assert tampered.returncode == 1
    assert "Hash mismatch for 'a/b'" in tampered.stderr


def test_an_exported_bundle_is_one_model_signing_reads_as_its_own(
    cli: Cli, weights: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    # The same key signing the same folder: model_signing's bundle and ours carry the same
    # statement (but for the subject's name and the ignore list) and the same key hint.
    assert _preserve(cli, weights)[0] == 0
    ours, theirs = tmp_path / "ours.sig", tmp_path / "theirs.sig"
    _export(cli, keys[0], ours)
    _sign_with_model_signing(weights, keys[0], theirs)
    a, b = json.loads(ours.read_bytes()), json.loads(theirs.read_bytes())
    assert a["mediaType"] == b["mediaType"]
    assert a["verificationMaterial"] == b["verificationMaterial"]
    statement_a, statement_b = (
        json.loads(base64.b64decode(x["dsseEnvelope"]["payload"])) for x in (a, b)
    )
    assert statement_a["subject"][0]["digest"] == statement_b["subject"][0]["digest"]
    assert statement_a["predicate"]["resources"] == statement_b["predicate"]["resources"]
    # And the exported bundle is itself accepted by preserve --oms-bundle.
    code, out, err = _preserve(cli, weights, "--oms-bundle", str(ours))
    assert code == 0, err
    assert json.loads(out)["oms_root_digest"] == statement_a["subject"][0]["digest"]["sha256"]


def test_a_key_that_is_not_p256_is_refused_and_never_printed(
    cli: Cli, weights: Path, tmp_path: Path
) -> None:
    assert _preserve(cli, weights)[0] == 0
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(_pem_private(ec.generate_private_key(ec.SECP384R1())))
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        _pem_private(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    )
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    public = _key_pair(tmp_path, "pair")[1]
    output = tmp_path / "never.sig"
    for key, says in [
        (p384, "on secp384r1, not P-256"),
        (rsa_key, "of type RSA, not ECDSA P-256"),
        (encrypted, "is encrypted"),
        (public, "is not a PEM private key"),
    ]:
        code, out, err = cli("oms", "export", cli.model, "--key", str(key), "--output", str(output))
        assert code == 2, key
        assert says in err
        secret_line = key.read_text().splitlines()[1]
        assert secret_line not in out + err
    assert not output.exists()


def test_export_needs_preserved_weights(cli: Cli, keys: tuple[Path, Path], tmp_path: Path) -> None:
    code, _, err = cli(
        "oms", "export", cli.model, "--key", str(keys[0]), "--output", str(tmp_path / "x.sig")
    )
    assert code == 1
    assert "no preserved weights" in err


# --- verify-archive: either digest -------------------------------------------------------------


def test_verify_archive_shows_and_compares_the_oms_root_and_takes_either_digest(
    cli: Cli, weights: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    signature = tmp_path / "model.sig"
    _sign_with_model_signing(weights, keys[0], signature)
    code, out, err = _preserve(cli, weights, "--oms-bundle", str(signature))
    assert code == 0, err
    recorded = json.loads(out)
    assert cli("checkpoint")[0] == 0
    root = recorded["oms_root_digest"]

    code, out, err = cli("verify-archive", cli.model, str(weights), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["observed_oms_root_digest"] == result["recorded_oms_root_digest"] == root
    assert result["recorded_oms_bundle_digest"] == recorded["oms_bundle_digest"]

    for given, form in [
        (root, "oms_root_digest"),
        (recorded["manifest_digest"], "manifest_digest"),
    ]:
        code, out, err = cli("verify-archive", cli.model, str(weights), "--digest", given, "--json")
        assert code == 0, err
        assert json.loads(out)["expected_digest"] == {"digest": given, "form": form}

    code, out, err = cli("verify-archive", cli.model, str(weights), "--digest", "0" * 64)
    assert code == 1
    assert "neither the manifest digest" in err and root in err
    code, _, err = cli("verify-archive", cli.model, str(weights), "--digest", "ABC")
    assert code == 2

    (weights / "config.json").write_text('{"layers": 3}')
    code, out, _ = cli("verify-archive", cli.model, str(weights), "--json")
    assert code == 1
    result = json.loads(out)
    assert result["observed_oms_root_digest"] != root == result["recorded_oms_root_digest"]


def test_verify_archive_without_a_recorded_bundle_still_shows_the_copy_s_oms_root(
    cli: Cli, weights: Path, tmp_path: Path
) -> None:
    assert _preserve(cli, weights)[0] == 0
    assert cli("checkpoint")[0] == 0
    code, out, err = cli("verify-archive", cli.model, str(weights))
    assert code == 0, err
    assert f"OMS root digest {_independent_root(weights)} (the record names no OMS" in err
    # From an exported audit bundle, with no database, the same.
    assert cli("export", str(tmp_path / "bundle"))[0] == 0
    key = cli("key")[1].strip()
    code, out, err = cli(
        "verify-archive", "--bundle", str(tmp_path / "bundle"), "--key", key, cli.model,
        str(weights), "--digest", _independent_root(weights), "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["recorded_oms_root_digest"] is None
    assert result["expected_digest"]["form"] == "oms_root_digest"


def test_a_bundle_with_an_oms_preservation_restores_and_replays_the_rule(
    cli: Cli, weights: Path, keys: tuple[Path, Path], tmp_path: Path
) -> None:
    # Restoring replays each event through the aggregate: the recorded root is checked again.
    signature = tmp_path / "model.sig"
    _sign_with_model_signing(weights, keys[0], signature)
    assert _preserve(cli, weights, "--oms-bundle", str(signature))[0] == 0
    assert cli("checkpoint")[0] == 0
    assert cli("export", str(tmp_path / "bundle"))[0] == 0
    key = cli("key")[1].strip()
    code, out, err = cli(
        "verify-archive", "--bundle", str(tmp_path / "bundle"), "--key", key, cli.model,
        str(weights), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["recorded_oms_root_digest"] == _independent_root(weights)
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert cli("--database-url", fresh, "init")[0] == 0
    code, _, err = cli("--database-url", fresh, "import", str(tmp_path / "bundle"), "--key", key)
    assert code == 0, err
    ledger = build_ledger(Settings(database_url=fresh))
    try:
        event = ledger.history(cli.model)[-1]
    finally:
        ledger.close()
    assert event.oms_root_digest == _independent_root(weights)  # type: ignore[attr-defined]
    assert event.oms_bundle_digest == hashlib.sha256(signature.read_bytes()).hexdigest()  # type: ignore[attr-defined]


# --- the domain rule, at the ledger (every door) ----------------------------------------------


def _preserve_document(model: str, oms: dict[str, Any]) -> dict[str, Any]:
    from tests.support import manifest

    return doc(
        "preserve_weights",
        model,
        manifest=manifest({"a/b": b"one", "a.b": b"two"}),
        locations=["s3://archive/x"],
        custodian="Archive team",
        retention="indefinitely",
        **oms,
    )


def test_the_ledger_refuses_a_root_that_is_not_the_oms_root_of_the_files(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    raw = [hashlib.sha256(content).digest() for content in (b"one", b"two")]  # a/b, then a.b
    right = hashlib.sha256(b"".join(raw)).hexdigest()
    byte_order = hashlib.sha256(b"".join(reversed(raw))).hexdigest()  # a.b first: not OMS's
    for oms in [
        {"oms_root_digest": byte_order},
        {"oms_root_digest": "0" * 64, "oms_bundle_digest": "1" * 64},
        {"oms_bundle_digest": "1" * 64},
    ]:
        with pytest.raises(OmsRootMismatch, match="oms-root-mismatch"):
            ledger.execute(parse(_preserve_document(model, oms)))
    assert ledger.version_of(model) == 1
    ledger.execute(parse(_preserve_document(model, {"oms_root_digest": right})))
    event = ledger.history(model)[-1]
    assert (event.oms_root_digest, event.oms_bundle_digest) == (right, None)


def test_a_stored_version_2_preservation_reads_with_no_oms_digests(ledger: Ledger) -> None:
    model = unique()
    ledger.execute(parse(register(model)))
    state = {  # as a version-2 writer stored it: no OMS fields
        "timestamp": datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
        "actor": Actor(id="curator-1", role="curator"),
        "rationale": "archived before the OMS fields",
        "evidence": (),
        "effective_at": None,
        "manifest_digest": "a" * 64,
        "file_count": 2,
        "total_bytes": 6,
        "locations": ("s3://archive/old",),
        "custodian": "Archive team",
        "retention": "indefinitely",
        "class_version": 2,
    }
    ledger.recorder.insert_events(
        [
            StoredEvent(
                originator_id=model_id(model),
                originator_version=2,
                topic=ModelLifecycle.WeightsPreserved.TOPIC,
                state=ledger.mapper.transcoder.encode(state),
            )
        ]
    )
    event = ledger.history(model)[-1]
    assert isinstance(event, ModelLifecycle.WeightsPreserved)
    assert (event.oms_root_digest, event.oms_bundle_digest) == (None, None)
    assert event.manifest_digest == "a" * 64
