"""The format filters turn any text into a literal that reads back as that text."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from local_extensions import docker_str, md_text, toml_str, yaml_str
from support import (
    DockerQuoteError,
    docker_fold,
    docker_unquote,
    md_fold,
    md_tokens,
    md_unescape,
    template_env,
)

# All of Unicode except surrogates (st.text's default), plus a denser mix of the
# characters each format treats specially.
SPECIAL = list("\"'\\$`*_{}[]()<>#|~^&!=+-.:;@%/ \t\n\r\x00\x0b\x0c\x1b\x7f\x85")
SPECIAL += ["\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff", "é", "模", "🚀", "1"]
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(SPECIAL)),
    st.lists(st.sampled_from([*SPECIAL, "a", "1.", "'''", '"""', "---", "${X}"])).map(
        "".join
    ),
)
HOSTILE = [
    'O\'Brien "Model" \\ v2',
    "'''\"\"\"",
    "Café Modèle 模型",
    "🚀 emoji 🤖",
    "line one\nline two\r\nthree",
    "tab\there",
    "nul\x00byte",
    "$HOME ${PATH} $$",
    "<script>alert(1)</script> *bold* _em_ [link](x) `code` # not a heading",
    "1. not a list",
    "- not a bullet",
    "",
    "\\",
    "ends with backslash \\",
]
hostile = pytest.mark.parametrize("text", HOSTILE)


@given(texts)
@example("\x00\x1f\x7f\x9f")
def test_toml_str_reads_back_as_the_same_text(text: str) -> None:
    assert tomllib.loads(f"value = {toml_str(text)}")["value"] == text


@given(texts)
def test_toml_str_stays_on_one_line_and_quoted(text: str) -> None:
    literal = toml_str(text)
    assert literal.startswith('"')
    assert literal.endswith('"')
    assert "\n" not in literal
    assert "\r" not in literal


@given(texts)
@example("\x85\u2028\u2029\ufeff\ufffe\uffff")
def test_yaml_str_reads_back_as_the_same_text(text: str) -> None:
    assert yaml.safe_load(f"value: {yaml_str(text)}") == {"value": text}


@given(texts)
def test_yaml_str_reads_back_inside_a_block_mapping_and_a_list(text: str) -> None:
    document = f"outer:\n  inner: {yaml_str(text)}\n  items:\n    - {yaml_str(text)}\n"
    assert yaml.safe_load(document) == {"outer": {"inner": text, "items": [text]}}


@given(texts)
def test_yaml_str_writes_no_raw_line_break(text: str) -> None:
    assert not re.search("[\n\r\x85\u2028\u2029]", yaml_str(text))


@given(texts)
def test_md_text_renders_as_the_folded_text(text: str) -> None:
    assert md_unescape(md_text(text)) == md_fold(text)


# Characters that open Markdown or HTML syntax wherever they stand.
MD_INLINE_SYNTAX = set("\\`*_{}[]<>#|~^$&")


@given(texts)
def test_md_text_leaves_no_markdown_or_html_syntax_unescaped(text: str) -> None:
    tokens = md_tokens(md_text(text))
    bare = [char for char, escaped in tokens if not escaped]
    assert not MD_INLINE_SYNTAX.intersection(bare)
    assert not set("\n\r\x85\u2028\u2029").intersection(bare)


@given(texts)
def test_md_text_cannot_open_a_block_at_the_start_of_a_line(text: str) -> None:
    markdown = md_text(text)
    tokens = md_tokens(markdown)
    # No indented code block, list, quote, heading, setext underline or rule.
    assert not markdown.startswith(" ")
    if tokens:
        first_char, first_escaped = tokens[0]
        assert first_escaped or first_char not in "-+=*#>_"
    ordered = re.match(r"\d{1,9}[.)]", markdown)
    assert ordered is None, markdown


@given(texts)
def test_docker_str_reads_back_as_the_folded_text(text: str) -> None:
    assert docker_unquote(docker_str(text)) == docker_fold(text)


@given(texts)
def test_docker_str_stays_on_one_line(text: str) -> None:
    assert not re.search("[\n\r]", docker_str(text))


@hostile
def test_every_filter_accepts_hostile_text(text: str) -> None:
    assert tomllib.loads(f"v = {toml_str(text)}")["v"] == text
    assert yaml.safe_load(f"v: {yaml_str(text)}") == {"v": text}
    assert md_unescape(md_text(text)) == md_fold(text)
    assert docker_unquote(docker_str(text)) == docker_fold(text)


@pytest.mark.parametrize("render", [toml_str, yaml_str, md_text, docker_str])
def test_filters_refuse_lone_surrogates_with_a_clear_error(
    render: Callable[[object], str],
) -> None:
    with pytest.raises(ValueError, match="lone surrogate U\\+DC80"):
        render("bad \udc80 byte")


def test_filters_are_registered_in_the_template_environment() -> None:
    env = template_env()
    rendered = env.from_string(
        "{{ t | toml_str }} {{ t | yaml_str }} {{ t | md_text }} {{ t | docker_str }}"
    ).render(t='a "b"')
    assert rendered == '"a \\"b\\"" "a \\"b\\"" a "b" "a \\"b\\""'


@pytest.mark.parametrize(
    ("word", "problem"),
    [
        ('"a"b"', "unescaped quote"),
        ('"$HOME"', "unescaped \\$"),
        ('"a\\"', "closing quote"),
        ("'single'", "not a double-quoted"),
    ],
)
def test_reference_docker_unquoter_rejects_unsafe_words(
    word: str, problem: str
) -> None:
    with pytest.raises(DockerQuoteError, match=problem):
        docker_unquote(word)
