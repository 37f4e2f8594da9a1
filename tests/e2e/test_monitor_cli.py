"""`reliquary monitor`, in process, on each backend: the demo ledger exported as static tiles."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from projections.translog.checkpoint import generate_signing_key, verifier_key
from projections.translog.cosignature import cosigner_verifier_key, generate_cosigner_key

REPORT_KEYS = {
    "status",
    "source",
    "origin",
    "verified_size",
    "verified_root",
    "new_size",
    "entries_checked",
    "witnesses",
    "evidence",
    "detail",
}


def test_monitor_verifies_then_alarms_refuses_and_reports(demo_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = demo_cli
    folder, state = tmp_path / "public", tmp_path / "state"
    code, out, _ = run("checkpoint", "--json")
    signed = json.loads(out)
    assert run("tiles", "export", str(folder))[0] == 0
    vkey = run("key")[1].strip()

    code, out, err = run("monitor", str(folder), "--state", str(state), "--key", vkey, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert set(report) == REPORT_KEYS
    assert report["status"] == "ok" and report["evidence"] is None and report["witnesses"] == []
    assert report["verified_size"] == report["new_size"] == report["entries_checked"]
    assert (report["verified_size"], report["verified_root"]) == (signed["size"], signed["root"])
    assert report["source"] == str(folder) and err == ""

    # Again, piped and without --json: quiet when all is well (cron).
    assert run("monitor", str(folder), "--state", str(state)) == (0, "", "")
    # A key read from a file pins a fresh state just the same.
    key_file = tmp_path / "log.vkey"
    key_file.write_text(vkey + "\n")
    assert (
        run("monitor", str(folder), "--state", str(tmp_path / "s2"), "--key", str(key_file))[0] == 0
    )

    # State and key problems are usage errors (2), with one line and no traceback.
    other = verifier_key(generate_signing_key("someone.else/log"))
    code, out, err = run("monitor", str(folder), "--state", str(state), "--key", other)
    assert code == 2 and "differs from the key pinned" in err and "Traceback" not in err
    code, _, err = run("monitor", str(folder), "--state", str(tmp_path / "new"))
    assert code == 2 and "--key" in err
    code, _, _ = run("monitor", str(folder), "--state", str(state), "--timeout", "0")
    assert code == 2

    # A checkpoint another key signed: refused (1).
    code, out, _ = run(
        "monitor", str(folder), "--state", str(tmp_path / "s3"), "--key", other, "--json"
    )
    assert code == 1 and json.loads(out)["status"] == "refused"

    # A tampered hash tile: alarm (3), with evidence; the human lines name it.
    tampered = tmp_path / "tampered"
    shutil.copytree(folder, tampered)
    tile = next(p for p in sorted((tampered / "tile" / "0").rglob("*")) if p.is_file())
    data = bytearray(tile.read_bytes())
    data[0] ^= 0x01
    tile.write_bytes(bytes(data))
    fresh = tmp_path / "s4"
    code, out, err = run("monitor", str(tampered), "--state", str(fresh), "--key", vkey, "--json")
    report = json.loads(out)
    assert code == 3 and report["status"] == "alarm" and set(report) == REPORT_KEYS
    evidence = Path(report["evidence"])
    assert (evidence / "conflicting.checkpoint").read_text() == (folder / "checkpoint").read_text()
    assert json.loads((evidence / "detail.json").read_text())["kind"] == "inconsistent"
    code, out, err = run("monitor", str(tampered), "--state", str(fresh), "--key", vkey)
    assert code == 3 and out == "" and err.startswith("ALARM:") and "evidence: " in err

    # Nothing to read: unreachable (4).
    code, out, _ = run("monitor", str(tmp_path / "gone"), "--state", str(state), "--json")
    assert code == 4 and json.loads(out)["status"] == "unreachable"
    code, out, _ = run("monitor", "http://127.0.0.1:9/tlog/", "--state", str(state), "--json")
    assert code == 4 and json.loads(out)["status"] == "unreachable"


def test_monitor_with_a_witness_policy_wants_its_quorum(demo_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = demo_cli
    folder = tmp_path / "public"
    assert run("checkpoint")[0] == 0
    assert run("tiles", "export", str(folder))[0] == 0
    vkey = run("key")[1].strip()
    name = "witness.test/w1"
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "quorum": 1,
                "witnesses": [
                    {
                        "name": name,
                        "url": "https://witness.test/",
                        "verifier_key": cosigner_verifier_key(generate_cosigner_key(name)),
                    }
                ],
            }
        )
    )
    state = tmp_path / "state"
    code, out, err = run(
        "monitor", str(folder), "--state", str(state), "--key", vkey,
        "--witness-policy", str(policy), "--json",
    )  # fmt: skip
    report = json.loads(out)
    assert code == 1 and report["status"] == "unwitnessed" and report["witnesses"] == []
    assert "quorum 1 NOT met" in report["detail"]
    assert not (state / "state.json").exists()
    code, _, err = run("monitor", str(folder), "--state", str(state), "--key", vkey,
                       "--witness-policy", str(tmp_path / "none.json"))  # fmt: skip
    assert code == 2 and "witness policy" in err
