"""Public means published forever: no private field leaves the ledger in clear.

The demo is loaded through the ledger (every private field of its access requests, denials,
appeals and revocations sealed as it is recorded), then every public byte is collected with no
token: each leaf, the checkpoints, the C2SP tiles and entry bundles. Not one of the demo's
private values (`domain.disclosure.PRIVATE_FIELDS`: requesters, organisations, purposes,
scopes, reasons, appeal facts, terms) may appear in them, while each sealed value still opens,
for the store, to the very value its commitment binds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import build_ledger
from api.cli.demo import load_demo
from api.http.app import create_app
from api.settings import Settings
from domain.decisions import Sealed
from domain.sealed import opens
from projections.translog.keys import create_signing_key
from tests.support import DEMO_EVENTS, demo_private_values

ORIGIN = "reliquary.test/disclosure"


@pytest.fixture(scope="module")
def client(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    key = tmp_path_factory.mktemp("key") / "signing.key"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RELIQUARY_SIGNING_KEY", str(key))
        env.setenv("RELIQUARY_LOG_ORIGIN", ORIGIN)
        create_signing_key(key, ORIGIN)
        settings = Settings(database_url=backend_url)
        ledger = build_ledger(settings)
        load_demo(ledger)
        ledger.close()
        app = create_app(settings)
        with TestClient(app) as client:
            app.state.services.log.sign_checkpoint()
            yield client


def _public_bytes(client: TestClient) -> list[tuple[str, bytes]]:
    """Every public answer, by its path: leaves, checkpoints, tiles and entry bundles."""
    answers = []
    for path in ("/log/checkpoint", "/log/key", "/tlog/checkpoint", "/log/checkpoints"):
        answers.append((path, client.get(path).content))
    size = int(client.get("/tlog/checkpoint").text.split("\n")[1])
    assert size == DEMO_EVENTS
    for sequence in range(size):
        path = f"/log/leaves/{sequence}"
        answers.append((path, client.get(path).content))
    # The level-0 hash tile and the entry bundle of the (partial) first tile.
    for path in (f"/tlog/tile/0/000.p/{size}", f"/tlog/tile/entries/000.p/{size}"):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
        answers.append((path, response.content))
    return answers


def test_no_public_byte_holds_a_private_value_in_clear(client: TestClient) -> None:
    private = demo_private_values()
    assert len(private) > 20  # the demo's requesters, organisations, purposes, reasons, ...
    answers = _public_bytes(client)
    for path, body in answers:
        for value in private:
            assert value.encode() not in body, f"{path} holds {value!r} in clear"
    # What the leaves show instead: a commitment and a pseudonym, per private field.
    sealed = [
        json.loads(body)["state"]
        for path, body in answers
        if path.startswith("/log/leaves/") and b'"_type_":"sealed"' in body
    ]
    assert sealed
    for state in sealed:
        for value in state.values():
            if isinstance(value, dict) and value.get("_type_") == "sealed":
                assert value["_data_"]["commitment"].startswith("sha256:")
                assert value["_data_"]["subject"].startswith("ps:")


def test_each_sealed_value_opens_to_the_value_its_commitment_binds(client: TestClient) -> None:
    ledger = client.app.state.services.ledger  # type: ignore[attr-defined]
    state = ledger.state("claude-opus-3")
    request = state.access_requests["opus3-req-008"]
    assert isinstance(request.requester, Sealed)
    opened = ledger.opened([request.requester])[request.requester.commitment]
    assert opened.value == "Hannah Lindgren"
    assert opens(
        Sealed(
            request.requester.commitment, request.requester.subject, opened.value, opened.opening
        ),
        "AccessRequested",
        "requester",
    )
    # Another value under the same opening does not open the commitment.
    assert not opens(
        Sealed(
            request.requester.commitment, request.requester.subject, "Someone Else", opened.opening
        ),
        "AccessRequested",
        "requester",
    )
    # The same researcher's two requests share a pseudonym; another researcher's do not.
    first = state.access_requests["opus3-req-007"]
    other = state.access_requests["opus3-req-006"]
    assert first.requester.subject == request.requester.subject != other.requester.subject


def test_the_board_reads_the_register_opened(client: TestClient) -> None:
    services: Any = client.app.state.services  # type: ignore[attr-defined]
    services.queries.catch_up()
    rows = {r.request_id: r for r in services.queries.register("access", "claude-opus-3")}
    assert rows["opus3-req-008"].requester == "Hannah Lindgren"
    assert rows["opus3-req-007"].reason and "re-serving" in rows["opus3-req-007"].reason


def test_a_researcher_is_found_in_the_timeline_by_pseudonym_never_by_login(
    client: TestClient,
) -> None:
    services: Any = client.app.state.services  # type: ignore[attr-defined]
    rows = {r.request_id: r for r in services.queries.register("access", "claude-opus-3")}
    pseudonym = rows["opus3-req-008"].subject
    assert pseudonym.startswith("ps:")
    found = services.queries.timeline(actor=pseudonym, limit=100).entries
    assert found and {entry.actor_role for entry in found} == {"researcher"}
    assert "opus3-req-008" in {entry.facts.get("request_id") for entry in found}
    assert all(entry.actor_id["subject"] == pseudonym for entry in found)
    # Their login names nobody in the public timeline.
    assert services.queries.timeline(actor="hannah.lindgren", limit=100).entries == []
