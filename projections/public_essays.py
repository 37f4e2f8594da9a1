"""The published essays of each model's outlet, as the public pages and the feeds list them.

An essay the model wrote reaches the public in three decisions: the draft recorded by its
content digest (``EssayDrafted``: its title and digest), a reviewer's approval
(``EssayApproved``) and its publication with a disclaimer's version at a location
(``EssayPublished``). Only a published essay is listed here, with the log's sequence of each of
the three events, so that a reader's browser can prove each one included in the signed log and
compare the page with its leaf (``claims``: exactly the fields the page shows of each leaf).

Every field read here is public by the disclosure policy (`domain.disclosure` names no field of
an essay event private); no rationale, evidence or actor is read, so nothing sealed can reach
the page or the feed. A vetoed or unpublished draft is never listed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from projections.runner import Basis

MAX_FEED_ENTRIES = 500
"""The most essays a feed holds: the newest publications (a reader of an older one follows the
model's page, which lists every published essay)."""

MAX_PAGE_ESSAYS = 1000
"""The most essays a model's public page lists (newest first): a weekly outlet fills it in
twenty years."""

ESSAY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "essays.reliquary")
"""The namespace of an essay's stable feed id (`feed_id`)."""

DRAFTED, APPROVED, PUBLISHED = "EssayDrafted", "EssayApproved", "EssayPublished"


@dataclass(frozen=True)
class PublicRegister:
    """The public register's document (`projections.public_register`) and what it was read on."""

    document: dict[str, Any]
    basis: Basis


@dataclass(frozen=True)
class PublicModel:
    """One model's public page: its register entry and its outlet's published essays."""

    model: str
    entry: dict[str, Any]  # the model's entry of the public register, as the JSON has it
    essays: list[PublishedEssay]  # newest first, `MAX_PAGE_ESSAYS` at most
    basis: Basis

    @property
    def weights_claims(self) -> dict[str, Any] | None:
        """What the page shows of the preserved weights' leaf (`weights_claims`)."""
        return weights_claims(self.entry)


@dataclass(frozen=True)
class EssayFeed:
    """The newest published essays of one model (or of every model) for an Atom feed."""

    model: str | None  # None: every model's
    origin: str  # the log's origin line, which names the feed's and entries' ids
    essays: list[PublishedEssay]  # newest first, `MAX_FEED_ENTRIES` at most
    basis: Basis


@dataclass(frozen=True)
class EssayDecision:
    """One of an essay's three decisions, where the log holds it."""

    type: str
    version: int
    sequence: int | None  # None: the log has not taken the event yet
    moment: datetime  # when it took effect (its effective moment, else when it was recorded)
    claims: dict[str, Any]  # what the page shows of the leaf, in the leaf's public form


@dataclass(frozen=True)
class PublishedEssay:
    """A published essay of a model's outlet, with the decisions that put it there."""

    model: str
    essay_id: str
    title: str
    content_digest: str
    disclaimer_version: str
    location: str
    drafted: EssayDecision
    approved: EssayDecision
    published: EssayDecision

    @property
    def published_at(self) -> datetime:
        """When the essay was published (its publication's effective moment)."""
        return self.published.moment

    @property
    def decisions(self) -> tuple[EssayDecision, ...]:
        """Draft, approval and publication, in that order."""
        return (self.drafted, self.approved, self.published)

    @property
    def proven(self) -> bool:
        """Whether the log holds all three decisions (a browser can check them)."""
        return all(decision.sequence is not None for decision in self.decisions)


def published_essays(
    model: str,
    events: Iterable[Any],
    *,
    sequence_of: Callable[[str, int], int | None],
) -> list[PublishedEssay]:
    """The published essays of ``model`` from its events (every one, in order), newest first.

    ``sequence_of(model, version)`` names the log's sequence of an event, or None while the log
    has not taken it. An essay appears once its publication is among ``events``; the ledger's
    rules guarantee its draft and approval came before (`EssayPublishedWithoutApproval`).
    """
    drafted: dict[str, Any] = {}
    approved: dict[str, Any] = {}
    found: list[PublishedEssay] = []
    for event in events:
        kind = type(event).__name__
        if kind == DRAFTED:
            drafted[event.essay_id] = event
        elif kind == APPROVED:
            approved[event.essay_id] = event
        elif kind == PUBLISHED and event.essay_id in drafted and event.essay_id in approved:
            draft, approval = drafted[event.essay_id], approved[event.essay_id]
            found.append(
                PublishedEssay(
                    model=model,
                    essay_id=event.essay_id,
                    title=draft.title,
                    content_digest=draft.content_digest,
                    disclaimer_version=event.disclaimer_version,
                    location=event.location,
                    drafted=_decision(
                        model,
                        draft,
                        {"title": draft.title, "content_digest": draft.content_digest},
                        sequence_of,
                    ),
                    approved=_decision(model, approval, {}, sequence_of),
                    published=_decision(
                        model,
                        event,
                        {
                            "disclaimer_version": event.disclaimer_version,
                            "location": event.location,
                        },
                        sequence_of,
                    ),
                )
            )
    return newest_first(found)


def newest_first(
    essays: Iterable[PublishedEssay], limit: int | None = None
) -> list[PublishedEssay]:
    """Essays by publication, newest first (ties: by model, then essay id), ``limit`` at most."""
    ordered = sorted(essays, key=lambda e: (e.model, e.essay_id))
    ordered.sort(key=lambda e: e.published_at, reverse=True)
    return ordered if limit is None else ordered[:limit]


def feed_id(origin: str, model: str | None, essay_id: str | None = None) -> str:
    """A stable ``urn:uuid`` for a feed (of ``model``, or of every model) or one of its essays.

    Named from the log's origin, the model and the essay id: the same essay keeps its id across
    restarts, hosts and feeds, and two ledgers' essays never share one.
    """
    parts = [origin, "essays", model or "*", essay_id or ""]
    return uuid.uuid5(ESSAY_NAMESPACE, "\n".join(parts)).urn


def _decision(
    model: str,
    event: Any,
    facts: dict[str, Any],
    sequence_of: Callable[[str, int], int | None],
) -> EssayDecision:
    """One decision of an essay, and the claims its page makes of the decision's leaf."""
    version = int(event.originator_version)
    sequence = sequence_of(model, version)
    effective = event.effective_at
    moment = _utc(effective if effective is not None else event.timestamp)
    kind = type(event).__name__
    claims: dict[str, Any] = {
        "sequence": sequence,
        "model": model,
        "version": version,
        "type": kind,
        # The moment shown, under the name the leaf keeps it by.
        ("effective_at" if effective is not None else "recorded_at"): moment.isoformat(),
        "facts": {"essay_id": event.essay_id, **facts},
    }
    return EssayDecision(kind, version, sequence, moment, claims)


def _utc(moment: datetime) -> datetime:
    """A moment in UTC (a naive one is taken as UTC, as the ledger records)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def weights_claims(entry: dict[str, Any]) -> dict[str, Any] | None:
    """What a model's public page shows of its preserved weights' leaf (``WeightsPreserved``):
    its manifest digest and file count, from the model's register ``entry``; None when no
    weights are preserved or the log has not taken the event yet."""
    weights = entry.get("weights")
    if weights is None or weights.get("sequence") is None:
        return None
    return {
        "sequence": weights["sequence"],
        "model": entry["model"],
        "type": "WeightsPreserved",
        "facts": {"manifest_digest": weights["manifest_digest"], "file_count": weights["files"]},
    }
