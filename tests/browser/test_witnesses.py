"""The browser checks the witnesses' cosignatures on the checkpoint (c2sp.org/tlog-cosignature).

`reliquary serve` runs the demo ledger under a witness policy of two witnesses (quorum 2,
advisory) written from the specs alone (`TinyWitness`), each behind a loopback HTTP server: the
service's own log follower submits its checkpoint to them and publishes their cosignatures on
the note. The reader's Chromium then checks, with WebCrypto, each policy witness's line on the
note it receives against the witness policy the reader pinned (or, none pinned, the operator's,
named as trust on first use): both vouch, the step names them; a line altered on its way fails
naming its witness; a pinned quorum of 3 that only 2 meet fails under ``required`` and warns
under ``advisory``; no policy at all says so and nothing more.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from projections.translog.cosignature import cosigner_verifier_key, generate_cosigner_key
from tests.browser.conftest import Reader, verify_result
from tests.integration.test_witness_client import TinyWitness
from tests.integration.test_witness_submit import _serve
from tests.served import ORIGIN, Served, require_browser

WITNESSES = ("first.example/witness", "second.example/witness")
# How long the service's follower may take to get both cosignatures (a bound, not a timing
# assertion: it is normally a fraction of a second).
COSIGNED_WITHIN_SECONDS = 60
MODEL = "cinder-1"


def _lines_by(note: str, name: str) -> list[str]:
    return [line for line in note.splitlines() if line.startswith(f"\u2014 {name} ")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The demo ledger served under a policy of two loopback witnesses, quorum 2, advisory;
    its checkpoint cosigned by both before any test runs."""
    require_browser()
    server = Served(tmp_path_factory.mktemp("witnessed"))
    server.run("init")
    server.run("demo")
    server.add_actor("web-auditor", "auditor")
    server.key = server.run("key").strip()
    server.run("checkpoint")
    signing_key = (server.directory / "signing.key").read_text().strip()
    tinies = [TinyWitness(name, signing_key, ORIGIN) for name in WITNESSES]
    loopbacks: list[ThreadingHTTPServer] = [_serve(tiny) for tiny in tinies]
    policy = {
        "quorum": 2,
        "witnesses": [
            {
                "name": tiny.name,
                "url": f"http://127.0.0.1:{loopback.server_address[1]}/w",
                "verifier_key": tiny.vkey,
            }
            for tiny, loopback in zip(tinies, loopbacks, strict=True)
        ],
    }
    policy_file = server.directory / "witness-policy.json"
    policy_file.write_text(json.dumps(policy))
    server.env["RELIQUARY_WITNESS_POLICY"] = str(policy_file)
    server.env["RELIQUARY_WITNESS_MODE"] = "advisory"
    server.start()
    try:
        deadline = time.monotonic() + COSIGNED_WITHIN_SECONDS
        note = ""
        while time.monotonic() < deadline:
            note = httpx.get(server.base + "/log/checkpoint").text
            if all(_lines_by(note, name) for name in WITNESSES):
                break
            time.sleep(0.1)
        assert all(_lines_by(note, name) for name in WITNESSES), note
        yield server
    finally:
        server.stop()
        for loopback in loopbacks:
            loopback.shutdown()


def _served_policy(served: Served) -> dict[str, Any]:
    policy: dict[str, Any] = httpx.get(served.base + "/log/witnesses").json()
    return policy


def _pin_policy(page: Any, served: Served, policy: dict[str, Any] | None = None) -> None:
    """Pin `policy` on the verify page, or (None) the operator's, filled in by its button."""
    page.goto(served.base + "/web/verify")
    page.click("[data-policy-form] summary")
    if policy is None:
        page.click("[data-policy-fetch]")
        # Playwright's own wait (its utility world), not a string evaluated in the page: the
        # console's CSP (script-src 'self') refuses that whenever the first check is too early.
        from playwright.sync_api import expect

        expect(page.locator("[data-policy-input]")).to_have_value(
            re.compile("verifier_key"), timeout=15_000
        )
        assert "trust on first use" in str(page.text_content("[data-policy-message]"))
    else:
        page.fill("[data-policy-input]", json.dumps(policy))
    page.click("[data-policy-save]")
    page.wait_for_selector("[data-policy-status][data-pinned]")


def _decision(served: Served) -> int:
    answer = httpx.get(
        served.base + "/timeline",
        params={"model": MODEL, "limit": 1},
        headers={"Authorization": f"Bearer {served.tokens['web-auditor']}"},
    ).json()
    sequence: int = answer["entries"][0]["sequence"]
    return sequence


def _verify(page: Any, served: Served) -> str:
    """Run "Verify in my browser" on a decision page; its summary, verified, warned or failed."""
    page.goto(f"{served.base}/web/decisions/{_decision(served)}")
    return verify_result(page)


def _witness_step(page: Any) -> tuple[str, str]:
    step = page.locator("[data-step=witnesses]")
    return str(step.get_attribute("data-state")), str(step.locator(".step-status").text_content())


def test_both_witnesses_vouch_on_the_decision_and_verify_pages(
    served: Served, reader: Reader
) -> None:
    page = reader(None, "")
    _pin_policy(page, served)
    status = str(page.text_content("[data-policy-status]"))
    assert "a quorum of 2 of 2 witnesses" in status and "mode advisory" in status
    result = _verify(page, served)
    assert result.startswith("Verified by your browser"), result
    named = f"vouched by {WITNESSES[0]}, {WITNESSES[1]} (2 of 2; quorum 2 met)"
    assert result.endswith(
        f"Witnesses of the checkpoint: {named}, under the advisory witness policy you pinned."
    ), result
    state, said = _witness_step(page)
    assert state == "ok" and named in said, said

    # The verify page checks the current checkpoint's witnesses too.
    kept = httpx.get(served.base + "/log/checkpoint").text
    page.goto(served.base + "/web/verify")
    page.fill("[data-kept-input]", kept)
    page.locator("[data-kept-form] button[type=submit]").click()
    page.wait_for_selector("[data-verify-result].verified, [data-verify-result].failed")
    result = str(page.text_content("[data-verify-result]"))
    assert result.startswith("Verified by your browser: the log"), result
    assert f"Witnesses of the current checkpoint: {named}" in result, result
    assert _witness_step(page)[0] == "ok"


def test_a_cosignature_altered_on_its_way_fails_naming_its_witness(
    served: Served, reader: Reader
) -> None:
    page = reader(None, "")
    _pin_policy(page, served)
    altered: list[str] = []

    def alter(intercepted: Any) -> None:
        proof = json.loads(intercepted.fetch().text())
        [line] = _lines_by(proof["checkpoint"], WITNESSES[1])
        name, _, signature = line.rpartition(" ")
        # A character well inside the Ed25519 signature (after key ID and timestamp), so the
        # decoded bytes differ whatever base64 leaves over at the end.
        at = len(signature) - 20
        swapped = "A" if signature[at] != "A" else "B"
        changed = f"{name} {signature[:at]}{swapped}{signature[at + 1 :]}"
        assert base64.b64decode(changed.rpartition(" ")[2]) != base64.b64decode(signature)
        proof["checkpoint"] = proof["checkpoint"].replace(line, changed)
        altered.append(changed)
        intercepted.fulfill(status=200, body=json.dumps(proof), content_type="application/json")

    page.route("**/log/proof/inclusion?*", alter)
    try:
        result = _verify(page, served)
    finally:
        page.unroute("**/log/proof/inclusion?*")
    assert altered
    assert result.startswith(
        f"Not verified: the step \u201cWitnesses\u201d failed: witness {WITNESSES[1]}: its "
        "cosignature (time "
    ), result
    assert "does not verify with its key" in result
    assert f"vouched by {WITNESSES[0]} (1 of 2; quorum 2 NOT met)" in result
    assert _witness_step(page)[0] == "failed"
    assert page.locator("[data-step=path][data-state=skipped]").count() == 1

    assert _verify(page, served).startswith("Verified by your browser")  # as served: fine


def _with_an_absent_witness(served: Served, mode: str) -> dict[str, Any]:
    """The served policy with a third witness that never cosigns, a quorum of 3, and `mode`."""
    policy = _served_policy(served)
    third = "third.example/witness"
    key = cosigner_verifier_key(generate_cosigner_key(third))
    policy["witnesses"].append({"name": third, "url": "http://127.0.0.1:9/w", "verifier_key": key})
    policy["quorum"] = 3
    policy["mode"] = mode
    return policy


def test_a_required_quorum_the_witnesses_do_not_meet_fails(served: Served, reader: Reader) -> None:
    page = reader(None, "")
    _pin_policy(page, served, _with_an_absent_witness(served, "required"))
    result = _verify(page, served)
    assert result.startswith(
        "Not verified: the step \u201cWitnesses\u201d failed: the quorum is not met: vouched by "
        f"{WITNESSES[0]}, {WITNESSES[1]} (2 of 3; quorum 3 NOT met), and the required witness "
        "policy you pinned requires a quorum"
    ), result
    assert _witness_step(page)[0] == "failed"


def test_an_advisory_quorum_the_witnesses_do_not_meet_is_a_warning_not_a_pass(
    served: Served, reader: Reader
) -> None:
    page = reader(None, "")
    _pin_policy(page, served, _with_an_absent_witness(served, "advisory"))
    result = _verify(page, served)
    assert page.locator("[data-verify-result].verified").count() == 0
    assert page.locator("[data-verify-result].warned").count() == 1
    assert result.startswith(
        "Warning: the witnesses' quorum is not met: vouched by "
        f"{WITNESSES[0]}, {WITNESSES[1]} (2 of 3; quorum 3 NOT met), under the advisory "
        "witness policy you pinned. Verified by your browser: decision #"
    ), result
    state, said = _witness_step(page)
    assert state == "warning" and "quorum 3 NOT met" in said, said
    # The other steps still pass: the decision is in the signed log.
    assert page.locator("[data-step=path][data-state=ok]").count() == 1


def test_unpinned_the_operators_policy_is_named_trust_on_first_use(
    served: Served, reader: Reader
) -> None:
    page = reader(None, "")  # a fresh browser: no policy pinned
    result = _verify(page, served)
    assert result.startswith("Verified by your browser"), result
    state, said = _witness_step(page)
    assert state == "ok", said
    assert f"vouched by {WITNESSES[0]}, {WITNESSES[1]} (2 of 2; quorum 2 met)" in said
    assert "the operator's advisory witness policy \u2014 trust on first use" in said
    assert "not a policy you pinned" in said


def test_no_policy_pinned_and_none_served_says_so_and_nothing_more(
    served: Served, reader: Reader
) -> None:
    page = reader(None, "")
    page.route(
        "**/log/witnesses",
        lambda intercepted: intercepted.fulfill(status=404, body="{}"),
    )
    try:
        result = _verify(page, served)
    finally:
        page.unroute("**/log/witnesses")
    assert result.startswith("Verified by your browser"), result
    assert "witness" not in result.lower()  # nothing is said about witnesses not checked
    state, said = _witness_step(page)
    assert state == "neutral" and said.startswith("no witness policy"), said
