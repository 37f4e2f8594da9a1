"""`reliquary tiles export`, in process, on each backend (the demo ledger)."""

from __future__ import annotations

import json
from pathlib import Path

from projections.translog.checkpoint import verify_checkpoint
from projections.translog.static_tiles import tile_paths
from projections.translog.tiles import decode_entry_bundle


def _files(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def test_tiles_export_writes_then_extends_the_folder(demo_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = demo_cli
    folder = tmp_path / "public"
    # Nothing signed yet: there is no tree to export, and nothing is written.
    code, _, err = run("tiles", "export", str(folder))
    assert code == 1 and "no signed checkpoint" in err
    assert not folder.exists() or _files(folder) == set()

    code, out, _ = run("checkpoint", "--json")
    signed = json.loads(out)
    code, out, err = run("tiles", "export", str(folder), "--json")
    assert code == 0, err
    report = json.loads(out)
    size = signed["size"]
    assert (report["size"], report["root"]) == (size, signed["root"])
    assert report["written"] == len(list(tile_paths(size))) and report["kept"] == 0
    assert _files(folder) == {"checkpoint", *tile_paths(size)}
    # Piped: the data on stdout, no progress bar on stderr.
    assert err == ""
    code, verifier, _ = run("key")
    note = (folder / "checkpoint").read_text()
    assert note == signed["note"]
    assert verify_checkpoint(note, verifier.strip()).size == size
    entries = []
    for path in sorted(p for p in tile_paths(size) if p.startswith("tile/entries/")):
        entries += decode_entry_bundle((folder / path).read_bytes())
    assert len(entries) == size

    # Run again with nothing new: every tile kept, nothing written.
    code, out, err = run("tiles", "export", str(folder))
    assert code == 0 and out == ""
    assert f"OK: tree of {size} events" in err and "0 tile(s) written" in err


def test_tiles_export_refuses_a_file(demo_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run = demo_cli
    assert run("checkpoint")[0] == 0
    target = tmp_path / "not-a-folder"
    target.write_text("keep me")
    code, _, err = run("tiles", "export", str(target))
    assert code == 2 and "not a folder" in err
    assert target.read_text() == "keep me"
