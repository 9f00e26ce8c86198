from typing import Any

from {{ cookiecutter.package_name }}.dataset import make_example
from {{ cookiecutter.package_name }}.sft import (
    IGNORE_INDEX,
    Collator,
    FeatureDataset,
    encode,
    generate,
    prompt_text,
)

EXAMPLE = make_example("x", "please close my account", "cancel")


def test_loss_is_on_the_completion_only(tiny_pair: tuple[Any, Any]) -> None:
    _, tokenizer = tiny_pair
    features = encode(tokenizer, EXAMPLE, max_length=512)

    prompt_ids = tokenizer(prompt_text(tokenizer, EXAMPLE.prompt), add_special_tokens=False)
    n_prompt = len(prompt_ids["input_ids"])
    assert features.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    answer = features.labels[n_prompt:]
    assert answer == features.input_ids[n_prompt:]
    assert answer[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(answer[:-1]) == "cancel"


def test_truncation_keeps_the_answer(tiny_pair: tuple[Any, Any]) -> None:
    _, tokenizer = tiny_pair
    features = encode(tokenizer, EXAMPLE, max_length=8)

    assert len(features.input_ids) == len(features.labels) == 8
    assert features.labels[-1] == tokenizer.eos_token_id


def test_collator_pads_without_counting_padding(tiny_pair: tuple[Any, Any]) -> None:
    _, tokenizer = tiny_pair
    short = encode(tokenizer, EXAMPLE, max_length=10)
    long = encode(tokenizer, EXAMPLE, max_length=20)
    dataset = FeatureDataset([short, long])

    batch = Collator(pad_id=0)([dataset[0], long])

    assert len(dataset) == 2
    assert batch["input_ids"].shape == (2, 20)
    assert batch["attention_mask"][0].tolist() == [1] * 10 + [0] * 10
    assert batch["labels"][0, 10:].tolist() == [IGNORE_INDEX] * 10


def test_generation_returns_one_answer_per_prompt(tiny_pair: tuple[Any, Any]) -> None:
    model, tokenizer = tiny_pair
    conversations = [EXAMPLE.prompt, [{"role": "user", "content": "hi"}]]

    answers = generate(model, tokenizer, conversations, max_new_tokens=3, batch_size=1)

    assert len(answers) == 2
    assert all(isinstance(answer, str) for answer in answers)
