"""Supervised fine-tuning inputs and greedy generation, shared by training, eval and serving.

Loss is on the completion only: prompt positions carry the label -100, which the
causal-LM loss ignores, so the model learns to answer, not to echo the question.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .dataset import Example

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Features:
    input_ids: list[int]
    labels: list[int]


ZERO_WIDTH_SPACE = "\u200b"


def escape_special_tokens(tokenizer: "PreTrainedTokenizerBase", text: str) -> str:
    """`text` with every special token's spelling broken by a zero-width space, so
    that a user's `<|end|>` or `<|im_start|>` is read as text and cannot open or
    close a chat turn. Only the chat template writes real special tokens."""
    specials = set(tokenizer.all_special_tokens) | {
        token.content for token in tokenizer.added_tokens_decoder.values() if token.special
    }
    for token in sorted((t for t in specials if len(t) > 1), key=len, reverse=True):
        while token in text:  # overlapping spellings need more than one pass
            text = text.replace(token, token[0] + ZERO_WIDTH_SPACE + token[1:])
    return text


def prompt_tokens(tokenizer: "PreTrainedTokenizerBase", messages: Sequence[dict[str, str]]) -> int:
    """Tokens the model reads for this conversation (chat template applied)."""
    ids = tokenizer(prompt_text(tokenizer, messages), add_special_tokens=False)["input_ids"]
    return len(ids)


def prompt_text(tokenizer: "PreTrainedTokenizerBase", messages: Sequence[dict[str, str]]) -> str:
    """The chat template applied to the prompt, ending where the assistant speaks."""
    text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
    if not isinstance(text, str):  # pragma: no cover - tokenize=False always renders text
        raise TypeError("chat template did not render text")
    return text


def encode(tokenizer: "PreTrainedTokenizerBase", example: Example, max_length: int) -> Features:
    """Prompt and completion token ids with prompt positions masked out of the loss."""
    prompt_ids: list[int] = tokenizer(
        prompt_text(tokenizer, example.prompt), add_special_tokens=False
    )["input_ids"]
    completion_ids: list[int] = tokenizer(example.completion, add_special_tokens=False)["input_ids"]
    completion_ids = [*completion_ids, int(tokenizer.eos_token_id)]
    input_ids = (prompt_ids + completion_ids)[-max_length:]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + completion_ids)[-max_length:]
    return Features(input_ids, labels)


class Collator:
    """Right-pads a batch; padding never counts in the loss."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[Features | dict[str, Any]]) -> dict[str, "torch.Tensor"]:
        import torch

        rows = [f if isinstance(f, Features) else Features(**f) for f in batch]
        width = max(len(f.input_ids) for f in rows)
        ids = [f.input_ids + [self.pad_id] * (width - len(f.input_ids)) for f in rows]
        labels = [f.labels + [IGNORE_INDEX] * (width - len(f.labels)) for f in rows]
        mask = [[1] * len(f.input_ids) + [0] * (width - len(f.input_ids)) for f in rows]
        return {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }


class FeatureDataset:
    """A list of encoded examples with the mapping interface Trainer expects."""

    def __init__(self, features: Sequence[Features]) -> None:
        self.features = list(features)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        feature = self.features[index]
        return {"input_ids": feature.input_ids, "labels": feature.labels}


def generate(
    model: Any,
    tokenizer: "PreTrainedTokenizerBase",
    conversations: Sequence[Sequence[dict[str, str]]],
    *,
    max_new_tokens: int,
    batch_size: int = 32,
    progress: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> list[str]:
    """Greedy completions, batched with left padding; decoded without special tokens.

    `should_stop` is asked after every generated token (a client that left, a deadline).
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import StoppingCriteria, StoppingCriteriaList

    class Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            stop = should_stop is not None and should_stop()
            return torch.full(
                (input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device
            )

    tokenizer.padding_side = "left"
    prompts = [prompt_text(tokenizer, messages) for messages in conversations]
    device = next(model.parameters()).device
    outputs: list[str] = []
    starts = range(0, len(prompts), batch_size)
    for start in tqdm(starts, desc="generate", disable=not progress, leave=False):
        batch = tokenizer(
            prompts[start : start + batch_size],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(device)
        with torch.inference_mode():
            generated = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                stopping_criteria=StoppingCriteriaList([Stop()]) if should_stop else None,
            )
        new_tokens = generated[:, batch["input_ids"].shape[1] :]
        outputs.extend(tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
    return outputs


def last_token_logits(
    model: Any,
    tokenizer: "PreTrainedTokenizerBase",
    conversations: Sequence[Sequence[dict[str, str]]],
) -> "torch.Tensor":
    """Next-token logits after each prompt (fp32), to compare two models' outputs."""
    import torch

    tokenizer.padding_side = "left"
    prompts = [prompt_text(tokenizer, messages) for messages in conversations]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    batch = batch.to(next(model.parameters()).device)
    with torch.inference_mode():
        logits: torch.Tensor = model(**batch).logits[:, -1, :]
    return logits.float().cpu()
