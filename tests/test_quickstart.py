"""Each variant's README quickstart, followed literally, as a new user would.

The user's shell: a fresh virtualenv is active (as after `pip install cookiecutter`),
uv is not installed yet, and the model hub is down. Every command of the README's
Quickstart runs as written, in order; each one either succeeds or stops at once with
one line naming the fix, and a fix the error prints is what the user runs next.
`make serve` runs in the background while the "In another terminal" commands are sent.

What the harness adapts, and only this: torch variants find the CPU torch wheel that
lies on this machine (`use_local_torch`: the project's PyTorch CPU index is out of
reach here), and curl reads a `.curlrc` that turns an HTTP error into a failed command.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import bake, choices, project_env, use_local_torch

# A hang guard, not a speed target: a step that fails must not wait on a dead hub.
STOP_SECONDS = 60
# The warning uv prints for every call when a virtualenv other than .venv is active.
FOREIGN_VENV_WARNING = "does not match the project environment"


@dataclass(frozen=True)
class Block:
    """One bash block of the Quickstart and the sentence before it."""

    lead: str
    commands: list[str]

    @property
    def in_another_terminal(self) -> bool:
        return "another terminal" in self.lead.lower()


def quickstart(readme: str) -> list[Block]:
    """The bash blocks of the `## Quickstart` section, as commands, up to "More:"."""
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = []
    for match in re.finditer(r"(?s)([^`]*?)```bash\n(.*?)```", section):
        commands: list[str] = []
        pending = ""
        for line in match.group(2).replace("\\\n", " ").splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            code = re.sub(r"\s{2,}#.*$", "", line)  # comments stand two spaces off
            pending = f"{pending}\n{code}" if pending else code
            try:  # a quoted argument may span lines
                shlex.split(pending)
            except ValueError:
                continue
            commands.append(pending.strip())
            pending = ""
        lead = match.group(1).strip().split("\n\n")[-1]
        if lead.startswith("More"):
            break
        blocks.append(Block(lead, commands))
    return blocks


def test_the_quickstart_reader_keeps_commands_and_drops_comments() -> None:
    readme = (
        "## Quickstart\n\nRun:\n\n```bash\nmake install   # the user's sync\n# a note\n"
        'curl -s http://x \\\n  -d \'{"a": 1,\n  "b": 2}\'\n```\n\n'
        "In another terminal:\n\n"
        "```bash\nmake serve\n```\n\nMore:\n\n```bash\nmake extra\n```\n\n"
        "## Next\n\n```bash\nnot this\n```\n"
    )

    blocks = quickstart(readme)

    assert [b.commands for b in blocks] == [
        ["make install", 'curl -s http://x    -d \'{"a": 1,\n  "b": 2}\''],
        ["make serve"],
    ]
    assert [b.in_another_terminal for b in blocks] == [False, True]


@dataclass
class Shell:
    """A new user's terminal in the generated project."""

    project: Path
    env: dict[str, str]
    transcript: list[str]

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        started = time.perf_counter()
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        seconds = time.perf_counter() - started
        self.transcript.append(f"$ {command}  [{result.returncode}, {seconds:.1f} s]")
        self.transcript.append((result.stdout + result.stderr)[-1500:])
        assert FOREIGN_VENV_WARNING not in result.stdout + result.stderr, self.log()
        if result.returncode != 0:
            assert seconds < STOP_SECONDS, self.log()
        return result

    def log(self) -> str:
        return "\n".join(self.transcript)


def fix_named_in(error: str) -> str | None:
    """The command an error line tells the user to run, if any."""
    match = re.search(r"`([^`]+)`", error)
    return match.group(1) if match else None


def fixes_named_in(error: str) -> list[str]:
    """Commands in backticks and settings (`NAME=value`) an error line offers."""
    settings = re.findall(r"\b[A-Z][A-Z0-9_]*=[^\s,;<]+", error)
    return re.findall(r"`([^`]+)`", error) + settings


# Make's own `Error 1` line, and uv's progress lines when it builds the project anew.
NOT_THE_ERROR = re.compile(
    r"make(\[\d+\])?: \*\*\*.*Error \d+"
    r"|\s*(Building|Built|Uninstalled|Installed|Prepared|Resolved|Audited) "
)


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What the user reads when a step fails."""
    return [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not NOT_THE_ERROR.match(line)
    ]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def user_shell(tmp_path: Path, cookiecutter_config: Path, variant: str) -> Shell:
    project = bake(tmp_path / "out", cookiecutter_config, {"variant": variant})
    torch = use_local_torch(project)
    # The machine's own PATH, less every folder that holds uv and the template's venv.
    system = [
        folder
        for folder in os.environ["PATH"].split(os.pathsep)
        if folder
        and not (Path(folder) / "uv").exists()
        and "/.venv/" not in folder + "/"
    ]
    python = shutil.which("python3", path=os.pathsep.join(system))
    assert python, "no python3 outside the folders that hold uv"
    venv = tmp_path / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=120)
    curl_home = tmp_path / "curl"
    curl_home.mkdir()
    (curl_home / ".curlrc").write_text("fail-with-body\n", encoding="utf-8")
    # This machine's network settings stay (index mirrors, certificates); the rest is
    # the new user's: their PATH, their active virtualenv, a hub that is down.
    env = project_env()
    for offline in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(offline)
    env.update(
        PATH=os.pathsep.join([str(venv / "bin"), *system]),
        VIRTUAL_ENV=str(venv),
        CURL_HOME=str(curl_home),
        # The hub is down: connections to it are refused.
        HF_ENDPOINT="http://127.0.0.1:9",
        GIT_AUTHOR_NAME="New User",
        GIT_AUTHOR_EMAIL="new.user@example.com",
        GIT_COMMITTER_NAME="New User",
        GIT_COMMITTER_EMAIL="new.user@example.com",
        **({"UV_FIND_LINKS": torch["UV_FIND_LINKS"]} if torch else {}),
    )
    return Shell(project, env, [])


def serve(shell: Shell, command: str) -> subprocess.Popen[str]:
    """Start `make serve` on a free port (the README's 8000 may be taken here)."""
    port = free_port()
    shell.env["API_PORT"] = str(port)
    shell.transcript.append(f"$ {command} &  [API_PORT={port}]")
    server = subprocess.Popen(
        ["bash", "-c", command],
        cwd=shell.project,
        env=shell.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            pytest.fail(f"`{command}` stopped\n{shell.log()}\n{output}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                return server
        except OSError:
            time.sleep(0.5)
    stop(server)
    pytest.fail(f"`{command}` never became ready\n{shell.log()}")


def stop(server: subprocess.Popen[str]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def on_port(command: str, port: str) -> str:
    return command.replace("127.0.0.1:8000", f"127.0.0.1:{port}")


@pytest.mark.parametrize("variant", choices("variant"))
def test_the_readme_quickstart_works_for_a_new_user(
    user_shell: Shell, variant: str
) -> None:
    shell = user_shell
    blocks = quickstart((shell.project / "README.md").read_text(encoding="utf-8"))
    assert blocks, f"the {variant} README has no Quickstart"
    first = blocks[0].commands[0]

    # uv is missing: the first step stops with one line, and its fix is run as written.
    missing = shell.run(first)
    assert missing.returncode != 0
    assert len(error_lines(missing)) == 1, shell.log()
    fix = fix_named_in(error_lines(missing)[0])
    assert fix == "python -m pip install uv", shell.log()
    assert shell.run(fix).returncode == 0, shell.log()

    fixes: list[str] = []
    serve_command = None
    for block in blocks:
        if block.in_another_terminal:
            continue
        for command in block.commands:
            if command.startswith("make serve"):
                serve_command = command  # served once the steps before it are done
                continue
            result = shell.run(command)
            if result.returncode != 0:
                errors = error_lines(result)
                assert len(errors) == 1, shell.log()
                assert errors[0].startswith("error: "), shell.log()
                fixes.append(errors[0])
    assert serve_command is not None, "the Quickstart never serves"

    server = serve(shell, serve_command)
    try:
        for block in blocks:
            if block.in_another_terminal:
                for command in block.commands:
                    result = shell.run(on_port(command, shell.env["API_PORT"]))
                    assert result.returncode == 0, shell.log()
                    assert result.stdout.strip(), shell.log()
    finally:
        stop(server)

    log = subprocess.run(
        ["git", "log", "--format=%s"],
        cwd=shell.project,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Lock dependencies" in log.stdout.splitlines(), shell.log()
    # A step may stop only when the same Quickstart runs the fix it names.
    everything = " ".join(c for b in blocks for c in b.commands)
    for error in fixes:
        offered = fixes_named_in(error)
        assert any(fix in everything for fix in offered), f"{error}\n{shell.log()}"
