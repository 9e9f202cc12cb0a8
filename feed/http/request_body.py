"""Reading request bodies strictly: JSON that is valid UTF-8 with finite numbers and no
lone surrogates, or a 422 that says what was wrong, never a 500 further in.

Python's json module accepts NaN, Infinity and 1e400 (as inf), and "\\ud800" (a lone
surrogate that no UTF-8 encoder can write back: SQLite and every JSON response fail on
it). Routes built with StrictJSONRoute refuse such bodies before validation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def _refuse(doc: str, why: str) -> json.JSONDecodeError:
    return json.JSONDecodeError(why, doc, 0)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def has_lone_surrogate(text: str) -> bool:
    """Whether a string holds a code point UTF-8 cannot encode (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_strict_json(body: bytes) -> Any:
    """Decode a JSON body; json.JSONDecodeError (which FastAPI answers with 422) for
    anything but UTF-8 JSON with finite numbers and well-formed strings."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse("", "body is not valid UTF-8") from exc
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_constant)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # NaN, 1e400, 5000-digit integers, depth
        raise _refuse(text, str(exc)[:200] or "invalid JSON") from exc
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if has_lone_surrogate(item):
                raise _refuse(text, "string holds a lone surrogate (not valid Unicode)")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return value


class StrictJSONRequest(Request):
    """A request whose JSON body is parsed by parse_strict_json."""

    async def json(self) -> Any:
        """The body as JSON, strictly."""
        if not hasattr(self, "_json"):
            self._json = parse_strict_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An API route that reads JSON bodies with StrictJSONRequest."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The default handler, handed a StrictJSONRequest."""
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
