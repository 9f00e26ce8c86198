import http.server
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from {{ cookiecutter.package_name }} import modeling
from {{ cookiecutter.package_name }}.modeling import Precision, choose_precision

CPU = Precision("cpu", bf16=False, quantize_4bit=False)


@pytest.mark.parametrize(
    ("quantization", "cuda", "bnb", "expected"),
    [
        ("auto", False, True, Precision("cpu", bf16=False, quantize_4bit=False)),
        ("auto", True, False, Precision("cuda", bf16=True, quantize_4bit=False)),
        ("auto", True, True, Precision("cuda", bf16=True, quantize_4bit=True)),
        ("none", True, True, Precision("cuda", bf16=True, quantize_4bit=False)),
        ("4bit", True, True, Precision("cuda", bf16=True, quantize_4bit=True)),
    ],
)
def test_qlora_only_with_a_gpu_and_bitsandbytes(
    quantization: modeling.Quantization, cuda: bool, bnb: bool, expected: Precision
) -> None:
    chosen = choose_precision(
        quantization, cuda=cuda, bf16_supported=True, bitsandbytes_installed=bnb
    )
    assert chosen == expected


def test_asking_for_4bit_without_a_gpu_explains_the_alternative() -> None:
    with pytest.raises(ValueError, match="QUANTIZATION=auto"):
        choose_precision("4bit", cuda=False, bf16_supported=False, bitsandbytes_installed=True)


def test_this_machine_trains_in_fp32_on_cpu() -> None:
    assert modeling.detect_precision("auto").device in {"cpu", "cuda"}
    if not torch.cuda.is_available():
        assert modeling.detect_precision("auto") == CPU


def test_tiny_tokenizer_renders_the_chat_template(tiny_pair: tuple[Any, Any]) -> None:
    _, tokenizer = tiny_pair
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )

    assert text == "<|user|>\nhi<|end|>\n<|assistant|>\n"
    ids = tokenizer("cancel my plan", add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == "cancel my plan"
    assert tokenizer.eos_token == "<|end|>"  # noqa: S105 - a token, not a password


def test_tiny_model_is_a_real_llama_with_few_trainable_parameters(
    tiny_pair: tuple[Any, Any],
) -> None:
    model, _ = tiny_pair
    trainable, total = modeling.parameter_counts(model)

    assert model.get_base_model().config.model_type == "llama"
    assert model.get_base_model().config.num_hidden_layers == 2
    assert 0 < trainable < total / 10


def test_saved_adapter_loads_back_with_identical_outputs(tmp_path: Path) -> None:
    base, tokenizer = modeling.load_base(modeling.TINY, CPU, ["please close my account"] * 5)
    modeling.save_base(base, modeling.TINY, tmp_path)
    model = modeling.add_lora(
        base, rank=4, alpha=8, dropout=0.0, target_modules=["q_proj"], quantized=False
    )
    with torch.no_grad():  # make the adapter non-trivial: LoRA B starts at zero
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
    modeling.save_adapter(model, tokenizer, tmp_path)

    loaded, loaded_tokenizer, base_name = modeling.load_adapter(tmp_path, CPU)

    ids = torch.tensor([tokenizer("please close my account")["input_ids"]])
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids).logits
        actual = loaded(input_ids=ids).logits
    assert base_name == modeling.TINY
    assert loaded_tokenizer.chat_template == tokenizer.chat_template
    assert torch.allclose(expected, actual, atol=1e-5)


def test_loading_without_an_adapter_says_to_train(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="make train"):
        modeling.load_adapter(tmp_path, CPU)


def _closed_port() -> int:
    """A loopback port nobody listens on: connecting fails at once, like no network."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's offline path: no HF_HUB_OFFLINE, but the hub cannot be reached.

    Loading weights must not even start: the hub client would retry for about a minute.
    """
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError("from_pretrained was called: the hub client would retry")

    monkeypatch.setattr("transformers.AutoModelForCausalLM.from_pretrained", no_download)
    monkeypatch.setattr("transformers.AutoTokenizer.from_pretrained", no_download)


@pytest.mark.usefixtures("no_network")
def test_unreachable_hub_fails_at_once_naming_the_offline_fixes() -> None:
    with pytest.raises(ValueError, match=r"cannot reach http://127\.0\.0\.1") as error:
        modeling.load_base("acme/not-downloaded-model", CPU)

    message = str(error.value)
    assert "BASE_MODEL=acme/not-downloaded-model" in message
    assert "BASE_MODEL=tiny" in message
    assert "BASE_MODEL=<its folder>" in message
    assert "\n" not in message


@pytest.mark.usefixtures("no_network")
def test_offline_mode_without_the_model_in_the_cache_names_the_fixes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    with pytest.raises(ValueError, match=r"not in the local .* cache.*BASE_MODEL=tiny"):
        modeling.load_base("acme/not-downloaded-model", CPU)


@pytest.mark.usefixtures("no_network")
def test_a_missing_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such folder"):
        modeling.load_base(str(tmp_path / "gone"), CPU)


def test_a_hub_that_answers_any_status_counts_as_reachable() -> None:
    class Refusing(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(401)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.handle_request)
    thread.start()
    try:
        assert modeling.hub_reachable(f"http://127.0.0.1:{server.server_port}") is None
    finally:
        thread.join(timeout=10)
        server.server_close()
    assert modeling.hub_reachable(f"http://127.0.0.1:{_closed_port()}") is not None


def test_a_local_folder_base_is_saved_with_the_adapter_and_loads_without_the_hub(
    tmp_path: Path, no_network: None
) -> None:
    base, tokenizer = modeling.load_base(modeling.TINY, CPU, ["route this message"] * 5)
    folder = tmp_path / "my-base"
    base.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))

    modeling.save_base(base, str(folder), tmp_path / "adapter")

    assert (tmp_path / "adapter" / "base" / "config.json").is_file()


def test_a_qwen2_shape_builds_with_grouped_query_attention_and_tied_embeddings(
    tiny_pair: tuple[Any, Any],
) -> None:
    _, tokenizer = tiny_pair
    shape = modeling.TinyShape(architecture="qwen2", kv_heads=2, tie_embeddings=True)

    model = modeling.build_tiny_model(tokenizer, shape, seed=0)

    assert model.config.model_type == "qwen2"
    assert model.config.num_key_value_heads == 2
    output = model.get_output_embeddings()  # type: ignore[no-untyped-call]
    assert output.weight is model.get_input_embeddings().weight


def test_target_modules_that_the_model_lacks_are_named_with_the_ones_it_has(
    tiny_pair: tuple[Any, Any],
) -> None:
    model, _ = tiny_pair
    fresh = model.get_base_model().__class__(model.get_base_model().config)

    with pytest.raises(
        ValueError, match=r"LORA_TARGET_MODULES=query,value matches no layer"
    ) as error:
        modeling.add_lora(
            fresh, rank=2, alpha=4, dropout=0.0, target_modules=["query", "value"], quantized=False
        )

    assert "q_proj" in str(error.value)
    assert "\n" not in str(error.value)
