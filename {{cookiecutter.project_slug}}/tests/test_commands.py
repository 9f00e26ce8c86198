import json
import logging

import typer
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.commands import command_app, fail


def _app() -> typer.Typer:
    app = command_app("A test app.", lambda: "DEBUG")

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
