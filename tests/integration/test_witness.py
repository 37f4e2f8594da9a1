"""Reliquary as a C2SP tlog-witness: hostile submissions and racing ones, on both backends.

The logs submitted here are built in the test: leaves, roots and consistency proofs from
RFC 6962 section 2.1.2 (`_consistency`, written from the RFC, not Reliquary's), checkpoints
signed with a note key. Every answer is checked as c2sp.org/tlog-witness states it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Services, build_services
from api.settings import Settings
from projections.translog.checkpoint import Checkpoint, generate_signing_key, sign_checkpoint
from projections.translog.checkpoint import verifier_key as note_verifier_key
from projections.translog.cosignature import (
    cosigner_verifier_key,
    generate_cosigner_key,
    verify_cosignature,
)
from projections.translog.witness import MAX_BODY_BYTES, MAX_PROOF_LINES, Witness
from tests.rfc6962 import consistency, leaf, root

ORIGIN = "example.com/witnessed-log"


class Log:
    """A log in the test: its leaves and its note key."""

    def __init__(self, key: str, prefix: bytes = b"entry") -> None:
        self.key = key
        self.leaves = [leaf(prefix + b" %d" % i) for i in range(64)]

    def note(self, size: int, origin: str = ORIGIN) -> str:
        return sign_checkpoint(Checkpoint(origin, size, root(self.leaves[:size])), self.key)

    def body(self, old: int, size: int, proof: list[bytes] | None = None) -> bytes:
        if proof is None:
            proof = consistency(old, self.leaves[:size]) if 0 < old < size else []
        lines = [f"old {old}", *(_b64(h) for h in proof)]
        return ("\n".join(lines) + "\n\n" + self.note(size)).encode()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _write_private(path: Path, text: str) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")
    return path


@pytest.fixture
def witness_settings(database_url: str, tmp_path: Path) -> tuple[Settings, Log, str]:
    log_key = generate_signing_key(ORIGIN)
    witness_key = generate_cosigner_key("witness.example/reliquary")
    config = tmp_path / "witness.json"
    config.write_text(
        json.dumps({"logs": [{"origin": ORIGIN, "verifier_key": note_verifier_key(log_key)}]})
    )
    settings = Settings(
        database_url=database_url,
        witness_config=config,
        witness_key=_write_private(tmp_path / "witness.key", witness_key),
        signing_key=tmp_path / "ledger.key",
    )
    return settings, Log(log_key), cosigner_verifier_key(witness_key)


@pytest.fixture
def services(witness_settings: tuple[Settings, Log, str]) -> Iterator[Services]:
    opened = build_services(witness_settings[0])
    yield opened
    opened.close()


@pytest.fixture
def witness(services: Services) -> Witness:
    assert services.witness is not None
    return services.witness


def test_cosigns_a_log_as_it_grows(witness, witness_settings) -> None:  # type: ignore[no-untyped-def]
    _, log, vkey = witness_settings
    for old, size in ((0, 3), (3, 8), (8, 8), (8, 21)):
        answer = witness.add_checkpoint(log.body(old, size))
        assert (answer.status, answer.content_type) == (200, "text/plain; charset=utf-8")
        assert answer.body.startswith("\u2014 witness.example/reliquary ")
        assert answer.body.endswith("\n") and answer.body.count("\n") == 1
        verify_cosignature(log.note(size) + answer.body, vkey)
    assert witness.store.state(ORIGIN).size == 21  # type: ignore[union-attr]


def test_old_size_not_the_witness_s_is_409_with_its_size(witness, witness_settings) -> None:  # type: ignore[no-untyped-def]
    _, log, _ = witness_settings
    assert witness.add_checkpoint(log.body(0, 5)).status == 200
    for old in (0, 4, 6):
        answer = witness.add_checkpoint(log.body(old, 9))
        assert (answer.status, answer.body, answer.content_type) == (409, "5\n", "text/x.tlog.size")
    fresh = Log(generate_signing_key(ORIGIN))
    assert witness.add_checkpoint(fresh.body(0, 1)).status == 403  # not the configured key


def test_wrong_log_signature_is_403_and_unknown_origin_404(witness, witness_settings) -> None:  # type: ignore[no-untyped-def]
    _, log, _ = witness_settings
    impostor = Log(generate_signing_key(ORIGIN))  # same name, another key
    assert witness.add_checkpoint(impostor.body(0, 4)).status == 403
    # The right key's line, its signature broken: the note's text changed under it.
    note = log.note(4).replace("\n4\n", "\n5\n", 1)
    assert witness.add_checkpoint(b"old 0\n\n" + note.encode()).status == 403
    stranger = Log(generate_signing_key("example.com/other"))
    body = b"old 0\n\n" + stranger.note(2, origin="example.com/other").encode()
    answer = witness.add_checkpoint(body)
    assert answer.status == 404 and "example.com/other" in answer.body
    assert witness.store.state(ORIGIN) is None  # nothing moved


def test_an_inconsistent_proof_is_422_and_moves_nothing(witness, witness_settings) -> None:  # type: ignore[no-untyped-def]
    _, log, _ = witness_settings
    assert witness.add_checkpoint(log.body(0, 6)).status == 200
    wrong = [hashlib.sha256(b"x").digest() for _ in consistency(6, log.leaves[:13])]
    assert witness.add_checkpoint(log.body(6, 13, wrong)).status == 422
    assert witness.add_checkpoint(log.body(6, 13, [])).status == 422
    state = witness.store.state(ORIGIN)
    assert state is not None and state.size == 6
    assert witness.add_checkpoint(log.body(0, 3, [leaf(b"x")])).status == 409
    assert witness.add_checkpoint(log.body(6, 13)).status == 200


def test_a_fork_is_never_cosigned(witness, witness_settings) -> None:  # type: ignore[no-untyped-def]
    _, log, _ = witness_settings
    fork = Log(log.key, prefix=b"other history")  # the same key, another history
    assert witness.add_checkpoint(log.body(0, 8)).status == 200
    # The same size, another root: 409 (the spec's answer), never a cosignature.
    for old in (0, 8):
        answer = witness.add_checkpoint(fork.body(old, 8, []))
        assert (answer.status, answer.body) == (409, "8\n")
    # A later size of the forked history, with its own (valid for it) proof from 8: 422.
    assert witness.add_checkpoint(fork.body(8, 12)).status == 422
    state = witness.store.state(ORIGIN)
    assert state is not None and (state.size, state.root_hash) == (8, root(log.leaves[:8]))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 0\n",
        b"old 00\n\n",
        b"old -1\n\nx\n",
        b"old 1 \n\n",
        b"new 0\n\nexample\n",
        b"old 0\nnot base64!\n\nexample.com/witnessed-log\n1\n",
        b"old 0\nAAAA\n\nexample.com/witnessed-log\n1\n",
        b"old 0\n\nexample.com/witnessed-log\n1\nnot a root\n\n\xe2\x80\x94 x AAAAAAAA\n",
        b"old 0\n\n\xff\xfe\n",
        b"old 99999999999999999999999\n\nx\n\n\xe2\x80\x94 x AAAAAAAA\n",
    ],
)
def test_malformed_bodies_are_400(witness, body: bytes) -> None:  # type: ignore[no-untyped-def]
    assert witness.add_checkpoint(body).status == 400
    assert witness.store.state(ORIGIN) is None


def test_limits_old_above_size_too_many_proof_lines_too_large(witness, witness_settings) -> None:  # type: ignore[no-untyped-def]
    _, log, _ = witness_settings
    assert witness.add_checkpoint(log.body(5, 3, [])).status == 400
    too_long = [leaf(b"%d" % i) for i in range(MAX_PROOF_LINES + 1)]
    answer = witness.add_checkpoint(log.body(0, 3, too_long))
    assert answer.status == 400 and "at most 63" in answer.body
    padded = log.body(0, 3) + b"\n" * (MAX_BODY_BYTES - len(log.body(0, 3)) + 1)
    assert witness.add_checkpoint(padded).status == 413
    assert witness.store.state(ORIGIN) is None


def test_two_racing_submissions_one_wins(witness_settings) -> None:  # type: ignore[no-untyped-def]
    settings, log, vkey = witness_settings
    opened = [build_services(settings) for _ in range(2)]
    try:
        witnesses = [s.witness for s in opened]
        assert all(w is not None for w in witnesses)
        for round_, (old, sizes) in enumerate(((0, (3, 5)), (5, (9, 11)), (11, (20, 30)))):
            del round_
            barrier = threading.Barrier(2)
            answers: list[tuple[int, object]] = []

            def submit(
                w: Witness,
                size: int,
                old: int,
                barrier: threading.Barrier,
                answers: list[tuple[int, object]],
            ) -> None:
                body = log.body(old, size)
                barrier.wait()
                answers.append((size, w.add_checkpoint(body)))

            threads = [
                threading.Thread(target=submit, args=(w, size, old, barrier, answers))
                for w, size in zip(witnesses, sizes, strict=True)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            won = [size for size, answer in answers if answer.status == 200]  # type: ignore[attr-defined]
            lost = [answer for _, answer in answers if answer.status == 409]  # type: ignore[attr-defined]
            assert len(won) == 1 and len(lost) == 1, answers
            assert lost[0].body == f"{won[0]}\n"  # type: ignore[attr-defined]
            state = witnesses[0].store.state(ORIGIN)  # type: ignore[union-attr]
            assert state is not None and state.size == won[0]
            # Continue from the size that won.
            if won[0] != sizes[1]:
                assert witnesses[0].add_checkpoint(log.body(won[0], sizes[1])).status == 200  # type: ignore[union-attr]
    finally:
        for s in opened:
            s.close()


def test_http_route_answers_as_the_spec(witness_settings) -> None:  # type: ignore[no-untyped-def]
    from api.http.app import create_app

    settings, log, vkey = witness_settings
    with TestClient(create_app(settings)) as client:
        answer = client.post("/witness/add-checkpoint", content=log.body(0, 4))
        assert answer.status_code == 200
        verify_cosignature(log.note(4) + answer.text, vkey)
        answer = client.post("/witness/add-checkpoint", content=log.body(0, 6))
        assert answer.status_code == 409
        assert answer.headers["content-type"] == "text/x.tlog.size"
        assert answer.text == "4\n"
    without = settings.model_copy(update={"witness_config": None, "witness_key": None})
    with TestClient(create_app(without)) as client:
        assert client.post("/witness/add-checkpoint", content=log.body(0, 4)).status_code == 404


def test_witness_key_command_creates_once_and_prints_the_vkey(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from api.cli import main

    path = tmp_path / "w.key"
    assert main(["witness", "key", "--name", "witness.example/w9", "--file", str(path)]) == 0
    printed = capsys.readouterr().out.strip()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert printed == cosigner_verifier_key(path.read_text().strip())
    assert printed.startswith("witness.example/w9+")
    # Again, with another name: the key is kept, never overwritten.
    assert main(["witness", "key", "--name", "other", "--file", str(path)]) == 0
    assert capsys.readouterr().out.strip() == printed
    assert main(["witness", "key", "--name", "a b", "--file", str(tmp_path / "x.key")]) == 2


def test_a_bad_configuration_stops_the_service_at_start(witness_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from api.http.app import create_app
    from domain.errors import SigningKeyError
    from projections.translog.witness import WitnessConfigError

    settings, _, _ = witness_settings
    bad = tmp_path / "bad.json"
    for document in ('{"logs": []}', '{"logs": [{"origin": "o", "verifier_key": "nope"}]}', "{"):
        bad.write_text(document)
        with pytest.raises(WitnessConfigError, match="witness configuration"):
            create_app(settings.model_copy(update={"witness_config": bad}))
    with pytest.raises(SigningKeyError, match="both RELIQUARY_WITNESS_CONFIG"):
        create_app(settings.model_copy(update={"witness_key": None}))
