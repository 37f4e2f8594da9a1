"""Private values on the decision page, opened for whom may read them and checked by the browser.

On the demo ledger served by `reliquary serve`, an access request's page is read by a board
member (every private value opened, with its opening), by nobody signed in (sealed: its
commitments only), and by the researcher who made it and one who did not. Each time the
reader's own Chromium checks the page against the signed leaf: a sealed value as the commitment
the leaf holds, an opened one by recomputing that commitment from the value and opening shown
(WebCrypto SHA-256, docs/disclosure.md). A value altered in the store, or an opening altered on
its way to the page, fails the check, naming the field.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from html import unescape
from typing import Any

import httpx
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.sealed import OPENING_BYTES, OPENINGS_TABLE, SUBJECTS_TABLE
from tests.browser.conftest import Reader, Served, verify_result
from tests.support import demo_private_values

MODEL = "claude-opus-3"
HANNAHS = "opus3-req-008"  # Hannah Lindgren's resubmitted request, approved
ANOTHERS = "opus3-req-006"  # another researcher's request
HANNAH = "hannah.lindgren"
REQUESTER = "Hannah Lindgren"
ORGANISATION = "Digital Heritage Trust"
# The fields of an AccessRequested that are private (domain/disclosure.py), as the page names
# them: its facts, the rationale, the actor's id and each piece of evidence's text.
PRIVATE = ("requester", "organisation", "purpose", "scope", "rationale")


def _leaf_state(served: Served, sequence: int) -> dict[str, Any]:
    state: dict[str, Any] = httpx.get(f"{served.base}/log/leaves/{sequence}").json()["state"]
    return state


def _leaks(html: str, values: set[str]) -> list[str]:
    """The values some HTML holds, however escaped (character references, JSON's ``\\u0027``)."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), unescape(html))
    return sorted(value for value in values if value in text)


def _claims(page: Any) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(str(page.text_content("script[data-claims]")))
    return claims


def test_the_board_reads_a_request_opened_and_the_browser_checks_each_opening(
    served: Served, reader: Reader
) -> None:
    page = reader("k.board-member", "board")
    sequence = served.request_sequence(MODEL, HANNAHS)
    page.goto(f"{served.base}/web/decisions/{sequence}")
    facts = page.inner_text("section[aria-labelledby=facts-heading]")
    assert REQUESTER in facts and ORGANISATION in facts
    assert "opened for you" in facts
    claims = _claims(page)
    requester = claims["facts"]["requester"]
    assert requester["value"] == REQUESTER and len(requester["opening"]) == 64
    # The commitment the page shows is the leaf's, which the opening must open.
    leaf = _leaf_state(served, sequence)
    assert leaf["requester"]["_data_"]["commitment"] == requester["commitment"]

    result = verify_result(page)
    assert result.startswith("Verified by your browser"), result
    assert "The record says exactly what this page shows" in result
    assert "not checked" not in result
    opened = result.split("in them opened, each commitment recomputed from the value and ", 1)
    assert len(opened) == 2, result
    named = opened[1].split("(", 1)[1].split(")", 1)[0].split(", ")
    for field in (*PRIVATE, "actor id", "evidence 1 uri", "evidence 1 description"):
        assert field in named, (field, result)
    assert "shown sealed" not in result  # the board opens every one


def test_nobody_signed_in_sees_commitments_only_and_the_check_passes_on_them(
    served: Served, reader: Reader
) -> None:
    page = reader(None, "")
    for request_id in (HANNAHS, ANOTHERS):
        sequence = served.request_sequence(MODEL, request_id)
        page.goto(f"{served.base}/web/decisions/{sequence}")
        assert "/web/login" not in page.url  # the decision page is public, as its leaf is
        assert _leaks(page.content(), demo_private_values()) == [], request_id
        claims = _claims(page)
        requester = claims["facts"]["requester"]
        assert set(requester) == {"commitment", "subject"}  # sealed: no value, no opening
        shown = page.inner_text("section[aria-labelledby=facts-heading]")
        assert requester["commitment"][:19] in shown and "sealed" in shown
        result = verify_result(page)
        assert result.startswith("Verified by your browser"), result
        assert "The record says exactly what this page shows" in result
        assert "opened" not in result  # nothing was opened, so nothing is claimed to be
        assert "private values shown sealed, as the commitments in the record (" in result


def test_a_researcher_reads_their_own_request_opened_and_not_anothers(
    served: Served, reader: Reader
) -> None:
    page = reader(HANNAH, "researcher")
    own = served.request_sequence(MODEL, HANNAHS)
    page.goto(f"{served.base}/web/decisions/{own}")
    assert REQUESTER in page.inner_text("section[aria-labelledby=facts-heading]")
    assert _claims(page)["facts"]["purpose"]["value"]
    result = verify_result(page)
    assert result.startswith("Verified by your browser"), result
    assert "in them opened, each commitment recomputed" in result
    assert "shown sealed" not in result  # every value of her own request opens for her

    other = served.request_sequence(MODEL, ANOTHERS)
    page.goto(f"{served.base}/web/decisions/{other}")
    claims = _claims(page)
    for field in ("requester", "organisation", "purpose", "scope"):
        assert set(claims["facts"][field]) == {"commitment", "subject"}, field
    # None of the demo's private values: not the other researcher's, and not hers either (but
    # for her login, which the page names as who is signed in).
    assert _leaks(page.content(), demo_private_values() - {HANNAH}) == []
    result = verify_result(page)
    assert result.startswith("Verified by your browser"), result
    assert "opened" not in result and "shown sealed" in result

    # The records themselves stay for the roles that read them.
    page.goto(f"{served.base}/web/timeline")
    assert "may not read the ledger's records" in page.inner_text("main")


@contextmanager
def _stored_value_altered(served: Served, commitment: str, value: str) -> Iterator[None]:
    """The value stored for ``commitment`` replaced, encrypted as the store encrypts it.

    As if someone holding the store (and its keys) had rewritten a private value: the events,
    the log and their proofs are untouched. The row is put back afterwards.
    """
    select = (
        f"SELECT o.nonce, o.ciphertext, s.key FROM {OPENINGS_TABLE} o "  # noqa: S608 (fixed names)
        f"JOIN {SUBJECTS_TABLE} s ON s.subject = o.subject WHERE o.commitment = ?"
    )
    update = f"UPDATE {OPENINGS_TABLE} SET ciphertext = ? WHERE commitment = ?"  # noqa: S608
    with closing(sqlite3.connect(served.database, timeout=30)) as db:
        nonce, kept, key = db.execute(select, (commitment,)).fetchone()
        cipher = AESGCM(bytes.fromhex(key))
        plain = cipher.decrypt(bytes.fromhex(nonce), bytes.fromhex(kept), commitment.encode())
        altered = plain[:OPENING_BYTES] + value.encode()
        ciphertext = cipher.encrypt(bytes.fromhex(nonce), altered, commitment.encode())
        with db:
            db.execute(update, (ciphertext.hex(), commitment))
        try:
            yield
        finally:
            with db:
                db.execute(update, (kept, commitment))


def test_a_value_altered_in_the_store_fails_naming_its_field(
    served: Served, reader: Reader
) -> None:
    page = reader("web-auditor", "auditor")
    sequence = served.request_sequence(MODEL, HANNAHS)
    commitment = _leaf_state(served, sequence)["organisation"]["_data_"]["commitment"]
    with _stored_value_altered(served, commitment, "Digital Heritage Trusts"):
        page.goto(f"{served.base}/web/decisions/{sequence}")
        assert "Digital Heritage Trusts" in page.inner_text(
            "section[aria-labelledby=facts-heading]"
        )
        result = verify_result(page)
    assert result.startswith(
        "Not verified: the step \u201cLeaf hash\u201d failed: the value this page shows for "
        "organisation does not open its commitment in the record"
    ), result
    assert page.locator("[data-step=path][data-state=skipped]").count() == 1

    page.goto(f"{served.base}/web/decisions/{sequence}")  # the value put back: verified again
    assert verify_result(page).startswith("Verified by your browser")


def test_an_opening_altered_on_its_way_fails_naming_its_field(
    served: Served, reader: Reader
) -> None:
    page = reader("web-auditor", "auditor")
    sequence = served.request_sequence(MODEL, HANNAHS)
    changed: list[str] = []

    def alter(intercepted: Any) -> None:
        body = intercepted.fetch().text()
        marker = '"purpose": {"commitment": '
        start = body.index(marker)
        at = body.index('"opening": "', start) + len('"opening": "')
        opening = body[at : at + 64]
        digit = "0123456789abcdef"[("0123456789abcdef".index(opening[0]) + 1) % 16]
        changed.append(opening)
        intercepted.fulfill(
            status=200,
            body=body.replace(opening, digit + opening[1:]),  # in the claims and the text shown
            content_type="text/html; charset=utf-8",
        )

    page.route(f"**/web/decisions/{sequence}", alter)
    try:
        page.goto(f"{served.base}/web/decisions/{sequence}")
        result = verify_result(page)
    finally:
        page.unroute(f"**/web/decisions/{sequence}")
    assert changed
    assert result.startswith(
        "Not verified: the step \u201cLeaf hash\u201d failed: the value this page shows for "
        "purpose does not open its commitment in the record"
    ), result


def test_an_erased_persons_values_read_erased_and_the_check_says_what_it_did_not_check(
    served: Served, reader: Reader
) -> None:
    # Last in this module: the erasure is for good.
    sequence = served.request_sequence(MODEL, "opus3-req-002")
    served.run(
        "erase", "jonas.weber", "--model", MODEL,
        "--rationale", "The researcher asked to be erased.", "--actor-id", "k.board-member",
    )  # fmt: skip
    for who, role in (("web-auditor", "auditor"), (None, "")):
        page = reader(who, role)
        page.goto(f"{served.base}/web/decisions/{sequence}")
        facts = page.inner_text("section[aria-labelledby=facts-heading]")
        assert "[erased]" in facts, who
        assert set(_claims(page)["facts"]["requester"]) == {"commitment", "subject", "erased"}
        result = verify_result(page)
        # The leaf still proves the commitments; that they were erased it cannot say.
        assert result.startswith("Verified by your browser"), result
        assert "exactly" not in result
        assert "not checked, as the record does not carry them: that " in result
        assert "that requester was erased" in result
