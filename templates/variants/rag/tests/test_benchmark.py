import pytest

from {{ cookiecutter.package_name }}.benchmark import percentile, synthetic_chunks
from {{ cookiecutter.package_name }}.corpus import Document


def test_percentile_is_a_nearest_rank_observation() -> None:
    values = [float(n) for n in range(1, 101)]

    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile([3.0], 95) == 3.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_synthetic_chunks_are_repeatable_and_made_of_corpus_sentences(
    handbook: list[Document],
) -> None:
    first = synthetic_chunks(handbook, 50, seed=3)

    assert len(first) == 50
    assert [c.text for c in first] == [c.text for c in synthetic_chunks(handbook, 50, seed=3)]
    assert all(c.end == len(c.text) for c in first)
