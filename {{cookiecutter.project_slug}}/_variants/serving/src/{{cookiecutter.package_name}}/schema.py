"""The feature contract shared by the data loader, the model and the API."""

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    model_validator,
)

Contract = Literal["month-to-month", "one-year", "two-year"]
PaymentMethod = Literal["card", "bank-transfer", "electronic-check"]

MAX_BATCH_SIZE = 1000
# An account has six fields; a body with far more is refused before each is checked.
MAX_FIELDS = 32
# Validation context of the CSV loader, whose rows arrive as text to be parsed.
FROM_TEXT = {"from_text": True}


def _from_text(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("from_text"))


def _number(value: Any, info: ValidationInfo) -> Any:
    """A JSON number, as the schema publishes: `"12"` and `true` are not numbers."""
    if isinstance(value, str | bool) and not _from_text(info):
        raise ValueError("must be a JSON number")
    return value


def _boolean(value: Any, info: ValidationInfo) -> Any:
    """`true` or `false`, as the schema publishes: `0` and `"yes"` are not booleans."""
    if not isinstance(value, bool) and not _from_text(info):
        raise ValueError("must be true or false")
    return value


Number = BeforeValidator(_number)


class Customer(BaseModel):
    """One account's features, as they arrive at training time and at the API.

    The API accepts exactly what its schema publishes (JSON numbers and booleans,
    no text to coerce); the CSV loader validates with FROM_TEXT to parse its text.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _bounded_fields(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > MAX_FIELDS:
            raise ValueError(
                f"{len(data):,} fields; an account has {len(cls.model_fields)} "
                f"(at most {MAX_FIELDS} are read)"
            )
        return data

    tenure_months: Annotated[int, Number] = Field(
        ge=0, le=600, description="Months since the account opened."
    )
    monthly_charges: Annotated[float, Number] = Field(
        ge=0, le=10_000, description="Current monthly bill."
    )
    support_calls: Annotated[int, Number] = Field(
        ge=0, le=1_000, description="Support calls in the last 90 days."
    )
    contract: Contract
    payment_method: PaymentMethod
    has_internet: Annotated[bool, BeforeValidator(_boolean)]


FEATURES: tuple[str, ...] = tuple(Customer.model_fields)
NUMERIC_FEATURES: tuple[str, ...] = ("tenure_months", "monthly_charges", "support_calls")
CATEGORICAL_FEATURES: tuple[str, ...] = ("contract", "payment_method", "has_internet")
TARGET = "churned"


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # fail_fast: the first bad account ends validation, so a batch of a thousand bad
    # accounts costs no more to refuse than one.
    instances: list[Customer] = Field(min_length=1, max_length=MAX_BATCH_SIZE, fail_fast=True)


def _request_kind(body: object) -> str:
    return "batch" if isinstance(body, dict) and "instances" in body else "single"


# One endpoint takes either shape; the discriminator keeps 422 errors about one shape only.
PredictRequest = Annotated[
    Annotated[Customer, Tag("single")] | Annotated[Batch, Tag("batch")],
    Discriminator(_request_kind),
]


class Prediction(BaseModel):
    churn_probability: float = Field(ge=0.0, le=1.0)
    churn: bool


class PredictResponse(BaseModel):
    predictions: list[Prediction]
    model_version: str
