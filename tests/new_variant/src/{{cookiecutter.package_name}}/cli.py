"""Command line: one greeting."""

from rich.console import Console

from .platform.commands import command_app
from .settings import Settings, get_settings

app = command_app("Greets.", lambda: get_settings().log_level, Settings)


@app.command()
def hello() -> None:
    """Print the greeting."""
    Console(highlight=False).print(get_settings().greeting)
