import pytest

from {{ cookiecutter.package_name }}.evaluation import (
    comparison_table,
    evaluate,
    failure_table,
    failures,
    normalize,
)
from {{ cookiecutter.package_name }}.platform.stats import Estimate

LABELS = ("cancel", "billing", "praise")


@pytest.mark.parametrize(
    ("answer", "label"),
    [(" Cancel.\n", "cancel"), ("billing please", "billing"), ("", ""), ("42 !", "")],
)
def test_answer_is_reduced_to_its_first_word(answer: str, label: str) -> None:
    assert normalize(answer) == label


def test_perfect_answers_score_one_with_a_degenerate_interval() -> None:
    truth = ["cancel", "billing", "praise"] * 10

    scores = evaluate(truth, truth, LABELS, n_bootstrap=200)

    assert scores["accuracy"] == Estimate(1.0, 1.0, 1.0)
    assert scores["macro_f1"] == Estimate(1.0, 1.0, 1.0)


def test_out_of_set_answers_count_as_wrong() -> None:
    truth = ["cancel", "billing", "praise", "cancel"]
    answers = ["cancel", "refund", "", "Cancel!"]

    scores = evaluate(truth, answers, LABELS, n_bootstrap=200)

    assert scores["accuracy"].value == 0.5
    # cancel: F1 1; billing and praise: never predicted correctly -> 0.
    assert scores["macro_f1"].value == pytest.approx(1 / 3)


def test_interval_brackets_the_point_estimate() -> None:
    truth = ["cancel", "billing", "praise"] * 20
    answers = ["cancel", "cancel", "praise"] * 20

    scores = evaluate(truth, answers, LABELS, n_bootstrap=500, seed=1)

    for estimate in scores.values():
        assert estimate.low <= estimate.value <= estimate.high
        assert estimate.low < estimate.high
    assert str(scores["accuracy"]).startswith("0.667 [")


@pytest.mark.parametrize(
    ("truth", "answers", "confidence", "message"),
    [
        (["cancel"], [], 0.95, "equal, non-empty"),
        ([], [], 0.95, "equal, non-empty"),
        (["refund"], ["refund"], 0.95, "not in the label set"),
        (["cancel"], ["cancel"], 1.0, "confidence"),
    ],
)
def test_invalid_inputs_are_refused(
    truth: list[str], answers: list[str], confidence: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate(truth, answers, LABELS, confidence=confidence)


def test_failures_list_only_wrong_answers_in_order() -> None:
    cases = failures(["a", "b", "c"], ["m1", "m2", "m3"], ["cancel"] * 3, ["cancel", "x", ""])

    assert [(c.example_id, c.predicted) for c in cases] == [("b", "x"), ("c", "")]


def test_failure_table_escapes_pipes_and_truncates() -> None:
    cases = failures(["a"] * 12, ["a | b " + "x" * 100] * 12, ["cancel"] * 12, [""] * 12)

    table = failure_table(cases, limit=10)

    assert "a \\| b" in table
    assert "…" in table
    assert "(empty)" in table
    assert table.splitlines()[-1].startswith("| … | 2 more")


def test_comparison_table_has_one_row_per_model() -> None:
    estimate = Estimate(0.5, 0.4, 0.6)

    table = comparison_table({"base": {"accuracy": estimate}, "tuned": {"accuracy": estimate}})

    assert table.splitlines() == [
        "| model | accuracy |",
        "|---|---|",
        "| base | 0.500 [0.400, 0.600] |",
        "| tuned | 0.500 [0.400, 0.600] |",
    ]


def test_no_failures_is_a_sentence_not_an_empty_table() -> None:
    text = failure_table([])

    assert "|" not in text
    assert text.startswith("None")
