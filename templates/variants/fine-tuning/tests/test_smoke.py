import pytest

from {{ cookiecutter.package_name }}.modeling import TinyShape
from {{ cookiecutter.package_name }}.smoke import measure, resolve_device

from variant_fixtures import BUNDLED_DATA as DATA


@pytest.mark.parametrize(
    ("asked", "cuda", "expected"),
    [("auto", False, "cpu"), ("auto", True, "cuda"), ("cpu", True, "cpu"), ("cuda", True, "cuda")],
)
def test_device_follows_the_request_and_the_hardware(asked: str, cuda: bool, expected: str) -> None:
    assert resolve_device(asked, cuda) == expected  # type: ignore[arg-type]


def test_asking_for_cuda_without_one_is_refused() -> None:
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda", cuda_available=False)


def test_cpu_smoke_runs_the_training_path_and_reports_throughput_and_memory() -> None:
    result = measure("cpu", steps=8, batch_size=2, shape=TinyShape(vocab_size=64), data_dir=DATA)

    assert result.device == "cpu"
    assert result.batch_size == 2
    assert "recipe (cpu)" in result.recipe  # chosen by the same code as `make train`
    assert result.tokens_per_second > 0
    assert result.peak_memory_mb > 0
    assert result.last_loss < result.first_loss
    assert 0 < result.trainable_parameters < result.parameters
    assert result.as_dict()["steps"] == 8
