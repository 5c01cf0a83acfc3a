"""A request's way from its route to its endpoint, without FastAPI's general
resolution when the route is simple.

FastAPI resolves every request the same general way: the body by its content type,
then every dependency and parameter through `solve_dependencies`, each value through
its field's validator, whatever the route declares (a GET intent spent a third of its
Python calls there). Most of our routes declare the same few things: path parameters
that are plain strings, at most one JSON body that is one model, and one request
context dependency that takes the request. For those, `direct_handler` does the same
work directly and hands the request to FastAPI's own handler whenever anything is not
the plain success case (no body, another content type, JSON that does not parse or
does not validate, an override of a dependency): every error keeps FastAPI's path,
its order (dependencies first, then validation) and its answer. Nothing runs before
that choice that the fallback would repeat: the body is parsed and validated first,
the dependencies and the endpoint only once it is known that the request is served
here. A route that declares anything else (queries, headers, optional bodies, a
dependency of its own dependencies) is always FastAPI's."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, get_type_hints

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

# What `direct_handler` returns: the endpoint's response, or None for "FastAPI's turn".
DirectHandler = Callable[[Request], Awaitable[Response | None]]

_SPECIAL = (
    "websocket_param_name",
    "http_connection_param_name",
    "response_param_name",
    "background_tasks_param_name",
    "security_scopes_param_name",
)


def _no_params(dependant: Dependant) -> bool:
    """No query, header or cookie parameter and no special parameter but the request."""
    return not (
        dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or any(getattr(dependant, name, None) for name in _SPECIAL)
    )


def _plain_string(field: Any) -> bool:
    info = field.field_info
    return info.annotation is str and not info.metadata


def _context_dependency(dep: Dependant) -> bool:
    """A dependency that takes only the request and is a coroutine function."""
    return (
        dep.name is not None
        and dep.call is not None
        and inspect.iscoroutinefunction(dep.call)
        and dep.request_param_name is not None
        and _no_params(dep)
        and not (dep.path_params or dep.body_params or dep.dependencies)
    )


def _answers_response(call: Callable[..., Any]) -> bool:
    """The endpoint returns a Response itself (nothing for FastAPI to serialize)."""
    try:
        returned = get_type_hints(call).get("return")
    except Exception:  # an annotation that does not resolve: FastAPI's way
        return False
    return isinstance(returned, type) and issubclass(returned, Response)


def direct_handler(route: APIRoute) -> DirectHandler | None:
    """The direct handler of a simple route (module docstring), or None."""
    dependant = route.dependant
    call = dependant.call
    if call is None or not inspect.iscoroutinefunction(call) or not _answers_response(call):
        return None
    if not _no_params(dependant) or not all(_plain_string(f) for f in dependant.path_params):
        return None
    if not all(_context_dependency(dep) for dep in dependant.dependencies):
        return None
    if len({dep.call for dep in dependant.dependencies}) != len(dependant.dependencies):
        return None  # the same dependency twice: FastAPI's cache decides
    body_name: str | None = None
    body_model: type[BaseModel] | None = None
    if dependant.body_params:
        if len(dependant.body_params) != 1:
            return None
        field = dependant.body_params[0]
        info = field.field_info
        model = info.annotation
        if (
            getattr(info, "embed", False)
            or info.metadata
            or not isinstance(model, type)
            or not issubclass(model, BaseModel)
        ):
            return None
        body_name, body_model = field.name, model
    path_names = [(f.name, getattr(f, "alias", None) or f.name) for f in dependant.path_params]
    dependencies: list[tuple[str, str, Callable[..., Awaitable[Any]]]] = [
        (dep.name, dep.request_param_name, dep.call)  # type: ignore[misc]  # checked above
        for dep in dependant.dependencies
    ]
    request_name = dependant.request_param_name
    overrides = route.dependency_overrides_provider

    async def handle(request: Request) -> Response | None:
        if overrides is not None and getattr(overrides, "dependency_overrides", None):
            return None  # an override of a dependency: FastAPI resolves it
        values: dict[str, Any] = {}
        if body_model is not None:
            content_type = request.headers.get("content-type", "")
            if content_type.split(";", 1)[0].strip().lower() != "application/json":
                return None
            try:
                if not await request.body():
                    return None
                body = body_model.model_validate(await request.json())
            except Exception:  # JSON or validation errors, a duplicate key: FastAPI's own
                return None  # answer, from the same cached body
            assert body_name is not None
            values[body_name] = body
        params = request.path_params
        for name, alias in path_names:
            value = params.get(alias)
            if not isinstance(value, str):
                return None
            values[name] = value
        if request_name is not None:
            values[request_name] = request
        for dep_name, request_param, dependency in dependencies:
            values[dep_name] = await dependency(**{request_param: request})
        response: Response = await call(**values)
        return response

    return handle
