"""Bundles disclose what their recipient may read, and every opening is checked.

`export DIR` writes commitments only: no private value of the demo is in any of its files.
`export DIR --disclose board` adds openings.jsonl, whose every line `verify-bundle` checks
against its leaf's commitment; a changed value fails, naming the line. `--disclose
researcher:ID` opens that researcher's own values only.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import demo_private_values


def test_a_bundle_without_disclosure_holds_no_private_value(demo_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, _ = demo_cli("export", str(tmp_path / "bundle"))
    assert code == 0
    assert not (tmp_path / "bundle" / "openings.jsonl").exists()
    text = b"".join(path.read_bytes() for path in (tmp_path / "bundle").iterdir())
    for value in demo_private_values(min_length=13):
        assert value.encode() not in text, value


def test_a_disclosed_bundle_opens_every_private_value_and_is_checked(
    demo_cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "bundle"
    code, _, _ = demo_cli("export", str(bundle), "--disclose", "board")
    assert code == 0
    lines = (bundle / "openings.jsonl").read_bytes().splitlines()
    opened = {json.loads(line)["value"] for line in lines}
    assert demo_private_values(min_length=13) <= opened
    code, out, err = demo_cli("verify-bundle", str(bundle), "--json")
    assert code == 0, err
    assert json.loads(out)["openings"] == len(lines)

    # One changed value no longer opens its commitment: named, exit 1.
    first = json.loads(lines[0])
    lines[0] = json.dumps({**first, "value": first["value"] + "!"}).encode()
    (bundle / "openings.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    code, _, err = demo_cli("verify-bundle", str(bundle))
    assert code == 1
    assert "openings.jsonl line 1: does not open the commitment" in err


def test_a_researcher_s_bundle_opens_their_own_values_only(demo_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "moreno"
    assert demo_cli("export", str(bundle), "--disclose", "researcher:l.moreno")[0] == 0
    opened = [json.loads(line) for line in (bundle / "openings.jsonl").read_bytes().splitlines()]
    values = {entry["value"] for entry in opened}
    # Their own request: their login and name, opened; nobody else's value is in the bundle.
    assert {"l.moreno", "Dr. Lena Moreno"} <= values
    assert "Tunde Okoro" not in values and "t.okoro" not in values
    leaves = [json.loads(line) for line in (bundle / "events.jsonl").read_bytes().splitlines()]
    theirs = {
        leaf["state"]["actor"]["_data_"]["id"]["_data_"]["subject"]
        for leaf in leaves
        if leaf["topic"] == "reliquary/AccessRequested/v1"
        and leaf["state"]["request_id"] == "harbor-req-001"
    }
    assert len(theirs) == 1
    (pseudonym,) = theirs
    lines = (bundle / "events.jsonl").read_text(encoding="utf-8").splitlines()
    for entry in opened:  # every opening is of a value sealed for them
        assert (
            f'"commitment":"{entry["commitment"]}","subject":"{pseudonym}"'
            in (lines[entry["sequence"]])
        )
    code, out, err = demo_cli("verify-bundle", str(bundle), "--json")
    assert code == 0, err
    assert json.loads(out)["openings"] == len(opened)


def test_another_role_or_none_gets_commitments_only(demo_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    for role in ("curator", "none"):
        assert demo_cli("export", str(tmp_path / role), "--disclose", role)[0] == 0
        assert not (tmp_path / role / "openings.jsonl").exists()
    for wrong in ("everyone", "researcher", "researcher:", "board:someone"):
        code, _, err = demo_cli("export", str(tmp_path / "x"), "--disclose", wrong)
        assert code == 2, wrong
        assert "--disclose" in err
        assert not (tmp_path / "x").exists()
