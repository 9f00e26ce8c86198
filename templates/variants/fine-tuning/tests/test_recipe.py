"""The recipe chosen at run time: what the CPU keeps, what a GPU gets, what a setting forces."""

from typing import Any

import pytest

from {{ cookiecutter.package_name }}.recipe import (
    MAX_AUTO_LEARNING_RATE,
    REFERENCE_LEARNING_RATE,
    Machine,
    ModelShape,
    choose_recipe,
    estimate_memory,
)
from {{ cookiecutter.package_name }}.settings import TrainingSettings

GIB = 2**30
CPU = Machine("cpu", memory_bytes=24 * GIB, bf16=False, attention="sdpa")
H200 = Machine("cuda", memory_bytes=141 * GIB, bf16=True, attention="sdpa")
SMALL_GPU = Machine("cuda", memory_bytes=8 * GIB, bf16=True, attention="sdpa")
QWEN_05B = ModelShape(parameters=494_000_000, hidden_size=896, layers=24, vocab_size=151_936)
TINY = ModelShape(parameters=120_000, hidden_size=48, layers=2, vocab_size=512)
LENGTHS = [40, 44, 38, 46] * 100  # 400 examples of ~42 tokens, like the bundled split


def recipe(
    machine: Machine = CPU,
    shape: ModelShape = TINY,
    lengths: list[int] = LENGTHS,
    **settings: Any,
) -> Any:
    """The recipe for these settings; MAX_STEPS fixes the steps unless `epochs` is given."""
    values: dict[str, Any] = {"max_steps": -1 if "epochs" in settings else 100, **settings}
    return choose_recipe(TrainingSettings(**values), lengths=lengths, machine=machine, shape=shape)


def test_cpu_keeps_eight_examples_without_checkpointing_or_grouping() -> None:
    chosen = recipe()

    assert chosen.batch_size == 8
    assert chosen.learning_rate == REFERENCE_LEARNING_RATE
    assert not chosen.gradient_checkpointing  # a tiny model's activations fit easily
    assert not chosen.group_by_length
    assert not chosen.padding_free


def test_gpu_batch_is_sized_by_the_token_budget() -> None:
    chosen = recipe(H200, QWEN_05B)

    assert chosen.batch_size == 4096 // 42
    assert chosen.group_by_length
    assert chosen.eval_batch_size > recipe().eval_batch_size
    assert "4096-token budget" in chosen.describe("cuda")


def test_a_small_dataset_keeps_enough_steps_to_learn() -> None:
    chosen = recipe(H200, QWEN_05B, epochs=2.0)  # 800 examples seen: 16 per step

    assert chosen.batch_size == 800 // 50
    assert "at least 50 steps" in chosen.describe("cuda")
    assert recipe(H200, QWEN_05B, epochs=100.0).batch_size == 4096 // 42


def test_budget_never_asks_for_more_examples_than_there_are() -> None:
    assert recipe(H200, QWEN_05B, lengths=[40] * 10).batch_size == 10


def test_bigger_batches_get_a_sqrt_scaled_learning_rate_up_to_a_cap() -> None:
    assert recipe(batch_size=32).learning_rate == pytest.approx(2 * REFERENCE_LEARNING_RATE)
    assert recipe(batch_size=4096).learning_rate == MAX_AUTO_LEARNING_RATE
    accumulated = recipe(batch_size=8, gradient_accumulation_steps=4)
    assert accumulated.learning_rate == pytest.approx(2 * REFERENCE_LEARNING_RATE)


def test_explicit_settings_win_over_the_recipe() -> None:
    chosen = recipe(H200, QWEN_05B, batch_size=3, learning_rate=5e-5, gradient_checkpointing=True)

    assert (chosen.batch_size, chosen.learning_rate) == (3, 5e-5)
    assert chosen.gradient_checkpointing
    assert "(setting)" in chosen.describe("cuda")
    assert not recipe(SMALL_GPU, QWEN_05B, gradient_checkpointing=False).gradient_checkpointing


def test_checkpointing_turns_on_only_when_the_activations_may_not_fit() -> None:
    assert not recipe(H200, QWEN_05B).gradient_checkpointing
    assert recipe(SMALL_GPU, QWEN_05B).gradient_checkpointing


def test_memory_estimate_grows_with_the_batch_and_is_dominated_by_a_large_vocabulary() -> None:
    one = estimate_memory(QWEN_05B, 1, 64, bf16=True)
    many = estimate_memory(QWEN_05B, 64, 64, bf16=True)
    logits = 64 * 64 * QWEN_05B.vocab_size * 8

    assert many > one
    assert logits > (many - logits) / 2


def test_padding_free_batches_only_with_a_kernel_that_reads_sequence_boundaries() -> None:
    flash = Machine("cuda", memory_bytes=80 * GIB, bf16=True, attention="flash_attention_2")

    assert recipe(flash, QWEN_05B).padding_free
    assert not recipe(flash, QWEN_05B).group_by_length
    assert not recipe(H200, QWEN_05B).padding_free


def test_recipe_parameters_are_prefixed_for_mlflow() -> None:
    params = recipe().params()

    assert params["recipe.batch_size"] == 8
    assert "gradient checkpointing off" in str(params["recipe.why"])
