"""Answers from retrieved chunks: an OpenAI-compatible model when one is configured,
otherwise the best-matching sentences quoted with citations.

Either way the answer cites sources as [1], [2], ... numbered like the chunks passed in.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from .bm25 import tokenize
from .index import ScoredChunk

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*+|__|~~|`")
_UNDERSCORED = re.compile(r"(?<!\w)_(\S(?:[^_]*\S)?)_(?!\w)")
_LINE_START = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+|\d+[.)]\s+|\|\s*)+", re.MULTILINE)
EXTRACTIVE = "extractive"
ABSTAINED = "The documents do not answer this question; the closest passages are listed."


def plain_text(markdown: str) -> str:
    """Markdown reduced to the words a reader sees: links to their text, emphasis,
    code ticks, list, quote and heading marks and table pipes dropped."""
    text = _LINK.sub(r"\1", markdown)
    text = _UNDERSCORED.sub(r"\1", _EMPHASIS.sub("", text))
    text = _LINE_START.sub("", text)
    text = text.replace(" | ", ", ").strip(" |\t")
    return re.sub(r"\s+", " ", text).strip()


class LLMError(Exception):
    """The model endpoint failed or answered something unusable."""


@dataclass(frozen=True)
class Answer:
    text: str
    generator: str


def extractive_answer(question: str, hits: Sequence[ScoredChunk], sentences: int = 2) -> Answer:
    """The sentences sharing most words with the question, each followed by its source."""
    wanted = set(tokenize(question))
    candidates: list[tuple[float, int, int, str]] = []
    for number, hit in enumerate(hits, 1):
        for position, match in enumerate(_SENTENCE.finditer(hit.chunk.text)):
            sentence = plain_text(match.group())
            words = set(tokenize(sentence))
            if len(words) < 3:
                continue
            overlap = len(wanted & words) / len(wanted) if wanted else 0.0
            # Earlier sources break ties: the retriever ranked them higher.
            candidates.append((overlap - 0.01 * number, number, position, sentence))
    if not candidates:
        return Answer("No passage in the corpus matches this question.", EXTRACTIVE)
    best = sorted(candidates, key=lambda c: -c[0])[:sentences]
    best.sort(key=lambda c: (c[1], c[2]))
    return Answer(" ".join(f"{sentence} [{number}]" for _, number, _, sentence in best), EXTRACTIVE)


SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources given. Cite every claim with "
    "the source number in square brackets, like [2]. If the sources do not answer the "
    "question, say so."
)


def build_messages(question: str, hits: Sequence[ScoredChunk]) -> list[dict[str, str]]:
    sources = "\n\n".join(
        f"[{number}] {hit.chunk.title}: {hit.chunk.text}" for number, hit in enumerate(hits, 1)
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"Sources:\n{sources}\n\nQuestion: {question}"},
    ]


class LLMClient:
    """Chat completions on any OpenAI-compatible server (OpenAI, vLLM, Ollama, ...)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: SecretStr | None = None,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        headers = {"Authorization": f"Bearer {api_key.get_secret_value()}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers=headers,
            timeout=timeout_s,
            transport=transport,
        )

    async def answer(self, question: str, hits: Sequence[ScoredChunk]) -> Answer:
        payload = {"model": self.model, "messages": build_messages(question, hits)}
        try:
            response = await self._client.post("chat/completions", json=payload)
            response.raise_for_status()
            text = response.json()["choices"][0]["message"]["content"]
        except httpx.HTTPStatusError as exc:
            raise LLMError(f"the model endpoint answered {exc.response.status_code}") from exc
        except httpx.HTTPError as exc:
            raise LLMError(f"the model endpoint failed: {exc.__class__.__name__}") from exc
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError("the model endpoint answered without choices[0].message") from exc
        if not isinstance(text, str) or not text.strip():
            raise LLMError("the model endpoint answered an empty message")
        return Answer(text.strip(), f"llm:{self.model}")

    async def aclose(self) -> None:
        await self._client.aclose()
