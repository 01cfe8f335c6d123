"""Request plumbing shared by the routes: query parameters, data-provider context, answers and errors."""

from __future__ import annotations

import json

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from werkzeug import wrappers


class UnreadableInfoError(errors.PublicError):
    """A step's info this release cannot read (corrupt, or written by a newer release): 422, with the reason."""

    http_code = 422


class UnreadablePictureError(errors.PublicError):
    """A step's picture that is not a PNG or cannot be cut (corrupt, too large): 422, with the reason."""

    http_code = 422


def context(request: wrappers.Request) -> tuple:
    """(request context, experiment id) that every data-provider call takes."""
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


def str_arg(request: wrappers.Request, name: str) -> str:
    value = request.args.get(name)
    if value is None:
        raise errors.InvalidArgumentError(f"missing query parameter {name!r}")
    return value


def int_arg(request: wrappers.Request, name: str) -> int:
    value = str_arg(request, name)
    try:
        return int(value)
    except ValueError:
        raise errors.InvalidArgumentError(f"query parameter {name!r} must be an integer, got {value!r}") from None


def json_answer(request: wrappers.Request, payload: dict, expires: int = 0) -> wrappers.Response:
    return http_util.Respond(request, json.dumps(payload), "application/json", expires=expires)
