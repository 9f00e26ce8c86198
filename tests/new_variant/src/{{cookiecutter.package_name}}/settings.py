"""The toy's settings: the platform's and its own."""

from functools import lru_cache

from pydantic import Field

from .platform.config import ProjectSettings


class Settings(ProjectSettings):
    """What the toy says."""

    greeting: str = Field(default="hello", min_length=1, description="What it says.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read settings once per process."""
    return Settings()
