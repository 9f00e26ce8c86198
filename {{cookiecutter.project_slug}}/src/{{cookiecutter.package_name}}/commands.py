"""What every variant's command line shares: logging set up once, one way to fail."""

import os
from collections.abc import Callable

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError

from .logs import configure_logging

ENV_FILE = ".env"


def describe_settings_error(exc: Exception) -> str:
    """One line a person can act on: which setting, what was wrong, where to fix it."""
    where = f"fix it in the environment or in {ENV_FILE} (see .env.example)"
    if isinstance(exc, ValidationError):
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']).upper()}="
            f"{str(error.get('input'))[:80]!r}: {error['msg']}"
            for error in exc.errors()
        )
        return f"invalid setting {problems}; {where}"
    if isinstance(exc, UnicodeDecodeError):
        return f"cannot read {ENV_FILE}: it is not UTF-8 text ({exc.reason}); save it as UTF-8"
    # pydantic-settings names the field in its message, for values it cannot parse at all.
    return f"invalid setting: {exc}; {where}"


def command_app(help_text: str, log_level: Callable[[], str]) -> typer.Typer:
    """A typer app whose commands run with logging configured at `log_level()`.

    `log_level()` reads the settings, so a bad setting stops every command here,
    with one line naming it; LOG_LEVEL=DEBUG adds the traceback.
    """
    app = typer.Typer(help=help_text, no_args_is_help=True)

    @app.callback()
    def main() -> None:
        """Configure logging once for whichever command runs."""
        try:
            level = log_level()
        except (ValidationError, SettingsError, UnicodeDecodeError) as exc:
            if os.environ.get("LOG_LEVEL", "").upper() == "DEBUG":
                raise
            raise fail(describe_settings_error(exc)) from None
        configure_logging(level)

    return app


def fail(message: str) -> typer.Exit:
    """Print `error: <message>` on stderr; raise what it returns to exit with status 1."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)
