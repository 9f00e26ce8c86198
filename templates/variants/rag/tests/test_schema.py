import pytest
from pydantic import ValidationError

from {{ cookiecutter.package_name }}.platform.host import with_limits
from {{ cookiecutter.package_name }}.schema import QueryRequest


def test_a_question_over_the_limit_is_refused_by_size_without_its_text() -> None:
    limited = with_limits(QueryRequest, question={"max_length": 10})

    with pytest.raises(ValidationError) as refused:
        limited.model_validate({"question": "y" * 11 + " "})

    (error,) = refused.value.errors()
    assert error["loc"] == ("question",)
    assert error["type"] == "string_too_long"
    assert error["msg"] == "question has 12 characters; the limit is MAX_QUESTION_CHARS=10"
    assert error["input"] == "12 characters"
    assert limited.model_validate({"question": "y" * 10}).question == "y" * 10


def test_without_a_limit_the_contract_takes_any_length() -> None:
    assert len(QueryRequest.model_validate({"question": "y" * 5000}).question) == 5000
