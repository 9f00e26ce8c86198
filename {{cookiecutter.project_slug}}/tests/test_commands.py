import errno
import json
import logging
import os
from pathlib import Path

import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.platform.commands import command_app, fail
from {{ cookiecutter.package_name }}.platform.config import ProjectSettings
from {{ cookiecutter.package_name }}.platform.logs import configure_logging


def _app() -> typer.Typer:
    app = command_app("A test app.", lambda: "DEBUG", ProjectSettings)

    @app.command()
    def ok() -> None:
        logging.getLogger("test").debug("done")

    @app.command()
    def broken() -> None:
        raise fail("the input is broken: fix it")

    return app


def test_commands_run_with_logging_configured_from_the_settings() -> None:
    result = CliRunner().invoke(_app(), ["ok"])

    assert result.exit_code == 0
    assert logging.getLogger().level == logging.DEBUG
    line = result.stderr.strip().splitlines()[-1]
    assert json.loads(line)["message"] == "done"


def test_fail_exits_1_with_the_message_on_stderr() -> None:
    result = CliRunner().invoke(_app(), ["broken"])

    assert result.exit_code == 1
    assert "error: the input is broken: fix it" in result.output


def _settings_app() -> typer.Typer:
    app = command_app("Reads the settings.", lambda: ProjectSettings().log_level, ProjectSettings)

    @app.command()
    def ok() -> None:
        typer.echo("ran")

    return app


@pytest.mark.parametrize(
    ("name", "value"),
    [("API_PORT", "abc"), ("MAX_BODY_BYTES", "1MB"), ("LOG_LEVEL", "verbose")],
)
def test_a_bad_setting_stops_every_command_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    result = CliRunner().invoke(_settings_app(), ["ok"])

    assert result.exit_code == 1
    assert "ran" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"invalid setting {name}='{value}'" in lines[0]
    assert ".env" in lines[0]
    assert "Traceback" not in result.output


def test_a_non_utf8_env_file_is_named_in_one_line(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"API_PORT=8000\nDESCRIPTION=caf\xe9\n")

    result = CliRunner().invoke(_settings_app(), ["ok"])

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: cannot read .env: it is not UTF-8 text (invalid continuation byte); "
        "save it as UTF-8"
    ]


def test_debug_log_level_shows_the_traceback_of_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("API_PORT", "abc")

    result = CliRunner().invoke(_settings_app(), ["ok"])

    assert isinstance(result.exception, ValidationError)


def _disk_app(error: OSError) -> typer.Typer:
    app = command_app("Writes files.", lambda: "INFO", ProjectSettings)

    @app.command()
    def write() -> None:
        raise error

    @app.command()
    def other() -> None:
        """A second command, so typer keeps the command names."""

    return app


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "index/vectors.npy"),
            "error: the disk is full (index/vectors.npy): free some space and run it again",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "models/champion"),
            "error: Permission denied (models/champion): check who owns it, "
            "or run from a writable folder",
        ),
    ],
)
def test_an_os_error_ends_the_command_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: OSError, line: str
) -> None:
    monkeypatch.setattr("sys.argv", ["project", "write"])

    with pytest.raises(SystemExit) as stopped:
        _disk_app(error)()

    assert str(stopped.value) == line
    assert "Traceback" not in capsys.readouterr().err


def test_debug_log_level_keeps_the_traceback_of_an_os_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.argv", ["project", "write"])
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")

    with pytest.raises(OSError, match="No space left"):
        _disk_app(OSError(errno.ENOSPC, "No space left on device", "x"))()


def test_each_batch_command_keeps_its_last_log_and_serve_keeps_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = command_app("Logs.", lambda: "WARNING", ProjectSettings)

    @app.command()
    def train() -> None:
        logging.getLogger("project").info("epoch 1")

    @app.command()
    def serve() -> None:
        logging.getLogger("project").info("listening")

    runner = CliRunner()
    try:
        first = runner.invoke(app, ["train"])
        again = runner.invoke(app, ["train"])
        served = runner.invoke(app, ["serve"])
    finally:
        configure_logging("INFO")

    lines = (tmp_path / "logs" / "train.log").read_text().splitlines()
    assert first.exit_code == again.exit_code == served.exit_code == 0
    assert [json.loads(line)["message"] for line in lines] == ["epoch 1"]
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["train.log"]


def test_only_rank_zero_of_a_distributed_launch_keeps_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    app = command_app("Logs.", lambda: "INFO", ProjectSettings)

    @app.command()
    def train() -> None:
        logging.getLogger("project").info("rank %s", os.environ["RANK"])

    @app.command()
    def other() -> None:
        """A second command, so typer keeps the command names."""

    runner = CliRunner()
    try:
        zero = runner.invoke(app, ["train"], env={"RANK": "0"})
        one = runner.invoke(app, ["train"], env={"RANK": "1"})
    finally:
        configure_logging("INFO")

    lines = (tmp_path / "logs" / "train.log").read_text().splitlines()
    assert zero.exit_code == one.exit_code == 0
    assert [json.loads(line)["message"] for line in lines] == ["rank 0"]
