import httpx
import pytest
from pydantic import SecretStr

from {{ cookiecutter.package_name }}.answer import (
    EXTRACTIVE,
    LLMClient,
    LLMError,
    build_messages,
    extractive_answer,
    plain_text,
)
from {{ cookiecutter.package_name }}.chunking import Chunk
from {{ cookiecutter.package_name }}.index import ScoredChunk

from variant_fixtures import FakeLLM

HITS = [
    ScoredChunk(
        Chunk("a#0", "a", "Plans", "Upgrades apply at once. Prices exclude VAT.", 0, 40, ()), 0.9
    ),
    ScoredChunk(
        Chunk(
            "b#0",
            "b",
            "Cancelling",
            "After cancelling, the workspace is read-only for 90 days. Then it is deleted.",
            0,
            70,
            (),
        ),
        0.8,
    ),
]


def test_extractive_answer_quotes_the_matching_sentence_with_its_source_number() -> None:
    answer = extractive_answer("How long is the workspace read-only after cancelling?", HITS, 1)

    assert answer.text == "After cancelling, the workspace is read-only for 90 days. [2]"
    assert answer.generator == EXTRACTIVE


def test_extractive_answer_without_sources_says_so() -> None:
    assert "No passage" in extractive_answer("anything", []).text


def test_prompt_numbers_sources_like_the_citations() -> None:
    messages = build_messages("q?", HITS)

    assert messages[0]["role"] == "system"
    assert "[1] Plans: Upgrades" in messages[1]["content"]
    assert "[2] Cancelling: After" in messages[1]["content"]
    assert messages[1]["content"].endswith("Question: q?")


pytestmark = pytest.mark.anyio


async def test_llm_client_posts_chat_completions_with_the_key(fake_llm: FakeLLM) -> None:
    client = LLMClient(fake_llm.base_url, "ok", SecretStr("sk-test"), timeout_s=5)

    answer = await client.answer("How long?", HITS)
    await client.aclose()

    assert answer.text == "Workspaces stay read-only for 90 days [1]."
    assert answer.generator == "llm:ok"
    assert fake_llm.requests[-1]["messages"] == build_messages("How long?", HITS)
    assert fake_llm.headers[-1]["authorization"] == "Bearer sk-test"


@pytest.mark.parametrize(
    ("model", "message"),
    [("broken", "answered 503"), ("garbage", "without choices")],
)
async def test_llm_failures_raise_a_clear_error(
    fake_llm: FakeLLM, model: str, message: str
) -> None:
    client = LLMClient(fake_llm.base_url, model, timeout_s=5)

    with pytest.raises(LLMError, match=message):
        await client.answer("q", HITS)
    await client.aclose()


async def test_unreachable_llm_raises_a_clear_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = LLMClient("http://llm.invalid/v1", "m", transport=httpx.MockTransport(refuse))

    with pytest.raises(LLMError, match="failed: ConnectError"):
        await client.answer("q", HITS)


async def test_empty_llm_message_is_an_error() -> None:
    def empty(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"choices": [{"message": {"content": "  "}}]})

    client = LLMClient("http://llm.invalid/v1", "m", transport=httpx.MockTransport(empty))

    with pytest.raises(LLMError, match="empty message"):
        await client.answer("q", HITS)


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("- **Owner**: full control, including billing", "Owner: full control, including billing"),
        ("See [the API page](https://example.com/api) for `X-Key`", "See the API page for X-Key"),
        (
            "## Refunds\n> _Note_: refunds take __five__ days",
            "Refunds Note: refunds take five days",
        ),
        ("| Plan | Seats |", "Plan, Seats"),
    ],
)
def test_markdown_is_reduced_to_the_words_a_reader_sees(markdown: str, plain: str) -> None:
    assert plain_text(markdown) == plain


def test_extractive_answers_carry_no_markup_residue() -> None:
    """Before: "Owner**: full control, ..." came back from a Markdown list item."""
    text = "Roles:\n\n- **Owner**: full control of billing and roles.\n- **Member**: invoices."
    hits = [ScoredChunk(Chunk("r#0", "r", "Roles", text, 0, len(text), ()), 0.9)]

    answer = extractive_answer("What can the owner role control?", hits).text

    assert "Owner: full control of billing and roles. [1]" in answer
    assert not any(mark in answer for mark in ("**", "`", "- "))
