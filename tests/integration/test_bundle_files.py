"""A bundle's files as an adversary may leave them: links, FIFOs, huge files, a private key.

`export` writes a new folder (0700) of new files (0600), never through a link and never into a
folder that holds anything; `verify-bundle` and `import` read a folder that is not a link and
only regular files within their size limits, and never show a file that looks like a private
key (the incident: a bundle's ``verifier-key`` linked to the signing key, and verify-bundle
printed it). A FIFO must be refused, not waited on: each such test runs the check in a thread
and asserts the error it gave (the thread's join is only a guard against a hung suite).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from api.bootstrap import build_ledger, build_log
from api.cli import main
from api.cli.demo import load_demo
from api.settings import Settings
from domain.errors import BundleDoesNotVerify, BundleError, UnreadableFile
from domain.ledger import Ledger
from projections.translog import bundle as bundles
from projections.translog.bundle import (
    CHECKPOINT,
    EVENTS,
    KEY,
    MAX_CHECKPOINT_BYTES,
    MAX_KEY_BYTES,
    MAX_LINE_BYTES,
    README,
    check_export_target,
    excerpt,
    export_bundle,
    import_bundle,
    read_pinned_key,
    verify_bundle,
)
from projections.translog.checkpoint import generate_signing_key, verifier_key
from projections.translog.tree import TransparencyLog

ORIGIN = "reliquary.test/ledger"
SIGNING_KEY = generate_signing_key(ORIGIN)
VERIFIER = verifier_key(SIGNING_KEY)
# The key's secret part: its base64 seed, after ``PRIVATE+KEY+<name>+<key id>+``. Base64 may
# itself hold a "+" (even as its last character), so the split is from the left.
SECRET = SIGNING_KEY.split("+", 4)[4]
assert len(SECRET) == 44
FILES = sorted([EVENTS, CHECKPOINT, KEY, README])


@pytest.fixture
def log(ledger: Ledger, database_url: str) -> TransparencyLog:
    """The demo ledger's log."""
    load_demo(ledger)
    return build_log(Settings(database_url=database_url, log_origin=ORIGIN), ledger)


@pytest.fixture
def bundle(log: TransparencyLog, tmp_path: Path) -> Path:
    """The demo ledger exported as a bundle."""
    export_bundle(log, tmp_path / "bundle", SIGNING_KEY, VERIFIER)
    return tmp_path / "bundle"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """The signing key, as `reliquary init` keeps it (mode 0600)."""
    path = tmp_path / "signing.key"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(SIGNING_KEY + "\n")
    return path


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[TransparencyLog]:
    """An empty ledger's log to import into."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'restored.db'}", log_origin=ORIGIN)
    ledger = build_ledger(settings)
    yield build_log(settings, ledger)
    ledger.close()


def promptly(check: Callable[[], Any]) -> BaseException | None:
    """Run ``check`` in a thread and return what it raised (None if nothing).

    A FIFO opened for reading would block until a writer comes: the join is a guard that turns
    such a hang into a failure instead of a stuck suite, not a measure of speed.
    """
    raised: list[BaseException | None] = []

    def run() -> None:
        try:
            check()
        except BaseException as error:  # noqa: BLE001 (handed back to the test)
            raised.append(error)
        else:
            raised.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(120)
    assert raised, "the check never returned: it waited on the FIFO"
    return raised[0]


# --- export -------------------------------------------------------------------------------------


def test_export_writes_a_private_folder_of_private_files(
    log: TransparencyLog, tmp_path: Path
) -> None:
    previous = os.umask(0o022)  # a usual umask would leave 0755 and 0644
    try:
        target = tmp_path / "deep" / "er" / "bundle"
        count, _ = export_bundle(log, target, SIGNING_KEY, VERIFIER)
    finally:
        os.umask(previous)
    assert count > 100
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    names = sorted(path.name for path in target.iterdir())
    # One manifest file per WeightsPreserved digest (the demo preserves five models' weights).
    manifests = [name for name in names if name.startswith("manifest-")]
    assert len(manifests) == 5
    assert sorted(set(names) - set(manifests)) == FILES
    for path in target.iterdir():
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600, path.name
        assert path.is_file() and not path.is_symlink()
    assert verify_bundle(target, VERIFIER).ok


def test_export_into_an_empty_folder_and_never_over_one_with_files(
    log: TransparencyLog, tmp_path: Path
) -> None:
    target = tmp_path / "made-by-hand"
    target.mkdir()
    export_bundle(log, target, SIGNING_KEY, VERIFIER)
    assert verify_bundle(target, VERIFIER).ok
    before = {path.name: path.read_bytes() for path in target.iterdir()}
    with pytest.raises(BundleError, match="not empty"):
        export_bundle(log, target, SIGNING_KEY, VERIFIER)
    assert {path.name: path.read_bytes() for path in target.iterdir()} == before


def test_export_refuses_a_target_that_is_a_link(log: TransparencyLog, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    for check in (
        lambda: check_export_target(link),
        lambda: export_bundle(log, link, SIGNING_KEY, VERIFIER),
    ):
        with pytest.raises(BundleError, match="is a symbolic link"):
            check()
    assert list(real.iterdir()) == []
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(BundleError, match="is a symbolic link"):
        export_bundle(log, dangling, SIGNING_KEY, VERIFIER)
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("name", [EVENTS, KEY, "other"])
def test_export_refuses_a_link_inside_the_target(
    log: TransparencyLog, tmp_path: Path, name: str
) -> None:
    target = tmp_path / "bundle"
    target.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    (target / name).symlink_to(victim)
    with pytest.raises(BundleError, match=r"holds a symbolic link"):
        check_export_target(target)
    with pytest.raises(BundleError, match=r"holds a symbolic link"):
        export_bundle(log, target, SIGNING_KEY, VERIFIER)
    assert victim.read_text() == "keep me\n"
    assert sorted(path.name for path in target.iterdir()) == [name]


def test_export_refuses_a_target_that_is_a_file_or_a_fifo(
    log: TransparencyLog, tmp_path: Path
) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(BundleError, match="exists and is not a regular file"):
        export_bundle(log, file, SIGNING_KEY, VERIFIER)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    error = promptly(lambda: export_bundle(log, fifo, SIGNING_KEY, VERIFIER))
    assert isinstance(error, BundleError)
    assert "named pipe" in str(error)


# --- verify and import: links -------------------------------------------------------------------


def test_a_bundle_folder_that_is_a_link_is_refused(bundle: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(bundle)
    with pytest.raises(BundleError, match="is a symbolic link"):
        verify_bundle(link, VERIFIER)


@pytest.mark.parametrize("name", [EVENTS, CHECKPOINT, KEY])
def test_a_linked_file_in_a_bundle_is_refused(bundle: Path, tmp_path: Path, name: str) -> None:
    moved = tmp_path / f"moved-{name}"
    (bundle / name).rename(moved)
    (bundle / name).symlink_to(moved)  # the very same content, behind a link
    with pytest.raises(BundleError, match="is a symbolic link, not a regular file"):
        verify_bundle(bundle, VERIFIER)
    with pytest.raises(BundleError, match="symbolic link"):
        verify_bundle(bundle)


def test_a_verifier_key_linked_to_the_signing_key_is_never_shown(
    bundle: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / KEY).unlink()
    (bundle / KEY).symlink_to(key_file)
    secret = SECRET
    for pinned in (None, VERIFIER):
        with pytest.raises(BundleError) as refused:
            verify_bundle(bundle, pinned)
        assert secret not in str(refused.value)
    for argv in (
        ["verify-bundle", str(bundle)],
        ["verify-bundle", str(bundle), "--key", VERIFIER, "--json"],
    ):
        code = main(argv)
        captured = capsys.readouterr()
        assert code == 2
        assert "symbolic link" in captured.err
        assert secret not in captured.out + captured.err
        assert "PRIVATE" not in captured.out + captured.err


def test_a_verifier_key_that_is_a_private_key_is_never_shown(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A copy, not a link (a hard link or a careless `cp`): refused by its content.
    (bundle / KEY).write_text(SIGNING_KEY + "\n")
    secret = SECRET
    with pytest.raises(BundleError, match="looks like a private key") as refused:
        verify_bundle(bundle, VERIFIER)
    assert secret not in str(refused.value)
    assert main(["verify-bundle", str(bundle), "--key", VERIFIER]) == 2
    captured = capsys.readouterr()
    assert "looks like a private key" in captured.err
    assert secret not in captured.out + captured.err


def test_a_pinned_key_that_is_the_signing_key_is_never_shown(
    bundle: Path, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = SECRET
    with pytest.raises(BundleError, match="private signing key"):
        read_pinned_key(str(key_file))
    with pytest.raises(BundleError, match="private signing key"):
        verify_bundle(bundle, SIGNING_KEY)
    for command in ("verify-bundle", "import"):
        code = main([command, str(bundle), "--key", str(key_file)])
        captured = capsys.readouterr()
        assert code == 2, captured.err
        assert "private signing key" in captured.err
        assert secret not in captured.out + captured.err


def test_a_mismatched_verifier_key_is_shown_only_when_it_is_a_key(bundle: Path) -> None:
    other = verifier_key(generate_signing_key(ORIGIN))
    report = verify_bundle(bundle, other)
    assert not report.ok
    assert f"expected {other}, the bundle has {VERIFIER}" in report.problems[0]
    (bundle / KEY).write_text("x" * 500 + "\n")
    report = verify_bundle(bundle, other)
    assert "the bundle has something that is not a verifier key" in report.problems[0]
    assert "x" * 100 not in " ".join(report.problems)


# --- verify and import: special files ------------------------------------------------------------


@pytest.mark.parametrize("name", [EVENTS, KEY, CHECKPOINT])
def test_a_fifo_in_a_bundle_is_refused_not_waited_on(bundle: Path, name: str) -> None:
    (bundle / name).unlink()
    os.mkfifo(bundle / name)
    error = promptly(lambda: verify_bundle(bundle, VERIFIER))
    assert isinstance(error, BundleError)
    assert f"{name} is a named pipe (FIFO), not a regular file" in str(error)


def test_a_fifo_behind_a_link_is_refused_not_waited_on(bundle: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (bundle / KEY).unlink()
    (bundle / KEY).symlink_to(fifo)
    error = promptly(lambda: verify_bundle(bundle))
    assert isinstance(error, BundleError)
    assert "symbolic link" in str(error)


def test_a_fifo_given_as_the_pinned_key_is_refused(bundle: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pinned.key"
    os.mkfifo(fifo)
    error = promptly(lambda: read_pinned_key(str(fifo)))
    assert isinstance(error, UnreadableFile)
    assert "named pipe" in str(error)
    error = promptly(lambda: main(["verify-bundle", str(bundle), "--key", str(fifo)]))
    assert error is None  # main answered with an exit code, having printed the error


def test_a_folder_in_place_of_a_file_is_refused(bundle: Path) -> None:
    (bundle / CHECKPOINT).unlink()
    (bundle / CHECKPOINT).mkdir()
    with pytest.raises(BundleError, match="is a folder, not a regular file"):
        verify_bundle(bundle, VERIFIER)


def test_import_refuses_links_and_fifos_and_stores_nothing(
    bundle: Path, empty: TransparencyLog, tmp_path: Path
) -> None:
    moved = tmp_path / "events"
    (bundle / EVENTS).rename(moved)
    (bundle / EVENTS).symlink_to(moved)
    with pytest.raises(BundleError, match="symbolic link"):
        import_bundle(empty, bundle, VERIFIER)
    (bundle / EVENTS).unlink()
    os.mkfifo(bundle / EVENTS)
    error = promptly(lambda: import_bundle(empty, bundle, VERIFIER))
    assert isinstance(error, BundleError)
    assert "named pipe" in str(error)
    assert not empty.ledger.recorder.max_notification_id()


def test_import_refuses_events_changed_after_they_were_verified(
    bundle: Path, empty: TransparencyLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified = bundles._verify

    def verify_then_change(*args: Any, **kwargs: Any) -> Any:
        report = verified(*args, **kwargs)
        events = bundle / EVENTS
        events.write_bytes(events.read_bytes().replace(b"Opus 3", b"Opus 4", 1))
        return report

    monkeypatch.setattr(bundles, "_verify", verify_then_change)
    with pytest.raises(BundleDoesNotVerify, match="changed after it was verified"):
        import_bundle(empty, bundle, VERIFIER)
    assert not empty.ledger.recorder.max_notification_id()


# --- verify and import: sizes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "limit"), [(KEY, MAX_KEY_BYTES), (CHECKPOINT, MAX_CHECKPOINT_BYTES)]
)
def test_an_oversized_small_file_is_refused(bundle: Path, name: str, limit: int) -> None:
    (bundle / name).write_bytes(b"a" * (limit + 1))
    with pytest.raises(BundleError, match=rf"over the {limit:,} bytes it may have"):
        verify_bundle(bundle, VERIFIER)


def test_an_oversized_line_of_events_is_refused(bundle: Path) -> None:
    events = bundle / EVENTS
    events.write_bytes(events.read_bytes() + b"x" * (MAX_LINE_BYTES + 1) + b"\n")
    with pytest.raises(BundleError, match=rf"line \d+ is longer than the {MAX_LINE_BYTES:,}"):
        verify_bundle(bundle, VERIFIER)


def test_an_oversized_events_file_is_refused_before_it_is_read(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = (bundle / EVENTS).stat().st_size
    monkeypatch.setattr(bundles, "MAX_EVENTS_BYTES", size - 1)
    with pytest.raises(BundleError, match=rf"is {size:,} bytes, over the {size - 1:,} bytes"):
        verify_bundle(bundle, VERIFIER)


def test_reports_quote_files_only_as_short_sanitised_excerpts(bundle: Path) -> None:
    assert excerpt("a" * 500) == "a" * 80 + "..."
    assert excerpt("\x1b[2J\x00") == "\\x1b[2J\\x00"
    assert excerpt(f"xx {SIGNING_KEY} yy") == "(not shown: it looks like a private key)"
    assert "BEGIN" not in excerpt("-----BEGIN OPENSSH PRIVATE KEY-----\nabc")
    # A checkpoint full of terminal escapes and a long line: quoted short, escaped.
    (bundle / CHECKPOINT).write_text("\x1b]0;owned\x07" + "z" * 5000 + "\n\n— x y\n")
    report = verify_bundle(bundle, VERIFIER)
    assert not report.ok
    for problem in report.problems:
        assert "\x1b" not in problem
        assert len(problem) < 400


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> Callable[..., tuple[int, str, str]]:
    """`reliquary ARGS` on an initialised, empty store of each backend."""
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(tmp_path / "cli-signing.key"))
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", database_url)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert run("init")[0] == 0
    return run


def test_the_export_command_refuses_links_before_it_signs(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, database_url: str
) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    code, _, err = cli("export", str(tmp_path / "link"))
    assert code == 2
    assert "is a symbolic link" in err
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / EVENTS).symlink_to(tmp_path / "elsewhere")
    code, _, err = cli("export", str(inside))
    assert code == 2
    assert "holds a symbolic link" in err
    assert not (tmp_path / "elsewhere").exists()
    # Refused before anything was signed: the log has no checkpoint yet.
    settings = Settings(database_url=database_url, log_origin=ORIGIN)
    ledger = build_ledger(settings)
    try:
        assert build_log(settings, ledger).recorder.latest_checkpoint() is None
    finally:
        ledger.close()


def test_the_export_command_writes_private_files(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    assert cli("demo")[0] == 0
    target = tmp_path / "out"
    code, _, err = cli("export", str(target))
    assert code == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in target.iterdir()} == {0o600}
    code, _, err = cli("verify-bundle", str(target))
    assert code == 0, err
