"""Immutable answers are cached: ETag, Cache-Control, 304s, the in-process LRU, paging.

A leaf, a full tile or entry bundle, a proof at a signed size and a manifest at a version never
change: they carry a strong ``ETag`` and ``Cache-Control: public, max-age=31536000, immutable``,
and ``If-None-Match`` gets a ``304`` with no body. Partial tiles and answers about the latest
checkpoint are short-lived. A leaf or tile is computed once per process (a bounded LRU), so a
client repeating the same anonymous read does not make the service compute it again. The
checkpoints are listed a page at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.bootstrap import Services, build_ledger
from api.http.app import create_app
from api.settings import Settings
from projections.translog import merkle
from projections.translog.checkpoint import verify_checkpoint
from projections.translog.keys import create_signing_key
from projections.translog.service import AnswerCache, Blob
from projections.translog.tiles import decode_entry_bundle
from tests.conftest import POSTGRES_URL, require_postgres
from tests.support import parse, preserve, register, unique

ORIGIN = "reliquary.local/ledger"
IMMUTABLE = "public, max-age=31536000, immutable"
MODEL = "cached-model"


@dataclass
class Log:
    client: TestClient
    app: Any
    sizes: list[int]  # the sizes of the checkpoints signed, in order

    @property
    def services(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def log(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    """300 events with checkpoints signed at 5, 10, 200 and 300 events (no follower)."""
    tmp_path = tmp_path_factory.mktemp("caching")
    schema = f"t_cache_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        database_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        require_postgres()
        separator = "&" if "?" in POSTGRES_URL else "?"
        database_url = f"{POSTGRES_URL}{separator}schema={schema}"
    key = tmp_path / "signing.key"
    create_signing_key(key, ORIGIN)
    settings = Settings(database_url=database_url, signing_key=key, log_origin=ORIGIN)
    app = create_app(settings)
    ledger = build_ledger(settings)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Services, "follow_log", lambda self: None)
            with TestClient(app, raise_server_exceptions=False) as client:
                services: Services = app.state.services
                ledger.execute(parse(register(MODEL)))
                ledger.execute(parse(preserve(MODEL)))  # version 2: the manifest
                recorded, sizes = 2, []
                for target in (5, 10, 200, 300):
                    for _ in range(target - recorded):
                        ledger.execute(parse(register(unique("filler"))))
                    recorded = target
                    sizes.append(services.log.sign_checkpoint().size)
                assert sizes == [5, 10, 200, 300]
                yield Log(client, app, sizes)
    finally:
        ledger.close()
        if request.param == "postgres":
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _assert_not_modified(client: TestClient, path: str, etag: str) -> None:
    response = client.get(path, headers={"If-None-Match": etag})
    assert response.status_code == 304, (path, response.text)
    assert response.content == b""
    assert response.headers["etag"] == etag


def test_a_leaf_is_immutable_has_a_stable_etag_and_answers_304(log: Log) -> None:
    first = log.client.get("/log/leaves/7")
    second = log.client.get("/log/leaves/7")
    assert first.status_code == second.status_code == 200
    assert first.headers["cache-control"] == IMMUTABLE
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert second.headers["etag"] == etag
    assert second.content == first.content
    _assert_not_modified(log.client, "/log/leaves/7", etag)
    # A weak form of the tag, or the tag in a list, matches too (RFC 9110 13.1.2); another not.
    _assert_not_modified(log.client, "/log/leaves/7", etag)
    weak = log.client.get("/log/leaves/7", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    other = log.client.get("/log/leaves/7", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.content == first.content
    assert log.client.get("/log/leaves/8").headers["etag"] != etag


def test_a_repeated_leaf_read_is_not_computed_again(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    import projections.translog.tiles as tiles

    computed: list[int] = []
    real = tiles.leaf_bytes

    def counting(log_: Any, first: int, count: int) -> list[bytes]:
        computed.append(first)
        return real(log_, first, count)

    monkeypatch.setattr(tiles, "leaf_bytes", counting)
    bodies = {log.client.get("/log/leaves/42").content for _ in range(20)}
    assert len(bodies) == 1
    assert computed == [42]
    assert merkle.leaf_hash(bodies.pop()) == log.services.log.leaf_hash(42)


def test_tiles_full_are_immutable_and_partial_short_lived(log: Log) -> None:
    size = log.sizes[-1]  # 300: tile 0 of level 0 is full, tile 1 partial (44 hashes)
    full = log.client.get("/tlog/tile/0/000")
    assert full.status_code == 200
    assert full.headers["cache-control"] == IMMUTABLE
    assert len(full.content) == 8192
    _assert_not_modified(log.client, "/tlog/tile/0/000", full.headers["etag"])

    partial = log.client.get(f"/tlog/tile/0/001.p/{size - 256}")
    assert partial.status_code == 200
    assert "immutable" not in partial.headers["cache-control"]
    assert "max-age=60" in partial.headers["cache-control"]
    assert "etag" in partial.headers

    bundle = log.client.get("/tlog/tile/entries/000")
    assert bundle.status_code == 200
    assert bundle.headers["cache-control"] == IMMUTABLE
    entries = decode_entry_bundle(bundle.content)
    assert len(entries) == 256
    assert merkle.leaf_hash(entries[0]) == full.content[:32]
    _assert_not_modified(log.client, "/tlog/tile/entries/000", bundle.headers["etag"])
    partial_bundle = log.client.get(f"/tlog/tile/entries/001.p/{size - 256}")
    assert "immutable" not in partial_bundle.headers["cache-control"]

    # A tile the tree does not have is a 404 with no cache headers.
    missing = log.client.get("/tlog/tile/0/002")
    assert missing.status_code == 404
    assert "immutable" not in missing.headers.get("cache-control", "")


def test_latest_checkpoints_are_short_lived(log: Log) -> None:
    for path in ("/log/checkpoint", "/tlog/checkpoint"):
        response = log.client.get(path)
        assert response.status_code == 200
        assert response.headers["cache-control"] == "max-age=5", path
        assert "immutable" not in response.headers["cache-control"]
        _assert_not_modified(log.client, path, response.headers["etag"])


def test_proofs_at_signed_sizes_are_immutable_and_the_latest_short_lived(log: Log) -> None:
    key = log.client.get("/log/key").text.strip()
    at = log.client.get("/log/proof/inclusion", params={"sequence": 3, "size": 10})
    assert at.status_code == 200
    assert at.headers["cache-control"] == IMMUTABLE
    assert verify_checkpoint(at.json()["checkpoint"], key).size == 10
    _assert_not_modified(log.client, "/log/proof/inclusion?sequence=3&size=10", at.headers["etag"])
    latest = log.client.get("/log/proof/inclusion", params={"sequence": 3})
    assert latest.headers["cache-control"] == "max-age=5"
    assert latest.json()["tree_size"] == log.sizes[-1]

    signed = log.client.get("/log/proof/consistency", params={"old": 5, "new": 200})
    assert signed.status_code == 200
    assert signed.headers["cache-control"] == IMMUTABLE
    unsigned = log.client.get("/log/proof/consistency", params={"old": 5, "new": 150})
    assert unsigned.status_code == 200
    assert unsigned.headers["cache-control"] == "max-age=5"
    default = log.client.get("/log/proof/consistency", params={"old": 5})
    assert default.json()["new_size"] == log.sizes[-1]
    assert default.headers["cache-control"] == "max-age=5"


def test_a_manifest_at_a_version_is_immutable(log: Log) -> None:
    at = log.client.get(f"/models/{MODEL}/manifest", params={"version": 2})
    assert at.status_code == 200
    assert at.headers["cache-control"] == IMMUTABLE
    assert at.json()["version"] == 2
    _assert_not_modified(log.client, f"/models/{MODEL}/manifest?version=2", at.headers["etag"])
    latest = log.client.get(f"/models/{MODEL}/manifest")
    assert latest.json() == at.json()
    assert "immutable" not in latest.headers["cache-control"]
    before = log.client.get(f"/models/{MODEL}/manifest", params={"version": 1})
    assert before.status_code == 404
    assert before.json()["type"] == "urn:reliquary:problem:no-preserved-weights"


def test_checkpoints_are_listed_a_page_at_a_time(log: Log) -> None:
    everything = log.client.get("/log/checkpoints")
    assert everything.status_code == 200
    assert [c["size"] for c in everything.json()] == log.sizes
    assert "link" not in everything.headers

    seen: list[int] = []
    path = "/log/checkpoints?limit=3"
    pages = 0
    while path:
        response = log.client.get(path)
        assert response.status_code == 200
        page = response.json()
        assert len(page) <= 3
        seen += [c["size"] for c in page]
        pages += 1
        link = response.headers.get("link")
        if link is None:
            break
        assert link.endswith('>; rel="next"') and link.startswith("</log/checkpoints?")
        path = link[1 : link.index(">")]
    assert seen == log.sizes
    assert pages == 2

    for bad in ("limit=0", "limit=1001", "after=-1"):
        response = log.client.get(f"/log/checkpoints?{bad}")
        assert response.status_code == 422, bad
    assert log.client.get("/log/checkpoints?limit=1000").status_code == 200


def test_the_cache_is_bounded_by_entries_and_bytes() -> None:
    cache = AnswerCache(max_entries=3, max_bytes=400)
    for n in range(5):
        cache.put(n, Blob.of(bytes([n]) * 10))
    assert len(cache) == 3
    assert cache.get(0) is None and cache.get(1) is None
    assert cache.get(4) is not None
    cache.put("big", Blob.of(b"x" * 101))  # over a quarter of the bytes: not kept
    assert cache.get("big") is None
    for n in range(3):
        cache.put(("wide", n), Blob.of(b"y" * 100))
    assert cache.bytes <= 400
    assert len(cache) <= 3
    cache.get(("wide", 1))  # now the most recently used
    cache.put(("wide", 3), Blob.of(b"y" * 100))
    assert cache.get(("wide", 1)) is not None
