"""The /generate contract: the request, its settings-driven limits and the response."""

from pydantic import BaseModel, ConfigDict, Field

from .platform.contract import JsonBool, JsonInt
from .platform.host import with_limits

# The longest a valid /generate body can be: a prompt character is at most 12 bytes of
# JSON (a code point above U+FFFF written as two \\uXXXX escapes); the other fields,
# the keys and ordinary spacing fit in the slack.
BYTES_PER_PROMPT_CHAR = 12
BODY_SLACK_BYTES = 4096
DEFAULT_NEW_TOKENS = 8


class GenerateRequest(BaseModel):
    """The request contract; `bounded_request` adds this server's limits to it."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(
        min_length=1,
        description="The user message; also at most MAX_PROMPT_TOKENS tokens once in the "
        "chat template (a 422 says so).",
    )
    max_new_tokens: JsonInt = Field(default=DEFAULT_NEW_TOKENS, ge=1)
    use_adapter: JsonBool = Field(default=True, description="False answers with the base model.")
    task_instruction: JsonBool = Field(
        default=True, description="Wrap the prompt in the routing instruction it was tuned on."
    )


def bounded_request(max_prompt_chars: int, max_new_tokens_cap: int) -> type[GenerateRequest]:
    """`GenerateRequest` with the configured limits (MAX_PROMPT_CHARS, MAX_NEW_TOKENS_CAP).

    One set of limits, checked by validation: a 422 names the limit this server
    applies, whatever the size of the value, and the OpenAPI schema shows it.
    """
    return with_limits(
        GenerateRequest,
        prompt={"max_length": max_prompt_chars},
        max_new_tokens={
            "le": max_new_tokens_cap,
            "default": min(DEFAULT_NEW_TOKENS, max_new_tokens_cap),
        },
    )


def generate_body_limit(max_prompt_chars: int) -> int:
    """Bytes no valid /generate request exceeds with MAX_PROMPT_CHARS characters."""
    return BYTES_PER_PROMPT_CHAR * max_prompt_chars + BODY_SLACK_BYTES


class GenerateResponse(BaseModel):
    text: str
    label: str | None = Field(description="The routing label, when the answer is one.")
    model_version: str
    adapter: bool
