"""What every variant's command line shares: logging set up once, one way to fail."""

from collections.abc import Callable

import typer

from .logs import configure_logging


def command_app(help_text: str, log_level: Callable[[], str]) -> typer.Typer:
    """A typer app whose commands run with logging configured at `log_level()`."""
    app = typer.Typer(help=help_text, no_args_is_help=True)

    @app.callback()
    def main() -> None:
        """Configure logging once for whichever command runs."""
        configure_logging(log_level())

    return app


def fail(message: str) -> typer.Exit:
    """Print `error: <message>` on stderr; raise what it returns to exit with status 1."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code=1)
