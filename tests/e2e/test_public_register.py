"""The public register of models (``GET /public/models.json``) on the demo ledger, both backends.

Without a token, a client reads every model's lifecycle dates, successor, open channels and
preserved weights; each weights entry names the log's leaf of its ``WeightsPreserved`` event,
which the public leaf route confirms; and no private value of the demo appears in the body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import build_ledger
from api.cli.demo import load_demo
from api.http.app import create_app
from api.settings import Settings
from domain.identity import model_id
from projections.translog.keys import create_signing_key
from projections.translog.leaves import leaf_fields
from tests.served import ORIGIN
from tests.support import demo_private_values

PATH = "/public/models.json"
DEMO_MODELS = ["claude-opus-3", "harbor-7b", "meridian-2", "cinder-1", "lumen-4", "ember-3"]


@pytest.fixture(scope="module")
def client(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app on the demo ledger, its log caught up and a checkpoint signed."""
    key = tmp_path_factory.mktemp("public-key") / "signing.key"
    create_signing_key(key, ORIGIN)
    settings = Settings(database_url=backend_url, signing_key=key, log_origin=ORIGIN)
    ledger = build_ledger(settings)
    load_demo(ledger)
    ledger.close()
    app = create_app(settings)
    with TestClient(app) as client:
        app.state.services.log.sign_checkpoint()  # a writer takes every event into the log
        yield client


@pytest.fixture(scope="module")
def register(client: TestClient) -> dict[str, Any]:
    response = client.get(PATH)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def _by_name(register: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["model"]: entry for entry in register["models"]}


def test_the_register_needs_no_token_and_is_cached_briefly(client: TestClient) -> None:
    response = client.get(PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "max-age=5"
    assert "events=" in response.headers["reliquary-basis"]
    again = client.get(PATH, headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


def test_every_demo_model_is_listed_in_order_of_registration(register: dict[str, Any]) -> None:
    assert [entry["model"] for entry in register["models"]] == DEMO_MODELS
    assert register["register_version"] == 1
    basis = register["basis"]
    assert basis["events"] == basis["recorded"]
    assert basis["checkpoint"]["size"] == basis["events"]  # signed after the demo loaded


def test_a_retired_model_has_its_dates_successor_and_open_channels(
    register: dict[str, Any],
) -> None:
    opus = _by_name(register)["claude-opus-3"]
    assert opus["status"] == "retired_with_extended_access"
    assert opus["family"] == "claude-3"
    assert opus["release_date"] == "2024-03-04"
    assert opus["retirement"] == {
        "scheduled_for": "2026-01-05",
        "retired_on": "2026-01-05",
        "successor": "claude-opus-4-1",
    }
    assert opus["access"]["channels"] == [
        {"channel": "product", "audience": "paid_users"},
        {"channel": "api", "audience": "by_request"},
    ]
    assert opus["access"]["request"] == {
        "method": "POST",
        "path": "/models/claude-opus-3/access-requests",
    }
    harbor = _by_name(register)["harbor-7b"]
    assert harbor["status"] == "fully_retired"
    assert harbor["retirement"]["successor"] == "meridian-2"
    assert harbor["access"]["channels"] == []  # a policy that keeps nothing open


def test_a_model_not_yet_retired_has_its_schedule_and_no_policy(
    register: dict[str, Any],
) -> None:
    lumen = _by_name(register)["lumen-4"]
    assert lumen["status"] == "retirement_scheduled"
    assert lumen["retirement"] == {
        "scheduled_for": "2027-03-31",
        "retired_on": None,
        "successor": "lumen-5",
    }
    assert lumen["access"]["channels"] is None
    assert lumen["weights"] is None


def test_preserved_weights_name_the_leaf_that_proves_them(
    client: TestClient, register: dict[str, Any]
) -> None:
    preserved = {
        name: entry["weights"]
        for name, entry in _by_name(register).items()
        if entry["weights"] is not None
    }
    assert sorted(preserved) == ["cinder-1", "claude-opus-3", "ember-3", "harbor-7b", "meridian-2"]
    opus = preserved["claude-opus-3"]
    assert opus["manifest_digest"] == (
        "b3b4a2dce008faff8fba78ff512eb2243eef7f09894f4c929b23557898c09a90"
    )
    assert opus["files"] == 6
    for name, weights in preserved.items():
        sequence = weights["sequence"]
        assert isinstance(sequence, int), name
        assert weights["leaf"] == f"/log/leaves/{sequence}"
        leaf = leaf_fields(client.get(weights["leaf"]).content)
        assert leaf["type"] == "WeightsPreserved", name
        assert leaf["model_id"] == str(model_id(name))
        assert leaf["facts"]["manifest_digest"] == weights["manifest_digest"]
        assert leaf["facts"]["file_count"] == weights["files"]
        proof = client.get(weights["proof"])
        assert proof.status_code == 200, name
        assert proof.json()["leaf_index"] == sequence
        manifest = client.get(weights["manifest"]).json()
        assert manifest["manifest_digest"] == weights["manifest_digest"]


def test_no_private_value_of_the_demo_appears(client: TestClient) -> None:
    body = client.get(PATH).content.decode()
    # Decoded as a client would read it: JSON's escapes undone.
    text = unescape(json.dumps(json.loads(body), ensure_ascii=False))
    private = demo_private_values()
    assert private  # the demo has private values to leak
    assert sorted(value for value in private if value in text) == []
    for field in ("requester", "organisation", "purpose", "rationale", "locations", "custodian"):
        assert f'"{field}"' not in body, field


def test_the_openapi_document_lists_the_register(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"][PATH]["get"]
    assert operation["operationId"] == "public-models"
    assert "public" in operation["tags"]
    assert "Reliquary-Basis" in operation["responses"]["200"]["headers"]
