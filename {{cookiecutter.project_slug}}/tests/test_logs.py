import json
import logging
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.platform.logs import (
    QUIET_LOGGERS,
    JsonFormatter,
    configure_logging,
    current_log_file,
    request_id_var,
)


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_log_line_is_json_with_request_id_and_extras() -> None:
    token = request_id_var.set("req-42")
    try:
        line = JsonFormatter().format(_record("hello %s", route="/predict"))
    finally:
        request_id_var.reset(token)

    payload = json.loads(line)
    assert payload["message"] == "hello %s"
    assert payload["request_id"] == "req-42"
    assert payload["route"] == "/predict"
    assert payload["level"] == "INFO"


def test_log_line_without_request_has_no_request_id() -> None:
    assert "request_id" not in json.loads(JsonFormatter().format(_record("x")))


def test_exceptions_are_rendered_into_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("app", logging.ERROR, __file__, 1, "failed", None, None)
        record.exc_info = sys.exc_info()

    assert "ValueError: boom" in json.loads(JsonFormatter().format(record))["exc_info"]


def test_configure_logging_installs_one_json_handler(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("WARNING")
    configure_logging("INFO")
    logging.getLogger("x").info("visible", extra={"k": 1})

    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["k"] == 1


@pytest.mark.parametrize(("level", "shown"), [("INFO", ["kept", "warned"]), ("DEBUG", None)])
def test_library_chatter_is_quiet_unless_debugging(
    capsys: pytest.CaptureFixture[str], level: str, shown: list[str] | None
) -> None:
    configure_logging(level)
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).log(floor - 10, "chatter")
    logging.getLogger("mlflow.store.db.utils").warning("warned")
    logging.getLogger("project").info("kept")

    # MLflow may print through its own handler, in its own format: count the words.
    err = capsys.readouterr().err
    if shown is None:  # DEBUG: everything, the chatter included
        assert err.count("chatter") == len(QUIET_LOGGERS)
    else:
        assert "chatter" not in err
        assert all(err.count(message) == 1 for message in shown)


def test_a_command_log_file_keeps_info_lines_the_terminal_does_not_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log_file = tmp_path / "logs" / "train.log"
    log_file.parent.mkdir()
    log_file.write_text("the previous run\n")

    configure_logging("WARNING", log_file)
    logging.getLogger("project").info("epoch 1 of 2")
    logging.getLogger("project").warning("slow disk")
    logging.getLogger("mlflow.store.db.utils").info("chatter")

    kept = [json.loads(line)["message"] for line in log_file.read_text().splitlines()]
    assert current_log_file() == log_file
    assert kept == ["epoch 1 of 2", "slow disk"]
    assert capsys.readouterr().err.count("slow disk") == 1
    configure_logging("INFO")
    assert current_log_file() is None


def test_an_unwritable_log_folder_leaves_logging_on_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "logs"
    blocked.write_text("a file where the folder should be")

    configure_logging("INFO", blocked / "train.log")
    logging.getLogger("project").info("still shown")

    assert current_log_file() is None
    assert "still shown" in capsys.readouterr().err
