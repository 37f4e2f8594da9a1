"""Concurrent writers on one model: every command lands once, none is lost."""

from __future__ import annotations

import threading

import pytest

from domain.ledger import Ledger, Recorded
from tests.support import doc, parse, register, signal_period, unique

WRITERS = 4
COMMANDS_EACH = 10


def _signal(model: str, writer: int, n: int) -> dict:
    return doc(
        "record_signal",
        model,
        role="curator",
        kind="research_use",
        **signal_period(writer * 1000 + n),
        value=float(writer * 1000 + n),
        unit="count",
    )


def _run_writers(ledgers: list[Ledger], model: str) -> list[Recorded]:
    results: list[Recorded] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(ledgers))

    def write(writer: int, ledger: Ledger) -> None:
        start.wait()
        for n in range(COMMANDS_EACH):
            try:
                recorded = ledger.execute(parse(_signal(model, writer, n)))
            except BaseException as error:  # reported below, with the writer
                with lock:
                    failures.append(error)
                return
            with lock:
                results.append(recorded)

    threads = [threading.Thread(target=write, args=(i, ledger)) for i, ledger in enumerate(ledgers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    return results


def test_writers_in_separate_applications_lose_nothing(open_ledger) -> None:  # type: ignore[no-untyped-def]
    # Four applications on one store stand for four processes, each with its own cache,
    # so each regularly saves from a stale version and must retry.
    ledgers = [open_ledger() for _ in range(WRITERS)]
    model = unique()
    ledgers[0].execute(parse(register(model)))

    results = _run_writers(ledgers, model)

    # Every command was recorded exactly once, each at its own version.
    assert len(results) == WRITERS * COMMANDS_EACH
    assert sorted(r.version for r in results) == list(range(2, 2 + WRITERS * COMMANDS_EACH))
    fresh = open_ledger(cache_size=0)
    assert fresh.version_of(model) == 1 + WRITERS * COMMANDS_EACH
    values = sorted(e.value for e in fresh.history(model)[1:])  # type: ignore[attr-defined]
    assert values == sorted(
        float(w * 1000 + n) for w in range(WRITERS) for n in range(COMMANDS_EACH)
    )


def test_writers_sharing_one_application_lose_nothing(open_ledger) -> None:  # type: ignore[no-untyped-def]
    ledger = open_ledger()
    model = unique()
    ledger.execute(parse(register(model)))

    results = _run_writers([ledger] * WRITERS, model)

    assert sorted(r.version for r in results) == list(range(2, 2 + WRITERS * COMMANDS_EACH))
    assert open_ledger(cache_size=0).state(model).signals == WRITERS * COMMANDS_EACH


def test_a_stale_expected_version_is_refused(ledger: Ledger) -> None:
    from domain.errors import StaleVersion

    model = unique()
    ledger.execute(parse(register(model)))
    ledger.execute(parse(_signal(model, 0, 0)), expected_version=1)
    with pytest.raises(
        StaleVersion, match="expected model .* at version 1, but it is at version 2"
    ):
        ledger.execute(parse(_signal(model, 0, 1)), expected_version=1)
    assert ledger.version_of(model) == 2


def test_a_stale_cache_costs_a_retry_never_a_wrong_decision(open_ledger) -> None:  # type: ignore[no-untyped-def]
    from domain.errors import EssayPublishedAfterVeto

    first, second = open_ledger(), open_ledger()
    model = unique()
    first.execute(parse(register(model)))
    draft = doc(
        "draft_essay",
        model,
        role="reviewer",
        essay_id="e1",
        title="t",
        prompt_ref="https://example.org/p",
        content_digest="sha256:" + "aa" * 32,
    )
    first.execute(parse(draft))
    second.state(model)  # the second process caches the model with the draft pending review
    first.execute(
        parse(
            doc(
                "veto_essay",
                model,
                role="reviewer",
                essay_id="e1",
                risk_category="privacy",
                reason="names a person",
            )
        )
    )
    # The second process's cache still says "drafted"; approving from it must not succeed,
    # and publishing must be refused by the rule, once the stored veto is seen.
    approve = doc("approve_essay", model, role="reviewer", essay_id="e1")
    from domain.errors import EssayAlreadyReviewed

    with pytest.raises(EssayAlreadyReviewed):
        second.execute(parse(approve))
    publish = doc(
        "publish_essay",
        model,
        role="reviewer",
        essay_id="e1",
        disclaimer_version="1",
        location="https://example.org/e1",
    )
    with pytest.raises(EssayPublishedAfterVeto):
        second.execute(parse(publish))
    assert first.version_of(model) == 3


def test_eight_busy_writers_on_one_model_never_give_up(open_ledger) -> None:  # type: ignore[no-untyped-def]
    # Eight applications (processes, in effect), each with the ledger's retry budget: writers
    # that met a conflict take turns (an advisory lock on PostgreSQL, the database's on
    # SQLite), so none runs out of attempts.
    ledgers = [open_ledger() for _ in range(8)]
    model = unique()
    ledgers[0].execute(parse(register(model)))

    results = _run_writers(ledgers, model)

    assert len(results) == 8 * COMMANDS_EACH
    assert open_ledger(cache_size=0).version_of(model) == 1 + 8 * COMMANDS_EACH
