"""docs/reviewers.md's scripts check real bundles without Reliquary's code; docs/transparency.md
and docs/reviewers.md show only real commands.

The scripts are taken verbatim from the ``python`` blocks of docs/reviewers.md that start with
``# reviewer_check.py``, ``# check_proofs.py`` and so on, written to a temporary directory and run
with this interpreter on bundles exported from a demo ledger: an honest bundle passes, and one
flipped byte in ``events.jsonl`` or in the checkpoint's signature fails (``check_witnesses.py``
and ``check_tiles.py`` are run in `test_reviewer_witnesses`, on a witnessed log). None imports
anything of Reliquary. Every ``$ reliquary ...`` line of the two docs' ``console`` blocks names a
real command with real options.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import importlib.util
import io
import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer

from api.cli import app, main
from domain.identity import model_id

ROOT = Path(__file__).resolve().parents[2]
REVIEWERS = ROOT / "docs" / "reviewers.md"
TRANSPARENCY = ROOT / "docs" / "transparency.md"
# A fenced block, possibly indented (inside a list item), closed at the same indentation.
FENCE = re.compile(
    r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```$", re.MULTILINE | re.DOTALL
)
SCRIPTS = (
    "reviewer_check.py",
    "check_proofs.py",
    "check_openings.py",
    "check_witnesses.py",
    "check_tiles.py",
)
# What the scripts may import: the standard library (hashing, encoding, UUID 5 and NFC for model
# ids, HTTP for a served copy of the log), and Ed25519.
ALLOWED_IMPORTS = {
    "base64",
    "hashlib",
    "json",
    "sys",
    "unicodedata",
    "urllib",
    "uuid",
    "cryptography",
    "nacl",
}
# And the doc's other scripts, which it says to save beside them.
SCRIPTS_IMPORTED = {
    "check_proofs.py": {"reviewer_check"},
    "check_witnesses.py": {"reviewer_check"},
    "check_tiles.py": {"reviewer_check", "check_witnesses"},
}
RELIQUARY_PACKAGES = {"domain", "projections", "api"}
SIGNAL = {
    "command": "record_signal",
    "model": "claude-opus-3",
    "actor": {"id": "c.curator", "role": "curator"},
    "rationale": "Monthly research-use count.",
    "kind": "research_use",
    "period_start": "2026-03-01",
    "period_end": "2026-03-31",
    "value": 3.0,
    "unit": "count",
}


def _blocks(path: Path, lang: str) -> list[str]:
    """The bodies of the fenced blocks of one language, with their indentation removed."""
    bodies = []
    for match in FENCE.finditer(path.read_text(encoding="utf-8")):
        if match["lang"] == lang:
            indent = len(match["indent"])
            bodies.append("".join(line[indent:] for line in match["body"].splitlines(True)))
    return bodies


def _script(name: str) -> str:
    """The one ``python`` block of docs/reviewers.md whose first line is ``# <name>``."""
    found = [
        body for body in _blocks(REVIEWERS, "python") if body.splitlines()[:1] == [f"# {name}"]
    ]
    assert len(found) == 1, f"docs/reviewers.md has {len(found)} python blocks for {name}"
    return found[0]


def _imported_modules(source: str) -> set[str]:
    """The top-level package of every import statement, wherever it is in the script."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import"
            modules.add((node.module or "").split(".")[0])
    return modules


def _cli(*args: str) -> str:
    """Run a reliquary command in process; return its stdout (it must succeed)."""
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    out.flush()
    assert code == 0, f"reliquary {' '.join(args)} exited {code}"
    return raw.getvalue().decode("utf-8")


@dataclass(frozen=True)
class Demo:
    """A demo ledger's bundles and proofs, as a reviewer receives them."""

    size: int  # events in `bundle`
    root: str  # the root `reliquary verify-bundle` reports for `bundle`
    bundle: Path
    later: Path  # the same ledger, one event later
    fork: Path  # another history, as long as `later`, signed with the same key
    key: Path  # the verifier key, as `reliquary key` prints it
    tlog_proof: Path  # `proof inclusion 8 --tlog-proof`: harbor-7b's WeightsPreserved
    history: Path  # `history harbor-7b --proofs --json`
    consistency: Path  # `proof consistency SIZE SIZE+1 --json`
    leaf_8: Path  # line 9 of events.jsonl
    leaf_9: Path  # line 10
    disclosed: Path  # `export --disclose board` of the same ledger: with openings.jsonl


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """`bundle`, `later` (one event more), `fork` (another history, same key), proofs, the key."""
    tmp = tmp_path_factory.mktemp("reviewers")
    signal = tmp / "signal.jsonl"
    signal.write_text(json.dumps(SIGNAL) + "\n")
    with pytest.MonkeyPatch.context() as env:
        for name in ("RELIQUARY_LOG_ORIGIN", "RELIQUARY_CREATE_TABLES", "RELIQUARY_CACHE_SIZE"):
            env.delenv(name, raising=False)
        env.setenv("RELIQUARY_SIGNING_KEY", str(tmp / "k"))
        env.setenv("RELIQUARY_DATABASE_URL", f"sqlite:///{tmp / 'l.db'}")
        _cli("init")
        _cli("demo")
        _cli("export", str(tmp / "bundle"))
        _cli("export", str(tmp / "disclosed"), "--disclose", "board")
        (tmp / "pinned.key").write_text(_cli("key"))
        (tmp / "seq-8.tlog-proof").write_text(_cli("proof", "inclusion", "8", "--tlog-proof"))
        (tmp / "harbor.json").write_text(_cli("history", "harbor-7b", "--proofs", "--json"))
        root = json.loads(_cli("verify-bundle", str(tmp / "bundle"), "--json"))["root"]
        size = len((tmp / "bundle/events.jsonl").read_bytes().splitlines())
        _cli("apply", str(signal))
        _cli("export", str(tmp / "later"))
        consistency = _cli("proof", "consistency", str(size), str(size + 1), "--json")
        (tmp / "consistency.json").write_text(consistency)
        # A second history signed with the same key: what a split view looks like.
        env.setenv("RELIQUARY_DATABASE_URL", f"sqlite:///{tmp / 'fork.db'}")
        _cli("init")
        _cli("demo")
        _cli("apply", str(signal))
        _cli("export", str(tmp / "fork"))
    lines = (tmp / "bundle/events.jsonl").read_bytes().splitlines(keepends=True)
    (tmp / "leaf-8.json").write_bytes(lines[8])
    (tmp / "leaf-9.json").write_bytes(lines[9])
    return Demo(
        size=size,
        root=root,
        bundle=tmp / "bundle",
        later=tmp / "later",
        fork=tmp / "fork",
        key=tmp / "pinned.key",
        tlog_proof=tmp / "seq-8.tlog-proof",
        history=tmp / "harbor.json",
        consistency=tmp / "consistency.json",
        leaf_8=tmp / "leaf-8.json",
        leaf_9=tmp / "leaf-9.json",
        disclosed=tmp / "disclosed",
    )


@pytest.fixture(scope="module", name="scripts")
def scripts_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The doc's scripts, verbatim, in a directory of their own."""
    where = tmp_path_factory.mktemp("scripts")
    for name in SCRIPTS:
        (where / name).write_text(_script(name), encoding="utf-8")
    return where


def _run(scripts: Path, name: str, *args: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (this interpreter, the doc's script, our own files)
        [sys.executable, str(scripts / name), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=scripts,
        timeout=120,
        check=False,
    )


def _copy_bundle(demo: Demo, tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(demo.bundle, copy)
    return copy


# -- the scripts are independent ---------------------------------------------------------------


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_scripts_import_nothing_of_reliquary(name: str) -> None:
    imported = _imported_modules(_script(name))
    assert not imported & RELIQUARY_PACKAGES, imported & RELIQUARY_PACKAGES
    allowed = ALLOWED_IMPORTS | SCRIPTS_IMPORTED.get(name, set())
    assert imported <= allowed, imported - allowed
    import_lines = [
        line.strip()
        for line in _script(name).splitlines()
        if line.strip().startswith(("import ", "from "))
    ]
    for line in import_lines:
        assert line.split()[1].split(".")[0] not in RELIQUARY_PACKAGES, line


# -- check_openings.py ------------------------------------------------------------------------


def test_every_opening_of_a_disclosed_bundle_checks(demo: Demo, scripts: Path) -> None:
    assert _run(scripts, "reviewer_check.py", demo.disclosed, demo.key).returncode == 0
    result = _run(scripts, "check_openings.py", demo.disclosed)
    assert result.returncode == 0, result.stderr
    count = len((demo.disclosed / "openings.jsonl").read_bytes().splitlines())
    assert count > 100  # requesters, purposes, reasons, logins, evidence links, ...
    assert result.stdout == (
        f"OK: {count} private values, each opening the commitment its leaf records\n"
    )


@pytest.mark.parametrize("change", ["value", "opening", "field", "sequence"])
def test_an_altered_opening_fails(demo: Demo, scripts: Path, tmp_path: Path, change: str) -> None:
    bundle = tmp_path / "disclosed"
    shutil.copytree(demo.disclosed, bundle)
    lines = (bundle / "openings.jsonl").read_bytes().splitlines()
    entry = json.loads(lines[3])
    entry[change] = {
        "value": entry["value"] + " ",
        "opening": ("00" if entry["opening"][:2] != "00" else "11") + entry["opening"][2:],
        "field": "purpose" if entry["field"] != "purpose" else "scope",
        "sequence": entry["sequence"] - 1,
    }[change]
    lines[3] = json.dumps(entry).encode()
    (bundle / "openings.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    result = _run(scripts, "check_openings.py", bundle)
    assert result.returncode == 1
    assert "openings.jsonl line 4 does not open" in result.stderr


# -- reviewer_check.py -------------------------------------------------------------------------


def test_an_exported_bundle_passes(demo: Demo, scripts: Path) -> None:
    result = _run(scripts, "reviewer_check.py", demo.bundle, demo.key)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"OK: reliquary.local/ledger: {demo.size} events of 6 models, root {demo.root}\n"
        "OK: 5 weights manifests, each hashing to the digest its leaf records\n"
    )


@pytest.mark.parametrize("line", [0, 53, -1])
def test_one_flipped_byte_in_events_fails(
    demo: Demo, scripts: Path, tmp_path: Path, line: int
) -> None:
    bundle = _copy_bundle(demo, tmp_path)
    events = bundle / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    changed = bytearray(lines[line])
    position = changed.index(b'"rationale":"') + len(b'"rationale":"')
    assert chr(changed[position]).isalpha()
    changed[position] ^= 0x20  # one letter's case: still valid JSON, a different rationale
    lines[line] = bytes(changed)
    events.write_bytes(b"".join(lines))
    result = _run(scripts, "reviewer_check.py", bundle, demo.key)
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL: root mismatch"), result.stderr


@pytest.mark.parametrize(
    ("offset", "message"),
    [(4 + 10, "does not verify"), (0, "no signature by")],
    ids=["signature byte", "key ID byte"],
)
def test_one_flipped_byte_in_the_checkpoint_signature_fails(
    demo: Demo, scripts: Path, tmp_path: Path, offset: int, message: str
) -> None:
    bundle = _copy_bundle(demo, tmp_path)
    checkpoint = bundle / "checkpoint"
    text, _, signature = checkpoint.read_text(encoding="utf-8").rstrip("\n").rpartition(" ")
    raw = bytearray(base64.b64decode(signature))  # key ID (4 bytes) || Ed25519 signature
    raw[offset] ^= 0x01
    checkpoint.write_text(f"{text} {base64.b64encode(bytes(raw)).decode()}\n", encoding="utf-8")
    result = _run(scripts, "reviewer_check.py", bundle, demo.key)
    assert result.returncode == 1
    assert result.stderr.startswith("FAIL:") and message in result.stderr, result.stderr


def test_another_key_is_refused(demo: Demo, scripts: Path, tmp_path: Path) -> None:
    from projections.translog.checkpoint import generate_signing_key, verifier_key

    other = tmp_path / "other-key"
    other.write_text(verifier_key(generate_signing_key("reliquary.local/ledger")) + "\n")
    result = _run(scripts, "reviewer_check.py", demo.bundle, other)
    assert result.returncode == 1
    assert "no signature by reliquary.local/ledger+" in result.stderr


@pytest.mark.parametrize(
    ("drop", "message"),
    [(20, "line 21 has sequence 21, expected 20"), (-1, "has {kept}")],
    ids=["a middle line", "the last line"],
)
def test_a_missing_line_fails(
    demo: Demo, scripts: Path, tmp_path: Path, drop: int, message: str
) -> None:
    bundle = _copy_bundle(demo, tmp_path)
    events = bundle / "events.jsonl"
    lines = events.read_bytes().splitlines(keepends=True)
    del lines[drop]
    events.write_bytes(b"".join(lines))
    result = _run(scripts, "reviewer_check.py", bundle, demo.key)
    assert result.returncode == 1
    assert message.format(kept=len(lines)) in result.stderr, result.stderr


def test_a_later_bundle_extends_the_kept_checkpoint_and_a_fork_does_not(
    demo: Demo, scripts: Path
) -> None:
    kept = demo.bundle / "checkpoint"
    later = _run(scripts, "reviewer_check.py", demo.later, demo.key, kept)
    assert later.returncode == 0, later.stderr
    assert later.stdout.splitlines()[-1] == f"OK: extends the kept checkpoint of size {demo.size}"
    # The fork verifies on its own: only the kept checkpoint exposes it.
    assert _run(scripts, "reviewer_check.py", demo.fork, demo.key).returncode == 0
    fork = _run(scripts, "reviewer_check.py", demo.fork, demo.key, kept)
    assert fork.returncode == 1
    assert "does not extend the kept checkpoint" in fork.stderr


def test_a_key_whose_base64_holds_a_plus_sign_parses(scripts: Path) -> None:
    from projections.translog.checkpoint import generate_signing_key, verifier_key

    spec = importlib.util.spec_from_file_location("reviewer_check", scripts / "reviewer_check.py")
    assert spec is not None and spec.loader is not None
    module: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    key = ""
    while "+" not in key.split("+", 2)[-1]:
        key = verifier_key(generate_signing_key("reliquary.test/ledger"))
    name, key_id, public_key = module.parse_verifier_key(key)
    assert (name, key_id.hex()) == tuple(key.split("+")[:2])
    assert base64.b64decode(key.split("+", 2)[2])[1:] == public_key


# -- check_proofs.py ---------------------------------------------------------------------------


def test_an_inclusion_proof_of_the_weights_claim_verifies(demo: Demo, scripts: Path) -> None:
    proof = demo.tlog_proof
    result = _run(scripts, "check_proofs.py", "inclusion", demo.leaf_8, proof, demo.key)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    harbor = model_id("harbor-7b")
    assert first.startswith(f"OK: sequence 8 (model {harbor} v4 WeightsPreserved) is in ")
    assert second.startswith("manifest_digest ")
    other = _run(scripts, "check_proofs.py", "inclusion", demo.leaf_9, proof, demo.key)
    assert other.returncode == 1
    assert "sequence 8 is not proven" in other.stderr


def test_the_weights_claim_checks_its_served_list_and_an_altered_list_fails(
    demo: Demo, scripts: Path, tmp_path: Path
) -> None:
    # The leaf names its manifest by digest; the list comes beside it (the bundle's file, or
    # GET /archive/manifests/{digest}) and must hash to that digest.
    digest = json.loads(demo.leaf_8.read_bytes())["state"]["manifest_digest"]
    listed = demo.bundle / f"manifest-{digest}.json"
    proof = demo.tlog_proof
    result = _run(scripts, "check_proofs.py", "inclusion", demo.leaf_8, proof, demo.key, listed)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == f"manifest_digest {digest} (3 files)"
    document = json.loads(listed.read_bytes())
    document["files"][0]["sha256"] = "0" * 64
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(document))
    result = _run(scripts, "check_proofs.py", "inclusion", demo.leaf_8, proof, demo.key, altered)
    assert result.returncode == 1
    assert f"FAIL: the files of manifest {digest} do not hash to it" in result.stderr


@pytest.mark.parametrize("change", ["sha256", "size", "missing"])
def test_an_altered_or_missing_bundled_list_fails_the_bundle(
    demo: Demo, scripts: Path, tmp_path: Path, change: str
) -> None:
    bundle = _copy_bundle(demo, tmp_path)
    digest = json.loads(demo.leaf_8.read_bytes())["state"]["manifest_digest"]
    listed = bundle / f"manifest-{digest}.json"
    document = json.loads(listed.read_bytes())
    if change == "missing":
        listed.unlink()
    else:
        document["files"][1][change] = "0" * 64 if change == "sha256" else 1
        listed.write_text(json.dumps(document))
    result = _run(scripts, "reviewer_check.py", bundle, demo.key)
    assert result.returncode == 1
    expected = {
        "sha256": f"FAIL: the files of manifest {digest} do not hash to it",
        "size": f"FAIL: manifest {digest} does not have the file count and size its leaf",
        "missing": f"FAIL: the bundle lacks manifest-{digest}.json, which a leaf names",
    }[change]
    assert expected in result.stderr


def test_a_proven_history_verifies_and_a_changed_leaf_does_not(
    demo: Demo, scripts: Path, tmp_path: Path
) -> None:
    result = _run(scripts, "check_proofs.py", "history", demo.history, demo.key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: harbor-7b versions 1-15, each proven in ")
    answer = json.loads(demo.history.read_text())
    leaf = answer["proofs"]["leaves"][3]
    original = leaf["leaf"]
    leaf["leaf"] = original.replace('"rationale":"T', '"rationale":"t', 1)
    assert leaf["leaf"] != original
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(answer))
    result = _run(scripts, "check_proofs.py", "history", changed, demo.key)
    assert result.returncode == 1
    assert "is not proven" in result.stderr


def test_a_consistency_proof_links_the_kept_checkpoint_to_the_later_one(
    demo: Demo, scripts: Path
) -> None:
    kept, key = demo.bundle / "checkpoint", demo.key
    args = ("consistency", demo.consistency, kept, key)
    result = _run(scripts, "check_proofs.py", *args, demo.later / "checkpoint", key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"OK: reliquary.local/ledger at size {demo.size + 1} extends")
    fork = _run(scripts, "check_proofs.py", *args, demo.fork / "checkpoint", key)
    assert fork.returncode == 1
    assert "does not extend" in fork.stderr


# -- docs/transparency.md and docs/reviewers.md show real commands ---------------------------------


def _console_commands() -> list[str]:
    """The ``$ reliquary ...`` lines (after any VAR=value) of the docs' console blocks."""
    command = re.compile(r"\$ (?:[A-Z_][A-Z0-9_]*=\S* )*reliquary(?: |$)")
    lines = [
        line[2:]
        for doc in (TRANSPARENCY, REVIEWERS)
        for body in _blocks(doc, "console")
        for line in body.splitlines()
        if command.match(line)
    ]
    return list(dict.fromkeys(lines))


def _command_path(line: str) -> list[str]:
    """The (sub)command names of a command line, after checking every option it uses."""
    tokens = shlex.split(line)
    while re.match(r"[A-Z_][A-Z0-9_]*=", tokens[0]):
        tokens.pop(0)
    assert tokens.pop(0) == "reliquary"
    shell = re.compile(r"\||&&|;|<|[0-9]*>")
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = iter(tokens)
    for token in rest:
        if shell.match(token):
            break
        if token.startswith("-"):
            options = {
                name: parameter
                for parameter in command.params
                if parameter.param_type_name == "option"
                for name in (*parameter.opts, *parameter.secondary_opts)
            }
            name = token.split("=")[0]
            assert name in options or name == "--help", f"{' '.join(path)}: no option {name}"
            if name in options and not options[name].is_flag and "=" not in token:
                next(rest)  # its value
        elif hasattr(command, "commands") and token in command.commands:
            path.append(token)
            command = command.commands[token]
        else:
            assert not hasattr(command, "commands"), f"no command {token!r} in {line!r}"
    assert path and not hasattr(command, "commands"), f"{line!r} names no command"
    return path


def test_the_doc_shows_commands() -> None:
    assert len(_console_commands()) >= 15


@pytest.mark.parametrize("line", _console_commands())
def test_every_console_command_is_a_real_command(
    line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _command_path(line)
    assert main([*path, "--help"]) == 0, capsys.readouterr().err
