"""The bundled task: route customer messages to one of a few intents.

Instruction data is JSONL in the chat format most fine-tuning tools read
(`{"id": ..., "messages": [{"role": "user", ...}, {"role": "assistant", ...}]}`).
The bundled files are synthetic and seeded (`make data`), so they are license-clean
and anyone can regenerate them byte for byte.
"""

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .platform.files import write_text

if TYPE_CHECKING:
    from .settings import Settings

LABELS = ("cancel", "billing", "outage", "upgrade", "praise")
INSTRUCTION = (
    "Route this customer message. Answer with one label: " + ", ".join(LABELS) + ".\n\nMessage: "
)
SPLITS = {"train": 400, "validation": 100, "test": 150}
# Longest line a data file may hold: far above any real message, far below what
# would stall the tokenizer (one 5-million-character line took minutes).
MAX_LINE_CHARS = 20_000

_PHRASES: dict[str, tuple[str, ...]] = {
    "cancel": (
        "I want to cancel my subscription",
        "please close my account",
        "I am switching to another provider",
        "how do I end my contract early",
        "stop renewing my plan",
        "I would like to terminate the service",
    ),
    "billing": (
        "I was charged twice this month",
        "my invoice shows the wrong amount",
        "why did my bill go up",
        "please refund the extra fee",
        "the payment failed on my card",
        "I need a copy of my receipt",
    ),
    "outage": (
        "the internet is down again",
        "no connection since this morning",
        "the service keeps dropping",
        "my router shows a red light",
        "nothing loads and the line is dead",
        "the app cannot reach the server",
    ),
    "upgrade": (
        "I want a faster plan",
        "can I add another line",
        "how much is the premium tier",
        "please move me to the bigger package",
        "I need more data each month",
        "do you offer a family bundle",
    ),
    "praise": (
        "thanks for the quick fix",
        "your support team was great",
        "everything works perfectly now",
        "I love the new app",
        "the technician was very helpful",
        "great service as always",
    ),
}
_OPENERS = ("", "Hi, ", "Hello team, ", "Good morning, ", "Quick note: ", "Hey, ")
_CLOSERS = ("", ".", "!", ". Thanks.", ", thank you.", ". Regards, Sam.", "?")


class DataError(ValueError):
    """A data file that cannot be used, naming the file and line that show why."""


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str = Field(min_length=1)


class Example(BaseModel):
    """One conversation: optional system turn, one user turn, the assistant's answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    messages: tuple[Message, ...] = Field(min_length=2, max_length=3)

    @model_validator(mode="after")
    def _ends_with_one_answer(self) -> "Example":
        roles = [message.role for message in self.messages]
        if roles not in (["user", "assistant"], ["system", "user", "assistant"]):
            raise ValueError(f"roles must be [system,] user, assistant; got {roles}")
        return self

    @property
    def prompt(self) -> list[dict[str, str]]:
        """The conversation up to (not including) the answer, as chat-template input."""
        return [message.model_dump() for message in self.messages[:-1]]

    @property
    def completion(self) -> str:
        return self.messages[-1].content

    @property
    def text(self) -> str:
        """The user's message without the instruction, for failure tables."""
        return self.messages[-2].content.removeprefix(INSTRUCTION)


def make_example(example_id: str, message: str, label: str) -> Example:
    return Example.model_validate(
        {
            "id": example_id,
            "messages": [
                {"role": "user", "content": INSTRUCTION + message},
                {"role": "assistant", "content": label},
            ],
        }
    )


def _messages(label: str) -> list[str]:
    """Every distinct message the generator can write for `label`, in a fixed order."""
    texts: set[str] = set()
    for opener in _OPENERS:
        for phrase in _PHRASES[label]:
            body = opener + (phrase[0].lower() + phrase[1:] if opener else phrase)
            texts.update(body[0].upper() + body[1:] + closer for closer in _CLOSERS)
    return sorted(texts)


def generate(seed: int, sizes: dict[str, int] | None = None) -> dict[str, list[Example]]:
    """Balanced, shuffled splits; a message never appears in two splits."""
    rng = random.Random(seed)  # noqa: S311 - seeded sampling, not security
    pools = {label: _messages(label) for label in LABELS}
    for pool in pools.values():
        rng.shuffle(pool)
    splits: dict[str, list[Example]] = {}
    for split, size in (sizes or SPLITS).items():
        examples: list[Example] = []
        for index in range(size):
            label = LABELS[index % len(LABELS)]
            if not pools[label]:
                raise ValueError(f"cannot draw {size} distinct messages for {split}")
            examples.append(make_example(f"{split}-{index:04d}", pools[label].pop(), label))
        rng.shuffle(examples)
        splits[split] = examples
    return splits


def write_jsonl(examples: Iterable[Example], path: Path) -> None:
    """One JSON object per line, written atomically."""
    lines = [json.dumps(example.model_dump(), ensure_ascii=False) + "\n" for example in examples]
    write_text(path, "".join(lines))


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def load_jsonl(path: Path, labels: Sequence[str] = LABELS) -> list[Example]:
    """Read and validate every line; a bad line raises naming `file:line`, the problem
    and the fix: JSON, fields, roles, size, encoding, and answers outside `labels`."""
    if not path.is_file():
        raise DataError(f"{path}: no such file (run `make data` to regenerate the bundled set)")
    examples: list[Example] = []
    ids: set[str] = set()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            example = _parse_line(raw, where)
            if example is None:
                continue
            if example.id in ids:
                raise DataError(f"{where}: duplicate id {example.id!r}")
            if example.completion not in labels:
                raise DataError(
                    f"{where}: answer {example.completion[:40]!r} is not a label "
                    f"({', '.join(labels)}); fix the line, or add the label to LABELS "
                    "in dataset.py"
                )
            ids.add(example.id)
            examples.append(example)
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def _parse_line(raw: bytes, where: str) -> Example | None:
    """One JSONL line as an Example; None for a blank line."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{where}: not UTF-8 text (byte {exc.start + 1} of the line); save the file as UTF-8"
        ) from None
    if not line.strip():
        return None
    if len(line) > MAX_LINE_CHARS:
        raise DataError(
            f"{where}: line is {len(line):,} characters, over the limit of "
            f"{MAX_LINE_CHARS:,}; shorten the message (one example per line)"
        )
    try:
        return Example.model_validate_json(line)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise DataError(f"{where}: not valid JSON") from None
        raise DataError(f"{where}: {_first_error(exc)}") from None


def labels_of(examples: Sequence[Example]) -> list[str]:
    return [example.completion for example in examples]


@dataclass(frozen=True)
class DataResult:
    """The splits `make data` wrote: each file and its number of examples."""

    written: tuple[tuple[Path, int], ...]

    def summary(self) -> str:
        return "\n".join(f"wrote {count} examples to {path}" for path, count in self.written)


def run(settings: "Settings", seed: int = 42, output_dir: Path | None = None) -> DataResult:
    """`make data`: regenerate the bundled splits (deterministic for a seed) into
    `output_dir`, by default DATA_DIR."""
    target = output_dir or settings.data_dir
    written = []
    for split, examples in generate(seed).items():
        path = target / f"{split}.jsonl"
        write_jsonl(examples, path)
        written.append((path, len(examples)))
    return DataResult(tuple(written))
