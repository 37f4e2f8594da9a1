"""A newcomer's first run: `make demo` reads well in an 80-column terminal (issue #18, point 6).

What `make demo` prints is a summary, not the tables: what was loaded, where the ledger is, three
commands that show the rest (each must run on the demo data), and the web console's address with
the token to sign in. The Makefile's own steps run here, in a pseudo-terminal 80 columns wide, as a
newcomer's shell would run them; the service is started on a free port and stopped by the test.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import httpx
import pytest

from api.cli import main
from api.cli.demo import THINGS_TO_TRY, program_name
from api.cli.service_cmds import banner
from tests.served import free_port

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = 80
# Colours, cursor moves and the progress bars' redraws, which take no column of their own.
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
# A command the summary suggests: two spaces, then the program as the person ran it.
SUGGESTED = re.compile(r"^  ((?:\S*/)?reliquary) (.+)$")


def screen_lines(text: str) -> list[str]:
    """What a terminal shows: escape sequences dropped, each line and each carriage-return
    segment (a progress bar's redraw) on its own."""
    plain = ESCAPE.sub("", text)
    return [segment for line in plain.split("\n") for segment in line.rstrip("\r").split("\r")]


def assert_fits(text: str) -> None:
    for line in screen_lines(text):
        assert len(line) <= COLUMNS, f"{len(line)} columns: {line!r}"
    assert "…" not in text, "something was cut short"


def suggested_commands(text: str) -> list[list[str]]:
    return [
        [found.group(1), *shlex.split(found.group(2))]
        for line in screen_lines(text)
        if (found := SUGGESTED.match(line))
    ]


def first_run_environment() -> dict[str, str]:
    """The test's environment without the settings a newcomer would not have set (the ledger
    is then ./reliquary.db, as for `make demo`) nor a width the terminal does not say."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("RELIQUARY_") and name not in ("COLUMNS", "LINES")
    }


class Terminal:
    """A command in a pseudo-terminal 80 columns wide, its output read as it comes."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
        self.process = subprocess.Popen(  # noqa: S603 (the Makefile's own recipe lines)
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=env,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    def read(self, timeout: float) -> bool:
        """Read what is there within ``timeout`` seconds; False once the command's side closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every holder of the terminal's other side has exited
            return False
        self.output += data
        return bool(data)

    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace")

    def finish(self, limit: float = 120) -> int:
        """Read to the end; the exit code."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and self.read(1):
            pass
        code = self.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        os.close(self.master)
        return code

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)  # Ctrl-C, as the banner says
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        os.close(self.master)


def make_demo_steps() -> list[str]:
    """The recipe lines of `make demo` (``make -n`` prints them without running any)."""
    listed = subprocess.run(  # noqa: S603
        ["make", "-n", "-s", "demo"],  # noqa: S607 (make from the PATH, as a newcomer runs it)
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in listed.stdout.splitlines() if "bin/reliquary " in line]


@pytest.fixture
def newcomer_directory(tmp_path: Path) -> Path:
    """A directory like a checkout after `make`'s venv step: ``.venv/bin`` holds `reliquary`."""
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "reliquary").exists():
        pytest.skip(f"no reliquary script beside {sys.executable} (pip install -e .)")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "bin").symlink_to(bin_dir)
    return tmp_path


def test_make_demo_fits_80_columns_and_its_suggestions_and_console_work(
    newcomer_directory: Path,
) -> None:
    if shutil.which("make") is None:
        pytest.skip("no make on the PATH")
    steps = make_demo_steps()
    assert steps[-1].endswith("reliquary serve --demo-tokens"), steps
    env = first_run_environment()
    shown = ""
    for step in steps[:-1]:
        terminal = Terminal(step, newcomer_directory, env)
        code = terminal.finish()
        assert code == 0, f"{step!r} exited {code}: {terminal.text()}"
        shown += terminal.text()

    # The service, on a free port, until the test presses Ctrl-C.
    port = free_port()
    served = Terminal(f"{steps[-1]} --port {port}", newcomer_directory, env)
    try:
        deadline = time.monotonic() + 60
        while "serving until Ctrl-C" not in served.text() and time.monotonic() < deadline:
            assert served.read(1) or "serving until" in served.text(), served.text()
        shown += served.text()
        assert_fits(shown)
        lines = [line.strip() for line in screen_lines(shown)]
        console = f"http://127.0.0.1:{port}/web/"
        assert f"web console: {console}" in lines
        tokens = dict(line.split() for line in lines if re.fullmatch(r"[a-z]+ +rlq_\S+", line))
        assert set(tokens) == {"auditor", "board", "reviewer", "researcher"}, lines
        signed_in = sign_in(console, tokens["auditor"], deadline)
        assert "demo-auditor" in signed_in
        # The board's token opens the board's queue: a board member tries deciding at once.
        assert "/web/queue/access" in sign_in(console, tokens["board"], deadline)
    finally:
        served.stop()

    # A summary, not the tables: no history was printed, the models' table was.
    assert "ModelRegistered" not in shown
    assert "claude-opus-3" in shown and "ember-3" in shown
    assert "ledger: sqlite:///reliquary.db (SQLite), 6 models, 124 events" in lines

    # Three things to try, each as printed, run from the same directory on the demo data.
    commands = suggested_commands(shown)
    assert len(commands) == len(THINGS_TO_TRY) == 3
    for command in commands:
        done = subprocess.run(  # noqa: S603 (the commands the summary printed)
            command,
            cwd=newcomer_directory,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, f"{shlex.join(command)}: {done.stderr}"
        assert done.stdout.strip(), f"{shlex.join(command)} printed no table"


def sign_in(console: str, token: str, deadline: float) -> str:
    """Sign in to the web console with ``token``, as a person would; the overview's HTML."""
    with httpx.Client(base_url=console, timeout=10) as client:
        while True:
            try:
                form = client.get("login", params={"next": "/web/"})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the console did not answer"
                time.sleep(0.1)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None, form.text
        signed = client.post(
            "login",
            data={"token": token, "csrf": csrf.group(1), "next": "/web/"},
            follow_redirects=True,
        )
        assert signed.status_code == 200, signed.text
        return signed.text


@pytest.fixture
def ledger_url(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store of each backend, set as a newcomer would set it; SQLite's file named relative
    to the working directory, as `make demo`'s is."""
    monkeypatch.chdir(tmp_path)
    url = "sqlite:///ledger.db" if database_url.startswith("sqlite") else database_url
    monkeypatch.setenv("RELIQUARY_DATABASE_URL", url)
    monkeypatch.setenv("RELIQUARY_SIGNING_KEY", str(tmp_path / "signing.key"))
    return url


def test_the_demo_summary_fits_and_each_suggestion_runs_on_each_backend(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--json"]) == 0
    capsys.readouterr()
    assert main(["demo"]) == 0
    printed = capsys.readouterr()
    assert_fits(printed.err + printed.out)
    backend = "SQLite" if ledger_url.startswith("sqlite") else "PostgreSQL"
    # A long URL wraps at a space (never cut): read the words.
    words = " ".join(printed.err.split())
    assert f"ledger: {ledger_url} ({backend}), 6 models, 124 events" in words
    # Not the default store: the summary says the commands need it named.
    assert "with RELIQUARY_DATABASE_URL set to the ledger above" in words
    # stdout, a pipe here, holds only data: the models' table, tab-separated.
    assert printed.out.splitlines()[:2] == ["# Models", "model\tstatus\tversion"]
    assert "Three things to try" not in printed.out

    commands = suggested_commands(printed.err)
    assert [command[1:] for command in commands] == [list(args) for args, _ in THINGS_TO_TRY]
    for command in commands:
        assert command[0] == "reliquary"
        code = main(command[1:])
        ran = capsys.readouterr()
        assert code == 0, f"{shlex.join(command)}: {ran.err}"
        assert ran.out.strip(), f"{shlex.join(command)} printed no table"


def test_a_second_demo_says_nothing_new_was_applied(
    ledger_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == 0
    assert main(["demo"]) == 0
    second = capsys.readouterr().err.split("OK: demo loaded")[-1]
    assert second.startswith(" (0 command(s) applied, 124 already present)")


def test_the_ledger_is_named_without_its_password() -> None:
    from api.cli.demo import where_the_ledger_is

    shown = where_the_ledger_is("postgresql://board:s3cret@db.example:5432/ledger")
    assert shown == "postgresql://board:***@db.example:5432/ledger (PostgreSQL)"


@pytest.mark.parametrize(
    ("argv0", "on_path", "expected"),
    [
        (".venv/bin/reliquary", None, ".venv/bin/reliquary"),  # make demo, venv not on PATH
        (".venv/bin/reliquary", "/elsewhere/bin/reliquary", ".venv/bin/reliquary"),
        ("/usr/lib/python3/pytest", None, "reliquary"),  # in-process
    ],
)
def test_the_suggestions_name_the_program_as_it_was_run(
    argv0: str, on_path: str | None, expected: str
) -> None:
    assert program_name(argv0, on_path) == expected


def test_the_suggestions_say_reliquary_when_the_path_finds_the_same_script(
    tmp_path: Path,
) -> None:
    script = tmp_path / "bin" / "reliquary"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    assert program_name(str(script), str(script)) == "reliquary"


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]
)
def test_the_serve_banner_names_the_console_first_and_the_token_to_sign_in(host: str) -> None:
    tokens = {role: f"rlq_{role[0]}" + "x" * 42 for role in ("auditor", "researcher")}
    lines = banner(host, 65535, tokens)
    shown = f"[{host}]" if ":" in host else host
    assert lines[0] == f"web console: http://{shown}:65535/web/"
    assert "token" in lines[1]
    assert lines[2].split() == ["auditor", tokens["auditor"]]
    assert lines[3].split() == ["researcher", tokens["researcher"]]
    assert f"API docs: http://{shown}:65535/docs" in lines
    assert_fits("\n".join(lines))


def test_the_serve_banner_without_a_token_has_no_token_line() -> None:
    assert banner("127.0.0.1", 8000, {}) == banner("127.0.0.1", 8000, None)
    lines = banner("127.0.0.1", 8000, None)
    assert lines[0] == "web console: http://127.0.0.1:8000/web/"
    assert not any("token" in line for line in lines)
