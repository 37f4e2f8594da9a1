"""The CLI in process, on each backend: exit codes, what goes to stdout and stderr."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from api.cli import main
from domain.commands import COMMAND_CLASSES
from tests.support import doc, preserve, register, unique


@pytest.fixture
def cli(database_url: str, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run `reliquary ARGS` against the test's store; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["--database-url", database_url, *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _jsonl(path: Path, *lines: dict | str) -> Path:
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def test_apply_stops_at_the_refused_line_and_keeps_the_ones_before(cli, tmp_path: Path) -> None:
    model = unique()
    schedule = doc("schedule_retirement", model, retirement_date="2025-06-01", reasons=["cost"])
    retire = doc("retire_model", model, retired_on="2025-06-02", final_status="fully_retired")
    file = _jsonl(tmp_path / "c.jsonl", register(model), "", schedule, retire, preserve(model))

    code, out, err = cli("apply", str(file))

    # Line 4 (the blank line 2 still counts) retires before preservation: refused by name.
    assert code == 1
    assert "line 4: retired-before-preservation" in err
    assert "2 command(s) before line 4 stay applied" in err
    assert "Traceback" not in err
    # The two lines before it stay applied; line 4 and everything after it are not.
    code, out, _ = cli("history", model, "--json")
    assert code == 0
    assert [e["type"] for e in json.loads(out)["events"]] == [
        "ModelRegistered",
        "RetirementScheduled",
    ]


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ("{not json", "line 2: malformed JSON"),
        ('{"command": "retire_everything"}', "line 2: unknown command 'retire_everything'"),
        ("[]", "line 2: a command document must be a JSON object"),
    ],
)
def test_apply_names_the_malformed_line(cli, tmp_path: Path, bad_line: str, expected: str) -> None:
    file = _jsonl(tmp_path / "c.jsonl", register(unique()), bad_line)
    code, _, err = cli("apply", str(file))
    assert code == 1
    assert expected in err


def test_apply_refuses_a_huge_line_and_bytes_that_are_not_utf8(cli, tmp_path: Path) -> None:
    huge = json.dumps({**register(unique()), "rationale": "x" * (10 * 1024 * 1024)})
    code, _, err = cli("apply", str(_jsonl(tmp_path / "huge.jsonl", huge)))
    assert (code, "line 1: command document is" in err) == (1, True)

    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(json.dumps(register(unique())).encode() + b"\n\xff\xfe{}\n")
    code, _, err = cli("apply", str(binary))
    assert code == 1
    assert "line 2: not valid UTF-8" in err


def test_apply_reads_stdin_and_reports_json(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    data = (json.dumps(register(unique())) + "\n").encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, out, _ = cli("apply", "-", "--json")
    assert code == 0
    assert json.loads(out) == {"applied": 1}


def test_apply_of_a_missing_file(cli, tmp_path: Path) -> None:
    code, out, err = cli("apply", str(tmp_path / "absent.jsonl"))
    assert code == 2  # invalid input
    assert "cannot read" in err
    assert out == ""


def test_models_and_history_with_time_travel(cli, tmp_path: Path) -> None:
    model = unique()
    schedule = doc("schedule_retirement", model, retirement_date="2025-06-01", reasons=["cost"])
    assert cli("apply", str(_jsonl(tmp_path / "c.jsonl", register(model), schedule)))[0] == 0

    code, out, _ = cli("models", "--json")
    assert {"model": model, "status": "retirement_scheduled", "version": 2} in json.loads(out)

    code, out, _ = cli("history", model, "--at-version", "1", "--json")
    answer = json.loads(out)
    assert (answer["version"], answer["state"]["status"]) == (1, "registered")
    assert [e["version"] for e in answer["events"]] == [1]
    # The actor, and how the ledger knew it: a local operator at the CLI.
    assert answer["events"][0]["actor"] == {
        "id": "curator-1",
        "role": "curator",
        "authenticated_by": "operator",
    }

    registered_at = answer["events"][0]["recorded_at"]
    code, out, _ = cli("history", model, "--as-of", registered_at, "--json")
    assert json.loads(out)["version"] == 1

    code, out, err = cli("history", model, "--as-of", "2025-01-01T00:00:00")
    assert code == 2 and "no time zone" in err

    code, out, err = cli("history", model, "--at-version", "9")
    assert code == 1 and "there is no version 9" in err

    code, out, _ = cli("history", model)
    assert code == 0 and "RetirementScheduled" in out


def test_history_of_an_unknown_model(cli) -> None:
    code, out, err = cli("history", "no-such-model")
    assert code == 1
    assert err.strip() == "error: model not found: no model named 'no-such-model' is registered"


def test_demo_twice_appends_nothing_the_second_time(cli) -> None:
    code, out, _ = cli("demo", "--json")
    first = json.loads(out)
    assert code == 0 and first["applied"] > 0 and first["already_present"] == 0
    statuses = {m["model"]: m["status"] for m in first["models"]}
    assert statuses["claude-opus-3"] == "retired_with_extended_access"
    assert "fully_retired" in statuses.values()

    code, out, _ = cli("demo", "--json")
    second = json.loads(out)
    assert (second["applied"], second["already_present"]) == (0, first["applied"])
    assert second["models"] == first["models"]


def test_init_is_idempotent(cli) -> None:
    assert cli("init", "--json")[0] == 0
    code, out, _ = cli("init", "--json")
    assert code == 0 and json.loads(out)["models"] == 0


def test_schema_lists_every_command(cli) -> None:
    code, out, _ = cli("schema")
    schema = json.loads(out)
    assert code == 0
    assert set(schema["discriminator"]["mapping"]) == set(COMMAND_CLASSES)


def test_usage_errors_exit_2(cli) -> None:
    code, _, err = cli("history")
    assert code == 2
    assert "Missing argument" in err


def test_demo_fresh_starts_over_on_sqlite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert main(["--database-url", url, "demo"]) == 0
    assert main(["--database-url", url, "demo", "--fresh", "--json"]) == 0
    out = capsys.readouterr().out
    again = json.loads(out[out.index("{") :])
    assert again["already_present"] == 0


def test_unreachable_store_is_one_line_no_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--database-url", "postgresql://nobody@127.0.0.1:1/none", "models"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
