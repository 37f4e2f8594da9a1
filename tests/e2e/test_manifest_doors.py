"""A recorded manifest served beside the log: HTTP (public, paged, immutable) and the CLI.

A ``WeightsPreserved`` names its manifest by digest; ``GET /archive/manifests/{digest}`` and
``reliquary archive manifest DIGEST`` serve the list, which hashes to the digest. Archive checks
read the list by digest too, and still name each file that differs.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import build_ledger
from api.http.app import create_app
from api.settings import Settings
from domain.decisions import ManifestEntry, manifest_digest
from domain.manifests import MAX_MANIFEST_PAGE
from tests.support import doc, parse, register, signing_environment, unique

ORIGIN = "reliquary.test/manifest-doors"
FILES = 2_500


def _entries() -> list[ManifestEntry]:
    return [
        ManifestEntry(f"part-{i:05d}.bin", i, hashlib.sha256(str(i).encode()).hexdigest())
        for i in range(FILES)
    ]


@pytest.fixture(scope="module")
def served(backend_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The app on a ledger holding one model whose manifest lists 2,500 files."""
    key = tmp_path_factory.mktemp("key") / "signing.key"
    with signing_environment(key, ORIGIN):
        settings = Settings(database_url=backend_url)
        ledger = build_ledger(settings)
        model = unique()
        entries = _entries()
        ledger.execute(parse(register(model)))
        ledger.execute(
            parse(
                doc(
                    "preserve_weights",
                    model,
                    manifest={
                        "manifest_digest": manifest_digest(entries),
                        "files": [vars(e) for e in entries],
                    },
                    locations=[f"s3://archive/{model}"],
                    custodian="Archive Team",
                    retention="indefinite",
                )
            )
        )
        ledger.close()
        app = create_app(settings)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, model, manifest_digest(entries)


def test_the_manifest_is_served_by_digest_page_by_page_and_hashes_to_it(served: Any) -> None:
    client, model, digest = served
    record = client.get(f"/models/{model}/manifest").json()
    assert (record["manifest_digest"], record["file_count"]) == (digest, FILES)

    # No token: the files of preserved weights are public. Follow the pages to the end.
    files: list[dict[str, Any]] = []
    url: str | None = record["files"] + "?limit=1000"
    pages = 0
    while url is not None:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert (page["manifest_digest"], page["file_count"]) == (digest, FILES)
        assert page["total_bytes"] == sum(range(FILES))
        files += page["files"]
        url = page["next"]
        assert ("link" in answer.headers) == (url is not None)
        pages += 1
    assert pages == 3
    entries = [ManifestEntry(f["path"], f["size"], f["sha256"]) for f in files]
    assert len(entries) == FILES and manifest_digest(entries) == digest


def test_a_page_is_immutable_and_cached(served: Any) -> None:
    client, _, digest = served
    answer = client.get(f"/archive/manifests/{digest}", params={"offset": 10, "limit": 5})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert [f["path"] for f in answer.json()["files"]] == [
        f"part-{i:05d}.bin" for i in range(10, 15)
    ]
    again = client.get(
        f"/archive/manifests/{digest}",
        params={"offset": 10, "limit": 5},
        headers={"If-None-Match": answer.headers["etag"]},
    )
    assert again.status_code == 304 and not again.content


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/archive/manifests/" + "0" * 64, 404),  # no such manifest
        ("/archive/manifests/" + "A" * 64, 422),  # not a digest's form
        ("/archive/manifests/abc", 422),
        ("/archive/manifests/{digest}?limit=0", 422),
        (f"/archive/manifests/{{digest}}?limit={MAX_MANIFEST_PAGE + 1}", 422),
        ("/archive/manifests/{digest}?offset=-1", 422),
    ],
)
def test_a_bad_digest_or_page_is_refused(served: Any, path: str, status: int) -> None:
    client, _, digest = served
    answer = client.get(path.replace("{digest}", digest))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_the_http_door_takes_the_oms_digests_and_the_ledger_checks_the_root(served: Any) -> None:
    # The rule "the OMS root given is the OMS root of these files" is the aggregate's: the HTTP
    # command is refused as the CLI's is, and appends nothing.
    client, _, _ = served
    model = unique("oms-http")
    services = client.app.state.services
    services.ledger.execute(parse(register(model)))
    token = services.actors.add(f"curator-{model}", "curator").token
    entries = [
        ManifestEntry("a/b", 3, hashlib.sha256(b"one").hexdigest()),
        ManifestEntry("a.b", 3, hashlib.sha256(b"two").hexdigest()),
    ]
    raw = [bytes.fromhex(e.sha256) for e in entries]  # OMS order: "a/b" before "a.b"
    root = hashlib.sha256(b"".join(raw)).hexdigest()

    def post(**oms: str) -> Any:
        return client.post(
            f"/models/{model}/weights",
            json={
                "rationale": "Archived with its model.sig.",
                "manifest": {
                    "manifest_digest": manifest_digest(entries),
                    "files": [vars(e) for e in entries],
                },
                "locations": ["s3://archive/oms-http"],
                "custodian": "Archive Team",
                "retention": "indefinite",
                **oms,
            },
            headers={"Authorization": f"Bearer {token}"},
        )

    for oms in (
        {"oms_root_digest": hashlib.sha256(b"".join(reversed(raw))).hexdigest()},
        {"oms_bundle_digest": "b" * 64},
    ):
        refused = post(**oms)
        assert refused.status_code == 422, refused.text
        assert refused.json()["type"].endswith(":oms-root-mismatch")
    assert post(oms_root_digest="A" * 64).status_code == 422  # not a digest's form
    assert services.ledger.version_of(model) == 1
    recorded = post(oms_root_digest=root, oms_bundle_digest="b" * 64)
    assert recorded.status_code in (200, 201), recorded.text
    event = services.ledger.history(model)[-1]
    assert (event.oms_root_digest, event.oms_bundle_digest) == (root, "b" * 64)


# -- the CLI ---------------------------------------------------------------------------------


@pytest.fixture
def cli(demo_cli: Any) -> Any:
    """The demo ledger's CLI (tests/e2e/conftest.py)."""
    return demo_cli


def test_the_cli_prints_a_recorded_manifest_by_digest(cli: Any) -> None:
    code, out, err = cli("history", "harbor-7b", "--json")
    assert code == 0, err
    weights = json.loads(out)["state"]["weights"]
    digest = weights["manifest_digest"]

    code, out, err = cli("archive", "manifest", digest, "--json")
    assert code == 0, err
    document = json.loads(out)
    entries = [ManifestEntry(f["path"], f["size"], f["sha256"]) for f in document["files"]]
    assert manifest_digest(entries) == document["manifest_digest"] == digest
    assert (document["file_count"], document["total_bytes"]) == (weights["files"], weights["bytes"])

    code, out, _ = cli("archive", "manifest", digest)
    assert code == 0 and entries[0].sha256 in out
    code, _, err = cli("archive", "manifest", "0" * 64)
    assert code == 1 and "no manifest with digest" in err


def test_an_archive_check_reads_the_list_by_digest_and_names_what_differs(
    cli: Any, tmp_path: Path
) -> None:
    root = tmp_path / "weights"
    root.mkdir()
    for i in range(40):
        (root / f"shard-{i:02d}.bin").write_bytes(bytes([i]) * (100 + i))
    model = unique()
    code, _, err = cli("apply", str(_one_line(tmp_path, register(model))))
    assert code == 0, err
    code, _, err = cli(
        "preserve", model, str(root), "--location", "s3://a/b", "--custodian", "Team",
        "--rationale", "Archived.", "--actor-id", "curator-1",
    )  # fmt: skip
    assert code == 0, err
    assert cli("checkpoint")[0] == 0  # the check proves the record in a signed checkpoint
    (root / "shard-07.bin").write_bytes(b"changed")
    (root / "shard-30.bin").unlink()
    code, out, err = cli("verify-archive", model, str(root), "--json")
    assert code == 1, err
    statuses = {f["path"]: f["status"] for f in json.loads(out)["files"] if f["status"] != "OK"}
    assert statuses == {"shard-07.bin": "MODIFIED", "shard-30.bin": "MISSING"}


def _one_line(tmp_path: Path, document: dict[str, Any]) -> Path:
    path = tmp_path / f"{uuid.uuid4().hex}.jsonl"
    path.write_text(json.dumps(document) + "\n")
    return path
