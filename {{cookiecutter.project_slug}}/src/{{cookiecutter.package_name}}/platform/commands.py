"""What every variant's command line shares: logging set up once, one way to fail."""

import errno
import os
from collections.abc import Callable
from typing import Any

import typer
from pydantic import BaseModel, ValidationError
from pydantic_settings import SettingsError

from .logs import LOG_DIR, configure_logging

ENV_FILE = ".env"
# A server's log is a stream its platform collects (and its image is read-only);
# writing docs says what it wrote.
TERMINAL_ONLY_COMMANDS = frozenset({"serve", "docs"})


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


def _debugging() -> bool:
    return os.environ.get("LOG_LEVEL", "").upper() == "DEBUG"


def describe_os_error(exc: OSError) -> str:
    """A failed read or write as one line: what, where, and what to do."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full{where}: free some space and run it again"
    if exc.errno in {errno.EACCES, errno.EPERM, errno.EROFS}:
        return f"{exc.strerror}{where}: check who owns it, or run from a writable folder"
    return f"{exc.strerror or exc}{where}"


class CommandApp(typer.Typer):
    """A typer app where an OSError (a full disk, a folder it may not write) ends the
    command with one line instead of a traceback; LOG_LEVEL=DEBUG keeps the traceback."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except OSError as exc:
            if _debugging():
                raise
            raise SystemExit(f"error: {describe_os_error(exc)}") from None


def command_app(
    help_text: str, log_level: Callable[[], str], settings: type[BaseModel]
) -> typer.Typer:
    """A typer app whose commands run with logging configured at `log_level()`.

    `log_level()` reads the settings, so a bad setting stops every command here,
    with one line naming it; LOG_LEVEL=DEBUG adds the traceback. Every app has
    `docs`, which writes the configuration table and `.env.example` from `settings`.
    """
    app = CommandApp(help=help_text, no_args_is_help=True)

    @app.command()
    def docs() -> None:
        """Rewrite the README's configuration table and .env.example from the settings."""
        from .configuration import write_docs

        write_docs(settings)

    @app.callback()
    def main(ctx: typer.Context) -> None:
        """Configure logging once for whichever command runs."""
        try:
            level = log_level()
        except (ValidationError, SettingsError, UnicodeDecodeError) as exc:
            if _debugging():
                raise
            raise fail(describe_settings_error(exc)) from None
        command = ctx.invoked_subcommand
        # One log per launch: under a distributed launcher only rank 0 keeps the file.
        rank_zero = os.environ.get("RANK", "0") in {"", "0"}
        kept = command is not None and command not in TERMINAL_ONLY_COMMANDS and rank_zero
        configure_logging(level, LOG_DIR / f"{command}.log" if kept else None)

    return app


def fail(message: str) -> typer.Exit:
    """Print `error: <message>` on stderr; raise what it returns to exit with status 1."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)
