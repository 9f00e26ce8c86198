"""Field types for request contracts that accept exactly what their JSON schema
publishes: pydantic's lax mode would also take `"12"` for a number and `0` for a
boolean, which the schema does not allow; its strict mode would refuse `12.0` for an
integer, which JSON Schema does allow.

Data files are text: their loaders validate with `context=FROM_TEXT` to parse it.
"""

from typing import Annotated, Any

from pydantic import BeforeValidator, ValidationInfo

FROM_TEXT = {"from_text": True}


def _from_text(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("from_text"))


def _number(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str | bool) and not _from_text(info):
        raise ValueError("must be a JSON number")
    return value


def _boolean(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, bool) and not _from_text(info):
        raise ValueError("must be true or false")
    return value


JsonInt = Annotated[int, BeforeValidator(_number)]
JsonFloat = Annotated[float, BeforeValidator(_number)]
JsonBool = Annotated[bool, BeforeValidator(_boolean)]
