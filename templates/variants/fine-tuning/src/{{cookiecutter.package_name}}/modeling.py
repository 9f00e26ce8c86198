"""Base models, tokenizers and the LoRA wrapping, for a hub model or a tiny offline one.

`BASE_MODEL=tiny` builds a Llama of a real architecture from its config (random
weights) and trains a BPE tokenizer in-process: no download, trains in seconds on
CPU. Tests and `make gpu-smoke` use it; real runs name a hub model or a folder.
"""

import importlib.util
import json
import os
import resource
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch
    from peft import PeftModel
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

TINY = "tiny"
Quantization = Literal["auto", "none", "4bit"]

# Jinja written with [% %] and [[ ]] and translated below, so that no file of the
# project holds literal Jinja delimiters (its generator would try to render them).
_JINJA_DELIMITERS = {"[%": "\x7b%", "%]": "%\x7d", "[[": "\x7b\x7b", "]]": "\x7d\x7d"}


def _jinja(source: str) -> str:
    for bracket, brace in _JINJA_DELIMITERS.items():
        source = source.replace(bracket, brace)
    return source


# Roles become special tokens; `<|end|>` closes each turn and is the EOS token.
TINY_CHAT_TEMPLATE = _jinja(
    "[% for message in messages %]<|[[ message.role ]]|>\n[[ message.content ]]<|end|>\n"
    "[% endfor %][% if add_generation_prompt %]<|assistant|>\n[% endif %]"
)
TINY_SPECIAL_TOKENS = ("<|pad|>", "<|end|>", "<|system|>", "<|user|>", "<|assistant|>")


@dataclass(frozen=True)
class TinyShape:
    """A Llama small enough for CPU tests; `gpu-smoke` scales it up on a GPU."""

    hidden_size: int = 48
    layers: int = 2
    heads: int = 4
    intermediate_size: int = 96
    vocab_size: int = 512
    max_positions: int = 256
    # Wider than Llama's 0.02 so a random head can already produce peaked logits
    # that LoRA alone can steer; at 0.02 the tiny model cannot leave uniform output.
    init_range: float = 0.2
    architecture: Literal["llama", "qwen2"] = "llama"
    kv_heads: int | None = None  # grouped-query attention when fewer than `heads`
    tie_embeddings: bool = False


# Qwen2.5-0.5B-Instruct's dimensions (random weights): what `make gpu-smoke` and the
# GPU benchmark train, so their figures speak for the default base model.
QWEN_05B = TinyShape(
    hidden_size=896,
    layers=24,
    heads=14,
    kv_heads=2,
    intermediate_size=4864,
    vocab_size=151_936,
    max_positions=32_768,
    init_range=0.02,
    architecture="qwen2",
    tie_embeddings=True,
)


@dataclass(frozen=True)
class Precision:
    """What the trainer and loader should use on this machine."""

    device: str
    bf16: bool
    quantize_4bit: bool


def choose_precision(
    quantization: Quantization,
    *,
    cuda: bool,
    bf16_supported: bool,
    bitsandbytes_installed: bool,
) -> Precision:
    """QLoRA only with a CUDA GPU and bitsandbytes; bf16 wherever the GPU supports it."""
    if quantization == "4bit" and not (cuda and bitsandbytes_installed):
        raise ValueError(
            "QUANTIZATION=4bit needs a CUDA GPU and bitsandbytes "
            "(uv sync --group gpu); use QUANTIZATION=auto or none on this machine"
        )
    quantize = quantization == "4bit" or (
        quantization == "auto" and cuda and bitsandbytes_installed
    )
    return Precision(
        "cuda" if cuda else "cpu", bf16=cuda and bf16_supported, quantize_4bit=quantize
    )


def detect_precision(quantization: Quantization) -> Precision:
    import torch

    cuda = torch.cuda.is_available()
    return choose_precision(
        quantization,
        cuda=cuda,
        bf16_supported=cuda and torch.cuda.is_bf16_supported(),
        bitsandbytes_installed=importlib.util.find_spec("bitsandbytes") is not None,
    )


def train_tiny_tokenizer(texts: Iterable[str], vocab_size: int) -> "PreTrainedTokenizerBase":
    """A byte-level BPE tokenizer trained on `texts`, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(TINY_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        pad_token="<|pad|>",  # noqa: S106 - a token name, not a password
        eos_token="<|end|>",  # noqa: S106
    )
    fast.chat_template = TINY_CHAT_TEMPLATE
    return fast


def build_tiny_model(
    tokenizer: "PreTrainedTokenizerBase", shape: TinyShape, seed: int
) -> "PreTrainedModel":
    """A randomly initialised Llama (or Qwen2) sized by `shape` (fp32)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    dims: dict[str, Any] = {
        # A shape may ask for a larger vocabulary than the tokenizer has (the logits'
        # cost is part of what a throughput run measures); the extra rows stay unused.
        "vocab_size": max(len(tokenizer), shape.vocab_size),
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads or shape.heads,
        "max_position_embeddings": shape.max_positions,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": None,
        "tie_word_embeddings": shape.tie_embeddings,
        "initializer_range": shape.init_range,
    }
    if shape.architecture == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**dims))
    return LlamaForCausalLM(LlamaConfig(**dims))


HUB_TIMEOUT_SECONDS = 5.0
_TRUE = {"1", "true", "yes", "on"}
NO_HUB_FIX = (
    "train offline with BASE_MODEL=tiny, or download the model where the hub is "
    "reachable and set BASE_MODEL=<its folder>"
)


def _offline() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_reachable(endpoint: str, timeout: float = HUB_TIMEOUT_SECONDS) -> str | None:
    """None if the hub answers at all (any HTTP status), else why not.

    One short request instead of the hub client's retries with back-off, which spend
    about a minute on a machine without network before failing.
    """
    url = f"{endpoint.rstrip('/')}/api/models"
    request = urllib.request.Request(url, method="HEAD")  # noqa: S310 - HF_ENDPOINT's scheme
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 - the configured hub
            return None
    except urllib.error.HTTPError:
        return None  # it answered: reachable
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason) or type(exc).__name__


def resolve_base(name: str) -> tuple[str, bool]:
    """Where to load BASE_MODEL from, and whether to stay off the network.

    A folder loads as is; a hub id already in the local cache loads from it; otherwise
    the hub must answer one quick request, or this fails at once naming the fix.
    """
    from huggingface_hub import try_to_load_from_cache

    if Path(name).is_dir():
        return name, True
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ValueError(f"BASE_MODEL={name}: no such folder; {NO_HUB_FIX}")
    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return name, True
    if _offline():
        raise ValueError(
            f"BASE_MODEL={name} is not in the local Hugging Face cache and HF_HUB_OFFLINE "
            f"is set; {NO_HUB_FIX}"
        )
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    problem = hub_reachable(endpoint)
    if problem is not None:
        raise ValueError(
            f"BASE_MODEL={name}: cannot reach {endpoint} ({problem}) and the model is not "
            f"in the local cache; {NO_HUB_FIX}"
        )
    return name, False


def place(model: Any, device: str) -> Any:
    """`model` on `device` (typed loosely: transformers' typing of `.to` is too narrow)."""
    return model.to(device)


def load_base(
    name: str, precision: Precision, tiny_texts: Iterable[str] = (), seed: int = 0
) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """The base model and its tokenizer: tiny from config, else a hub id or a folder."""
    if name == TINY:
        shape = TinyShape()
        tokenizer = train_tiny_tokenizer(tiny_texts, shape.vocab_size)
        # On the device from the start: the base is evaluated before training.
        return place(build_tiny_model(tokenizer, shape, seed), precision.device), tokenizer
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if precision.bf16 else torch.float32}
    if precision.quantize_4bit:  # pragma: no cover - needs a CUDA GPU
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=torch.bfloat16 if precision.bf16 else torch.float16,
            bnb_4bit_use_double_quant=True,
        )
        kwargs["device_map"] = {"": 0}
    source, local = resolve_base(name)
    with no_progress_bars():  # one bar per weights file: noise on the terminal
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=local, **kwargs)
    if not precision.quantize_4bit:  # a 4-bit model is placed by its device_map
        model = place(model, precision.device)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise ValueError(f"{name} has no chat template: choose an instruct model")
    return model, tokenizer


@contextmanager
def quiet_peft() -> Iterator[None]:
    """peft probes a property transformers 5 renamed, which warns on every wrap; the
    user can do nothing about it, so only that warning is silenced, only here."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning
        )
        yield


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """transformers' progress bars off for a block (saving weights draws one per file)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def add_lora(
    model: "PreTrainedModel",
    *,
    rank: int,
    alpha: int,
    dropout: float,
    target_modules: list[str],
    quantized: bool,
) -> "PeftModel":
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if quantized:  # pragma: no cover - needs a CUDA GPU
        model = prepare_model_for_kbit_training(model)  # type: ignore[no-untyped-call]
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        task_type="CAUSAL_LM",
    )
    try:
        with quiet_peft():
            peft_model: PeftModel = get_peft_model(model, config)
    except ValueError as exc:  # peft: none of the target modules is in this model
        names = sorted({name.rsplit(".", 1)[-1] for name, _ in model.named_modules()})
        linear = [name for name in names if name.endswith("proj")] or names[:12]
        raise ValueError(
            f"LORA_TARGET_MODULES={','.join(target_modules)} matches no layer of this base "
            f"model ({str(exc).splitlines()[0][:120]}); its layers include {','.join(linear)}"
        ) from None
    return peft_model


BASE_MANIFEST = "base.json"


def save_base(base: "PreTrainedModel", base_name: str, target: Path) -> None:
    """Record where the adapter's base lives, and save the base itself unless it is on
    the hub: a tiny base (random weights) or a local folder, which would not exist in
    the image or on another machine.

    Call before adding LoRA: afterwards the base's modules hold the adapter layers.
    """
    target.mkdir(parents=True, exist_ok=True)
    if base_name == TINY or Path(base_name).is_dir():
        base.save_pretrained(str(target / "base"))
    manifest = {"base_model": base_name}
    (target / BASE_MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def save_adapter(model: "PeftModel", tokenizer: "PreTrainedTokenizerBase", target: Path) -> None:
    """The adapter weights and config, and the tokenizer (with its chat template)."""
    model.save_pretrained(str(target))
    tokenizer.save_pretrained(str(target))


class NonFiniteWeightsError(ValueError):
    """An adapter whose weights hold NaN or infinite values (a diverged run)."""


def load_adapter(
    source: Path, precision: Precision
) -> tuple["PeftModel", "PreTrainedTokenizerBase", str]:
    """Base + adapter from a folder written by `save_adapter`; also the base's name."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    manifest_path = source / BASE_MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"no adapter at {source}: run `make train` first")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    base_name = str(manifest["base_model"])
    bundled = base_name == TINY or (source / "base" / "config.json").is_file()
    base_path, local = (str(source / "base"), True) if bundled else resolve_base(base_name)
    dtype = torch.bfloat16 if precision.bf16 else torch.float32
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype, local_files_only=local)
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    with quiet_peft():
        model = PeftModel.from_pretrained(base, str(source))
    broken = non_finite_weights(model)
    if broken:
        raise NonFiniteWeightsError(
            f"{source}: adapter weights hold NaN or infinite values ({broken[0]}"
            f"{f' and {len(broken) - 1} more' if len(broken) > 1 else ''}): run `make train` again"
        )
    model.eval()
    return model, tokenizer, base_name


def non_finite_weights(model: "torch.nn.Module") -> list[str]:
    """Names of the adapter's weights that hold NaN or infinite values."""
    import torch

    return [
        name
        for name, parameter in model.named_parameters()
        if "lora_" in name and not bool(torch.isfinite(parameter).all())
    ]


def parameter_counts(model: "torch.nn.Module") -> tuple[int, int]:
    """(trainable, total) parameters."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def peak_memory(device: str) -> tuple[float, str]:
    """Peak memory in MiB since the last reset, and what was measured.

    On CUDA: tensors allocated by torch (`max_memory_allocated`). On CPU: the
    process's maximum resident set size, imports and data included.
    """
    if device == "cuda":  # pragma: no cover - needs a CUDA GPU
        import torch

        return torch.cuda.max_memory_allocated() / 2**20, "cuda max_memory_allocated"
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process max RSS"


def adapter_bytes(folder: Path) -> int:
    """Size on disk of the adapter weights in a folder written by `save_adapter`."""
    weights = sorted(folder.glob("adapter_model.*"))
    if not weights:
        raise FileNotFoundError(f"no adapter_model.* weights in {folder}")
    return sum(path.stat().st_size for path in weights)
