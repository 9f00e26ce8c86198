"""What the template's tests share: the template's layout, rendering, baking, and
reference readers for the formats the filters write.

Everything here is cheap to import; baking happens only when a test asks for it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
SKELETON = REPO / "{{cookiecutter.project_slug}}"
# Cookiecutter's include folder: the overlays (copied by the post-generation hook)
# and the license texts (included by the skeleton's LICENSE).
TEMPLATES = REPO / "templates"
OVERLAYS = TEMPLATES / "variants"
LICENSES = TEMPLATES / "licenses"
FRAGMENTS_DIR = "_fragments"
NO_LICENSE = "none"
COOKIECUTTER_JSON: dict[str, Any] = json.loads(
    (REPO / "cookiecutter.json").read_text(encoding="utf-8")
)
STRUCTURED_SUFFIXES = (".toml", ".yaml", ".yml", ".json")
# Property tests run this many examples (bakes run a fifth of it); CI may raise it.
MAX_EXAMPLES = int(os.environ.get("HYPOTHESIS_MAX_EXAMPLES", "50"))

# A serving request the trained model scores as a churner (short tenure, many calls).
CHURNING_ACCOUNT: dict[str, object] = {
    "tenure_months": 2,
    "monthly_charges": 95.0,
    "support_calls": 5,
    "contract": "month-to-month",
    "payment_method": "electronic-check",
    "has_internet": True,
}

Bake = Callable[..., Path]
"""Bake a project from keyword answers and return its folder."""


def choices(key: str) -> list[str]:
    """The options cookiecutter.json offers for a multiple-choice question."""
    value = COOKIECUTTER_JSON[key]
    assert isinstance(value, list), f"{key} is not a choice in cookiecutter.json"
    return [str(option) for option in value]


@functools.cache
def load_hook(name: str) -> ModuleType:
    """Import hooks/<name>.py by path, as plain Python."""
    path = REPO / "hooks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"template_hook_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def post_generation() -> ModuleType:
    """What the post-generation hook runs (hooks/post_generation.py)."""
    return load_hook("post_generation")


def template_module(name: str) -> ModuleType:
    """A module at the template's root, imported as cookiecutter does (the template
    folder on the import path)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return importlib.import_module(name)


def answer_rules() -> ModuleType:
    """The template's answer checks (template_answers.py), which cookiecutter runs
    through local_extensions' ``checked_answers`` filter before writing anything."""
    return template_module("template_answers")


@functools.cache
def template_env() -> Any:
    """The Jinja environment cookiecutter renders this template with."""
    from cookiecutter.environment import StrictEnvironment  # noqa: PLC0415

    template_module("local_extensions")  # what cookiecutter.json's _extensions name
    from jinja2 import FileSystemLoader  # noqa: PLC0415

    # Includes resolve from the project folder, then from templates/, as in
    # cookiecutter's own environment.
    return StrictEnvironment(
        context={"cookiecutter": COOKIECUTTER_JSON},
        keep_trailing_newline=True,
        loader=FileSystemLoader([str(SKELETON), str(TEMPLATES)]),
    )


def render_answers(**answers: str) -> dict[str, Any]:
    """Return the context cookiecutter builds from these answers.

    The answers are treated as data, the way a person typing at the prompt is
    treated: derived questions (slug, package) are rendered from cookiecutter.json.
    """
    context: dict[str, Any] = {}
    env = template_env()
    for key, raw in COOKIECUTTER_JSON.items():
        if key.startswith("_"):
            context[key] = raw
        elif key in answers:
            context[key] = answers[key]
        elif isinstance(raw, list):
            context[key] = raw[0]
        else:
            context[key] = env.from_string(str(raw)).render(cookiecutter=context)
    return context


def skeleton_files() -> Iterator[Path]:
    """Every file of the template's project folder (what cookiecutter walks)."""
    return (path for path in SKELETON.rglob("*") if not path.is_dir())


def overlay_files(variant: str) -> Iterator[Path]:
    """Every file the post-generation hook copies from a variant's overlay."""
    overlay = OVERLAYS / variant
    return (
        path
        for path in overlay.rglob("*")
        if not path.is_dir() and path.relative_to(overlay).parts[0] != FRAGMENTS_DIR
    )


def variant_folders() -> set[str]:
    """The variants that have an overlay folder."""
    return {path.name for path in OVERLAYS.iterdir() if path.is_dir()}


def project_layout(context: Mapping[str, Any]) -> dict[str, Path]:
    """What a bake must write: {rendered relative path: the template file it comes
    from}, derived from the template tree.

    Skeleton files with their names rendered as cookiecutter does, plus the chosen
    variant's overlay with the fields of its names filled as the hook does, plus
    the chosen license's text as LICENSE (none: no LICENSE).
    """
    layout: dict[str, Path] = {}
    for path in skeleton_files():
        relative = path.relative_to(SKELETON).as_posix()
        name = compiled(relative).render(cookiecutter=context)
        if name and not name.endswith("/"):
            layout[name] = path
    overlay = OVERLAYS / str(context["variant"])
    for path in overlay_files(str(context["variant"])):
        layout[filled(path.relative_to(overlay).as_posix(), context)] = path
    if context["license"] != NO_LICENSE:
        layout["LICENSE"] = LICENSES / str(context["license"])
    return layout


def expected_files(context: Mapping[str, Any]) -> set[str]:
    """The file set a bake must produce (see `project_layout`)."""
    return set(project_layout(context))


def project_files(project: Path) -> set[str]:
    """Every file of a baked project, relative, outside .git."""
    return {
        path.relative_to(project).as_posix()
        for path in project.rglob("*")
        if not path.is_dir() and ".git" not in path.relative_to(project).parts
    }


def read_text(path: Path) -> str | None:
    """The file as text, or None for binary content."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


# GitHub Actions expressions `${{ ... }}` and the shell's `${#var}` are not Jinja.
_NOT_JINJA = re.compile(r"\$\{\{.*?\}\}|\$\{#", re.DOTALL)
_JINJA = re.compile(r"\{\{|\{%|\{#")


def template_leftovers(text: str) -> list[str]:
    """Lines that still hold Jinja syntax after rendering."""
    cleaned = _NOT_JINJA.sub("", text)
    return [line.strip() for line in cleaned.splitlines() if _JINJA.search(line)]


def parse_structured(path: Path) -> object:
    """Parse a TOML, YAML (every document) or JSON file; raise if it is broken."""
    return parse_structured_text(path.name, path.read_text(encoding="utf-8"))


def parse_structured_text(name: str, text: str) -> object:
    """Parse TOML, YAML (every document) or JSON text, chosen by file name."""
    if name.endswith(".toml"):
        return tomllib.loads(text)
    if name.endswith((".yaml", ".yml")):
        return list(yaml.safe_load_all(text))
    if name.endswith(".json"):
        return json.loads(text)
    raise ValueError(f"not a TOML, YAML or JSON file name: {name}")


def structured_files(project: Path) -> list[Path]:
    """The TOML/YAML/JSON files of a baked project, outside .git."""
    return sorted(
        project / name
        for name in project_files(project)
        if name.endswith(STRUCTURED_SUFFIXES)
    )


def bake(output_dir: Path, config_file: Path, answers: Mapping[str, str]) -> Path:
    """Generate a project with cookiecutter's Python API; return its folder."""
    from cookiecutter.main import cookiecutter  # noqa: PLC0415

    project = cookiecutter(
        str(REPO),
        no_input=True,
        extra_context=dict(answers),
        output_dir=str(output_dir),
        config_file=str(config_file),
    )
    return Path(project)


def bake_cli(
    output_dir: Path,
    config_file: Path,
    answers: Mapping[str, str],
    template: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """Generate a project with the cookiecutter command, as a person would."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            "--no-input",
            "--config-file",
            str(config_file),
            "--output-dir",
            str(output_dir),
            str(template),
            *(f"{key}={value}" for key, value in answers.items()),
        ],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=120,
        check=False,
    )


# --- Reference readers for what the format filters write ----------------------

_MD_FOLD = re.compile("[ \t\n\x0b\x0c\r\x00-\x1f\x7f-\x9f\u2028\u2029]+")
ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def md_fold(text: str) -> str:
    """Text as md_text must render it: whitespace, breaks and controls fold to one
    space, no space at either end."""
    return _MD_FOLD.sub(" ", text).strip(" ")


def md_tokens(markdown: str) -> list[tuple[str, bool]]:
    """Split inline Markdown into (character, escaped) pairs.

    A backslash before ASCII punctuation escapes it (CommonMark); any other
    backslash is a literal one.
    """
    tokens: list[tuple[str, bool]] = []
    index = 0
    while index < len(markdown):
        char = markdown[index]
        following = markdown[index + 1 : index + 2]
        if char == "\\" and following in ASCII_PUNCTUATION and following:
            tokens.append((following, True))
            index += 2
        else:
            tokens.append((char, False))
            index += 1
    return tokens


def md_unescape(markdown: str) -> str:
    """The text a CommonMark renderer shows for escaped inline Markdown."""
    return "".join(char for char, _ in md_tokens(markdown))


def docker_fold(text: str) -> str:
    """Text as docker_str must keep it: each line break or control character
    (tab aside) becomes one space, CRLF included."""
    text = text.replace("\r\n", " ")
    return re.sub(
        "[\n\r\x0b\x0c\x85\u2028\u2029\x00-\x08\x0e-\x1f\x7f-\x9f]", " ", text
    )


class DockerQuoteError(ValueError):
    """A Dockerfile double-quoted word that is not one complete, inert string."""


def docker_unquote(word: str) -> str:
    """Read one double-quoted Dockerfile word as BuildKit's lexer does.

    Inside double quotes a backslash escapes `"`, `$` and itself; before any
    other character it stays. An unescaped `$` would expand a variable and an
    unescaped `"` would end the string early: both are errors here.
    """
    if len(word) < 2 or word[0] != '"' or word[-1] != '"':
        raise DockerQuoteError(f"not a double-quoted word: {word!r}")
    body = word[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\" and index + 1 < len(body) and body[index + 1] in '"$\\':
            out.append(body[index + 1])
            index += 2
            continue
        if char == "\\" and index + 1 == len(body):
            raise DockerQuoteError(f"backslash escapes the closing quote: {word!r}")
        if char == '"':
            raise DockerQuoteError(f"unescaped quote inside: {word!r}")
        if char == "$":
            raise DockerQuoteError(f"unescaped $ would expand: {word!r}")
        if char in "\n\r":
            raise DockerQuoteError(f"line break inside: {word!r}")
        out.append(char)
        index += 1
    return "".join(out)


_DOCKER_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def dockerfile_label_values(dockerfile: str) -> list[str]:
    """The double-quoted values of every LABEL instruction, unquoted."""
    values: list[str] = []
    instruction = ""
    for line in dockerfile.splitlines():
        instruction += line
        if line.endswith("\\"):
            instruction = instruction[:-1]
            continue
        if instruction.lstrip().upper().startswith("LABEL "):
            for word in _DOCKER_QUOTED.findall(instruction):
                values.append(docker_unquote(word))
        instruction = ""
    return values


def copied_without_render(relative: str) -> bool:
    """Whether cookiecutter copies this skeleton file as is: it or a folder above it
    matches `_copy_without_render` (a matching folder is copied whole)."""
    patterns = COOKIECUTTER_JSON.get("_copy_without_render", [])
    parts = relative.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    return any(
        fnmatch.fnmatch(prefix, pattern) for prefix in prefixes for pattern in patterns
    )


def filled_by_hook(path: Path) -> bool:
    """Whether the post-generation hook fills this template file in (not Jinja):
    every overlay file and license text, and the skeleton files cookiecutter copies
    as they are."""
    if path.is_relative_to(TEMPLATES):
        return True
    return copied_without_render(path.relative_to(SKELETON).as_posix())


def filled(text: str, context: Mapping[str, Any]) -> str:
    """A copied file's text as the post-generation hook fills it in."""
    fill: Callable[[str, dict[str, str]], str] = post_generation().fill
    return fill(text, filled_fields(context))


def filled_fields(context: Mapping[str, Any]) -> dict[str, str]:
    """The fields the hook fills, with their values for these answers."""
    fields: dict[str, str] = template_module("local_extensions").filled_fields(context)
    return fields


def render_project_files(
    context: Mapping[str, Any], *, suffixes: tuple[str, ...] | None = None
) -> dict[str, str]:
    """Render the project's text files in-process, as cookiecutter would, without
    hooks or disk writes: {rendered relative path: rendered text}.

    Much faster than a bake, for property tests that need many examples.
    """
    rendered: dict[str, str] = {}
    for name, path in project_layout(context).items():
        if suffixes is not None and not name.endswith(suffixes):
            continue
        text = read_text(path)
        if text is None:
            continue
        if filled_by_hook(path):
            text = filled(text, context)
        else:
            text = compiled(text).render(cookiecutter=context)
        rendered[name] = text
    return rendered


@functools.lru_cache(maxsize=512)
def compiled(source: str) -> Any:
    """A Jinja template compiled once per source text."""
    return template_env().from_string(source)


# --- Running a generated project -------------------------------------------------

TORCH_WHEEL = re.compile(r"^torch-(?P<version>[^-]+?)(?:\+cpu)?-cp311-.*\.whl$")


def use_local_torch(project: Path) -> dict[str, str]:
    """Point a baked project's uv at the CPU torch wheel that lies on this machine.

    uv ignores pip's configuration, so a project that needs torch would download a
    multi-GB CUDA build, and the project's PyTorch CPU index is unreachable here.
    This edits only the baked copy (never the template): the `pytorch-cpu` index
    becomes the local wheel folder (a flat index), torch is pinned to that wheel's
    version, and the returned environment lets uv find the wheel; a project whose
    torch build is an extra gets `UV_FLAGS=--extra cpu` for its Make targets.
    Without such a wheel it changes nothing and torch resolves as a user's would.
    """
    import tomlkit  # noqa: PLC0415

    folder = os.environ.get("PIP_FIND_LINKS", "")
    wheels = [
        match
        for path in (Path(folder).glob("torch-*.whl") if folder else [])
        if (match := TORCH_WHEEL.match(path.name))
    ]
    if not wheels:
        return {}
    pyproject = project / "pyproject.toml"
    document = tomlkit.parse(pyproject.read_text(encoding="utf-8"))
    uv = document.setdefault("tool", tomlkit.table()).setdefault("uv", tomlkit.table())
    uv["constraint-dependencies"] = [f"torch=={wheels[0]['version']}"]
    for index in uv.get("index", []):
        if index["name"] == "pytorch-cpu":
            index["url"] = str(Path(folder).resolve())
            index["format"] = "flat"
    pyproject.write_text(tomlkit.dumps(document), encoding="utf-8")
    env = {"UV_FIND_LINKS": folder}
    if "cpu" in document.get("project", {}).get("optional-dependencies", {}):
        env["UV_FLAGS"] = "--extra cpu"
    return env


def install_with_local_torch(project: Path) -> dict[str, str]:
    """`make install` on the local CPU torch wheel; the env later targets need."""
    torch_env = use_local_torch(project)
    make(project, "install", offline=False, extra_env=torch_env)
    return torch_env


FIGURE_STATS = """
import json, sys
import numpy as np
from matplotlib import image
pixels = image.imread(sys.argv[1])
colours = np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)
print(json.dumps({"shape": list(pixels.shape[:2]), "std": float(np.std(pixels)),
                  "colours": len(colours)}))
"""


def figure_stats(
    project: Path, figure: Path, extra_env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Pixel size, spread and distinct colours of a PNG, read by the project's own
    matplotlib."""
    env = dict(extra_env or {})
    result = subprocess.run(
        [
            "uv",
            "run",
            *env.get("UV_FLAGS", "").split(),
            "python",
            "-c",
            FIGURE_STATS,
            str(figure),
        ],
        cwd=project,
        env=project_env(UV_OFFLINE="1", **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    stats: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return stats


def project_env(**extra: str) -> dict[str, str]:
    """The user's environment, without the template's own virtual environment.

    Python writes bytecode by default; a harness shell that sets
    PYTHONDONTWRITEBYTECODE makes every process of a project's suite compile torch
    and MLflow again (about 19 s each for fine-tuning), which no user pays.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "VIRTUAL_ENV",
            "PYTHONPATH",
            "UV_PROJECT_ENVIRONMENT",
            "PYTHONDONTWRITEBYTECODE",
        }
    }
    env.update(
        {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            **extra,
        }
    )
    return env


def make(
    project: Path,
    *targets: str,
    offline: bool = True,
    extra_env: Mapping[str, str] | None = None,
) -> str:
    """Run Make targets in the project; fail with their output if they fail."""
    env = project_env(**(extra_env or {}), **({"UV_OFFLINE": "1"} if offline else {}))
    return run_in(project, ["make", *targets], env, f"make {' '.join(targets)}")


def run_in(folder: Path, command: list[str], env: Mapping[str, str], what: str) -> str:
    """Run `command` in `folder`; its output, or a failure that shows the output."""
    result = subprocess.run(
        command,
        cwd=folder,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (
        f"{what} failed in {folder}:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    )
    return result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def call(url: str, body: object | None = None) -> tuple[int, str]:
    """GET, or POST JSON when a body is given; return status and text."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=data, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def poll(
    url: str, done: Callable[[int, str], bool], timeout_s: float
) -> tuple[int, str]:
    """GET `url` until `done(status, text)` or the timeout; return the last answer."""
    deadline = time.monotonic() + timeout_s
    answer = (0, "")
    while time.monotonic() < deadline:
        try:
            answer = call(url)
        except OSError:
            answer = (0, "")
        if done(*answer):
            break
        time.sleep(0.25)
    return answer


def bounded_load(
    url: str, body: object, requests: int, clients: int = 4
) -> dict[str, float | int]:
    """POST `body` `requests` times from `clients` threads: errors and p50/p99 in ms.

    Figures are appended to the file that LOAD_REPORT names, if any (they are
    recorded, never asserted: speed targets live in benchmarks/).
    """

    def one(_: int) -> tuple[int, float]:
        started = time.perf_counter()
        try:
            status, _text = call(url, body)
        except OSError:
            status = 0
        return status, time.perf_counter() - started

    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(one, range(requests)))
    latencies = sorted(seconds * 1000 for _, seconds in answers)
    last = len(latencies) - 1
    summary: dict[str, float | int] = {
        "requests": len(answers),
        "errors": sum(status != 200 for status, _ in answers),
        "p50_ms": round(latencies[last // 2], 2),
        "p99_ms": round(latencies[last * 99 // 100], 2),
    }
    report = os.environ.get("LOAD_REPORT")
    if report:
        with Path(report).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"url": url.rsplit("/", 1)[-1], **summary}) + "\n")
    return summary


@contextlib.contextmanager
def running_api(
    project: Path, extra_env: Mapping[str, str] | None = None, timeout_s: float = 180
) -> Iterator[str]:
    """`make serve` offline on a free loopback port; yield its URL once it is up."""
    port = free_port()
    server = subprocess.Popen(
        ["make", "serve"],
        cwd=project,
        env=project_env(UV_OFFLINE="1", API_PORT=str(port), **(extra_env or {})),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        health = poll(f"{base}/health", lambda status, _: status == 200, timeout_s)
        assert health[0] == 200, f"`make serve` in {project} never answered /health"
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def schema_fuzz(
    base: str, max_examples: int = 100, exclude: tuple[str, ...] = ()
) -> str:
    """schemathesis over a live API's published schema, every check (no 5xx, answers
    as documented, valid requests accepted, invalid ones refused) but `exclude`."""
    skipped = ["--exclude-checks", ",".join(exclude)] if exclude else []
    result = subprocess.run(
        [
            "schemathesis",
            "run",
            f"{base}/openapi.json",
            "--checks",
            "all",
            *skipped,
            "--max-examples",
            str(max_examples),
            "--seed",
            "1",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-6000:]
    return report


# A small Qwen2 (the default base's architecture) with its tokenizer and chat template,
# saved the way a downloaded model lies in a folder. PACKAGE is the import name.
SAVE_QWEN2_FOLDER = """
import sys
from pathlib import Path
from PACKAGE import dataset, modeling, train
splits = {"train": dataset.load_jsonl(Path("data") / "train.jsonl")}
tokenizer = modeling.train_tiny_tokenizer(train.tiny_corpus(splits), 512)
model = modeling.build_tiny_model(
    tokenizer, modeling.TinyShape(architecture="qwen2", kv_heads=2), seed=0
)
model.save_pretrained(sys.argv[1])
tokenizer.save_pretrained(sys.argv[1])
"""


def save_qwen2_folder(
    project: Path, folder: Path, torch_env: Mapping[str, str]
) -> Path:
    """A small Qwen2 model and its chat tokenizer saved in `folder`, as a model
    downloaded from the hub lies on disk: what `BASE_MODEL=<folder>` points at."""
    script = SAVE_QWEN2_FOLDER.replace("PACKAGE", project.name.replace("-", "_"))
    flags = torch_env.get("UV_FLAGS", "").split()
    subprocess.run(
        ["uv", "run", *flags, "python", "-c", script, str(folder)],
        cwd=project,
        env=project_env(UV_OFFLINE="1", **torch_env),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


# `make train` of the tiny model in well under a minute on 2 cores: 100 steps of 16
# (four epochs: it learns the bundled task), one torch thread (tiny matrices lose to
# thread contention: 6 s against 49 s on a busy runner), fewer bootstrap resamples.
STEPS = 100
TINY_TRAIN = {
    "BASE_MODEL": "tiny",
    "MAX_STEPS": str(STEPS),
    "BATCH_SIZE": "16",
    "LEARNING_RATE": "1e-2",
    "BOOTSTRAP_SAMPLES": "200",
    "PROGRESS": "false",
    "OMP_NUM_THREADS": "1",
}
