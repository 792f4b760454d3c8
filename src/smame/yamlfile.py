"""Parameter files: YAML read into a pydantic model, refused in one line naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["ParameterFileError", "load_model"]

Model = TypeVar("Model", bound=BaseModel)


class ParameterFileError(ValueError):
    """A parameter file that cannot be used; the message is one line naming file and field."""


def _field_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def load_model(path: Path, model: type[Model]) -> Model:
    """Read ``path`` (YAML) as ``model``; any problem is a :class:`ParameterFileError` such as
    ``cba.yaml: functions[2].cost_oku: Input should be a valid number (got 'abc')``."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ParameterFileError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ParameterFileError(f"{path}: not valid YAML{where}") from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        got = f" (got {_short(first['input'])})" if first["type"] != "missing" else ""
        raise ParameterFileError(
            f"{path.name}: {_field_path(first['loc'])}: "
            f"{first['msg'].removeprefix('Value error, ')}{got}") from None
