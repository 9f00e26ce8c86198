"""The feature contract shared by the data loader, the model and the API."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from .platform.contract import JsonBool, JsonFloat, JsonInt

Contract = Literal["month-to-month", "one-year", "two-year"]
PaymentMethod = Literal["card", "bank-transfer", "electronic-check"]

MAX_BATCH_SIZE = 1000
# An account has six fields; a body with far more is refused before each is checked.
MAX_FIELDS = 32


class Customer(BaseModel):
    """One account's features, as they arrive at training time and at the API.

    The API accepts exactly what its schema publishes (JSON numbers and booleans,
    no text to coerce); the CSV loader validates with contract.FROM_TEXT to parse it.
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

    tenure_months: JsonInt = Field(ge=0, le=600, description="Months since the account opened.")
    monthly_charges: JsonFloat = Field(ge=0, le=10_000, description="Current monthly bill.")
    support_calls: JsonInt = Field(ge=0, le=1_000, description="Support calls in the last 90 days.")
    contract: Contract
    payment_method: PaymentMethod
    has_internet: JsonBool


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
