import json
from collections import Counter
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.dataset import (
    INSTRUCTION,
    LABELS,
    SPLITS,
    DataError,
    generate,
    labels_of,
    load_jsonl,
    make_example,
    write_jsonl,
)

from variant_fixtures import BUNDLED_DATA

GOOD_LINE = json.dumps(make_example("a", "please close my account", "cancel").model_dump())


def test_generation_is_deterministic_for_a_seed() -> None:
    assert generate(3, {"train": 20}) == generate(3, {"train": 20})
    assert generate(3, {"train": 20}) != generate(4, {"train": 20})


def test_splits_are_balanced_and_never_share_a_message() -> None:
    splits = generate(42)

    assert {name: len(examples) for name, examples in splits.items()} == SPLITS
    texts = [{ex.text for ex in examples} for examples in splits.values()]
    assert sum(len(t) for t in texts) == len(set().union(*texts))
    assert set(Counter(labels_of(splits["test"])).values()) == {SPLITS["test"] // len(LABELS)}


def test_bundled_files_are_what_make_data_writes(tmp_path: Path) -> None:
    for split, examples in generate(42).items():
        write_jsonl(examples, tmp_path / f"{split}.jsonl")
        bundled = (BUNDLED_DATA / f"{split}.jsonl").read_bytes()
        assert (tmp_path / f"{split}.jsonl").read_bytes() == bundled


def test_round_trip_keeps_prompt_and_completion(tmp_path: Path) -> None:
    examples = generate(1, {"train": 10})["train"]
    write_jsonl(examples, tmp_path / "x.jsonl")

    loaded = load_jsonl(tmp_path / "x.jsonl")

    assert loaded == examples
    assert loaded[0].prompt[0]["content"].startswith(INSTRUCTION)
    assert loaded[0].completion in LABELS


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"id": "b", "messages": []}', "messages"),
        (GOOD_LINE.replace('"assistant"', '"user"'), "roles must be"),
        (GOOD_LINE.replace('"role": "user"', '"role": "robot"'), "messages.0.role"),
        (GOOD_LINE.replace('"id": "a"', '"id": "b", "extra": 1'), "extra"),
        (GOOD_LINE, "duplicate id 'a'"),
    ],
)
def test_malformed_line_is_refused_naming_file_and_line(
    tmp_path: Path, bad_line: str, message: str
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(GOOD_LINE + "\n\n" + bad_line + "\n", encoding="utf-8")

    with pytest.raises(DataError, match=rf"train\.jsonl:3: .*{message}"):
        load_jsonl(path)


def test_missing_or_empty_file_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="make data"):
        load_jsonl(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataError, match="no examples"):
        load_jsonl(tmp_path / "empty.jsonl")


def test_impossible_split_size_is_refused() -> None:
    with pytest.raises(ValueError, match="distinct messages"):
        generate(0, {"train": 100_000})


def _line(example_id: str, message: str, answer: str) -> str:
    return json.dumps(
        {
            "id": example_id,
            "messages": [
                {"role": "user", "content": message},
                {"role": "assistant", "content": answer},
            ],
        }
    )


def test_an_answer_outside_the_labels_is_refused_naming_line_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(_line("a", "close my account", "cancel") + "\n" + _line("b", "x", "refund"))

    with pytest.raises(DataError, match=r"train\.jsonl:2: answer 'refund' is not a label") as err:
        load_jsonl(path)

    assert "LABELS" in str(err.value)


def test_a_huge_line_is_refused_naming_the_line_before_any_tokenizer_sees_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(
        _line("a", "close my account", "cancel") + "\n" + _line("b", "x" * 5_000_000, "cancel")
    )

    with pytest.raises(DataError, match=r"train\.jsonl:2: line is 5,000,\d+ characters") as err:
        load_jsonl(path)

    assert "\n" not in str(err.value)


def test_a_file_that_is_not_utf8_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_bytes(
        _line("a", "close my account", "cancel").encode()
        + b"\n"
        + _line("b", "cafe", "cancel").encode().replace(b"cafe", b"caf\xe9")
    )

    with pytest.raises(DataError, match=r"test\.jsonl:2: not UTF-8 text .*save the file as UTF-8"):
        load_jsonl(path)
