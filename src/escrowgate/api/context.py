"""The per-request context: who is calling, and the one database transaction
the use case runs in. Routes finish with `ctx.respond(...)`, which stores the
idempotent answer and commits the state change, postings and events together; the
edge closes the context after the answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic_core import to_json
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ..auth.keys import Principal
from ..config import Settings
from ..db import optimistic, rows
from ..db.direct import has_sent
from ..errors import ApiError, AuthenticationRequired
from ..metrics import OPTIMISTIC_RERUNS
from ..wire import WireDict
from . import idempotency
from .docs import ErrorBody, WireModel, keyed
from .edge import BODY_KEY, CLOSERS_KEY, PRINCIPAL_KEY, REQUEST_ID_KEY, SESSION_KEY


@dataclass(slots=True)
class Ctx:
    principal: Principal | None
    settings: Settings
    request_id: str
    is_postgres: bool
    # The session is made when the route first asks for it: a GET answered from one
    # pooled read (db/direct.py: read_one) never needs its objects.
    open_session: async_sessionmaker[AsyncSession]
    opened: AsyncSession | None = None
    claim: idempotency.Claim | None = None

    @property
    def pool_engine(self) -> Engine | None:
        """The engine whose pool an unlocked read may use before the session is made (a
        db.direct.Reader, as this context is): None when the factory is bound otherwise."""
        bind = self.open_session.kw.get("bind")
        return bind.sync_engine if isinstance(bind, AsyncEngine) else None

    @property
    def session(self) -> AsyncSession:
        if self.opened is None:
            self.opened = self.open_session()
        return self.opened

    @property
    def caller(self) -> Principal:
        assert self.principal is not None
        return self.principal

    @property
    def merchant_id(self) -> str:
        assert self.principal is not None and self.principal.merchant_id is not None
        return self.principal.merchant_id

    @property
    def mode(self) -> str:
        assert self.principal is not None
        return self.principal.mode

    async def close(self) -> None:
        """After the answer: the idempotency claim is let go and the session closed
        (close() rolls back what was not committed: one call, not rollback + close)."""
        if self.claim is not None:
            self.claim.release()
        session = self.opened
        if session is None:
            return
        if has_sent(session):
            await session.close()
        elif session.sync_session.get_transaction() is not None:
            # Nothing sent: no connection to give back, no I/O, so no greenlet. Closed
            # all the same: a session and its transaction refer to each other, and left
            # open they wait for the cyclic GC, whose pauses (7-14 ms per collection at
            # create intent's rate) lengthened the writes' tail (docs/architecture.md).
            # A session that never began (a GET's) is freed with the request as it is.
            session.sync_session.close()

    async def optimistic(self, attempt: Callable[[], Awaitable[Response]]) -> Response:
        """Run `attempt` (a route's use case and `respond`, reading `self.session` each
        time) on PostgreSQL with its aggregate read unlocked and written in one guarded
        statement (db/optimistic.py). When the aggregate changed in between, nothing was
        written: it runs again, in a new session, under locks. A request holding an
        Idempotency-Key runs under locks at once (its answer is stored in the same
        transaction, a second write). When the API key was looked up in the session (a
        cache miss), its transaction is open: the reads and the guarded write run in it,
        as safe, with BEGIN and COMMIT."""
        if not self.is_postgres or self.claim is not None or not self.settings.optimistic_writes:
            return await attempt()
        session = self.session
        optimistic.allow(session)
        try:
            return await attempt()
        except optimistic.Stale:
            OPTIMISTIC_RERUNS.inc()
            await session.close()
            self.opened = None
            return await attempt()

    async def respond(
        self,
        status: int,
        model: WireModel | ErrorBody | WireDict,
        *,
        once: dict[str, Any] | None = None,
    ) -> Response:
        """Answer with `model` (its wire JSON), stored for idempotent replay. A `WireDict`
        is a renderer's object answered without its model (`answer_object`). `once`:
        keys added to this answer only and never stored (a secret shown once)."""
        # Render first: a failure here must roll the change back, not follow a commit.
        if once:
            response: Response = JSONResponse({**_wire_body(model), **once}, status_code=status)
        elif isinstance(model, WireDict):
            response = answer_object(model, status)
        else:
            response = answer(model, status)
        if self.claim is not None:
            idempotency.record(self.session, self.claim, status, _wire_body(model))
        await rows.commit(self.session)  # events and ledger legs, straight to the driver
        return response


def _wire_body(model: WireModel | ErrorBody | WireDict) -> dict[str, Any]:
    """The answer as a JSON object, for a stored replay or a `once` merge: a renderer's
    object as it is, a model's dump (made only then: most answers store nothing)."""
    return model if isinstance(model, WireDict) else model.wire()


def answer(model: WireModel | ErrorBody, status_code: int = 200) -> Response:
    """The model's wire JSON (`wire()`: the keys given, in field order), serialized by
    pydantic-core in one step: the same bytes as JSONResponse(model.wire()) (compact,
    UTF-8 unescaped), without the dict and the json module in between."""
    return Response(
        model.model_dump_json(exclude_unset=True),
        status_code=status_code,
        media_type="application/json",
    )


def answer_object(obj: WireDict, status_code: int = 200) -> Response:
    """A renderer's wire object answered as it is, without its model (pydantic-core
    writes it in one step: the same bytes `answer` gives for the validated model, key
    order included). For the hot reads whose renderer's object is tested against the
    model (payments/render.py: intent_envelope_object)."""
    return Response(to_json(obj), status_code=status_code, media_type="application/json")


async def _open(
    request: Request, principal: Principal | None, scope: str | None, *, replica: bool = False
) -> Ctx:
    """The request's context. The edge closes it once the app has answered
    (api/edge.py, CLOSERS_KEY), whatever happened, also when the claim below
    raises: a plain dependency, not a generator, so FastAPI keeps no exit stack
    and no cancellation shield for it (a few percent of a request)."""
    app = request.app
    # The session the key was looked up in (a cache miss), if any: one checkout.
    session: AsyncSession | None = request.scope.pop(SESSION_KEY, None)
    read_only = request.method in ("GET", "HEAD")
    factory = app.state.read_session_factory if read_only else app.state.session_factory
    replica_factory = getattr(app.state, "replica_session_factory", None)
    if replica and replica_factory is not None and read_only:
        # The key was checked on the primary (a revocation is never missed through lag);
        # the route reads the standby.
        if session is not None:
            await session.close()
        session, factory = None, replica_factory
    ctx = Ctx(
        open_session=factory,
        opened=session,
        principal=principal,
        settings=app.state.settings,
        request_id=request.scope.get(REQUEST_ID_KEY, ""),
        is_postgres=not app.state.settings.is_sqlite,
    )
    request.scope[CLOSERS_KEY].append(ctx.close)  # the edge made the list
    key = None if read_only else request.headers.get("idempotency-key")
    if request.method == "POST" and key is not None and scope is not None:
        mode = principal.mode if principal else "public"
        fingerprint = idempotency.request_fingerprint(
            request.method, request.url.path, request.scope.get(BODY_KEY, b"")
        )
        ctx.claim = await idempotency.claim(
            ctx.session,
            scope=scope,
            mode=mode,
            key=key,
            fingerprint=fingerprint,
            is_postgres=ctx.is_postgres,
        )
    return ctx


def _principal(request: Request) -> Principal:
    principal: Principal | None = request.scope.get(PRINCIPAL_KEY)
    if principal is None:  # a merchant route under /payment-intents/public/, keyless
        raise AuthenticationRequired()
    return principal


def _merchant_principal(request: Request) -> Principal:
    principal = _principal(request)
    if principal.is_operator:
        raise ApiError(
            "This endpoint needs a merchant key",
            code="forbidden",
            status_code=403,
            error_type="authentication_error",
        )
    return principal


def _reader_scope(principal: Principal) -> str:
    """A merchant's own scope, or an operator key's (operators read every merchant)."""
    return principal.merchant_id or f"operator:{principal.key_id}"


@keyed
async def merchant_ctx(
    request: Request,
) -> Ctx:
    """A merchant-key request (the edge middleware has authenticated it; `keyed`
    documents the security schemes)."""
    principal = _merchant_principal(request)
    return await _open(request, principal, principal.merchant_id)


@keyed
async def merchant_or_operator_ctx(
    request: Request,
) -> Ctx:
    """Routes an operator (admin) key may also call, e.g. dispute resolution."""
    principal = _principal(request)
    scope = _reader_scope(principal)
    return await _open(request, principal, scope)


async def public_ctx(request: Request) -> Ctx:
    """A public (no key) request: the intent id is the capability."""
    intent_id = request.path_params.get("intent_id", "")
    return await _open(request, None, f"public:{intent_id}"[:64])


@keyed
async def replica_ctx(
    request: Request,
) -> Ctx:
    """merchant_ctx for list routes that tolerate replica lag: with DATABASE_READ_URL
    set they read the standby (a row written a moment ago may be missing or older)."""
    principal = _merchant_principal(request)
    return await _open(request, principal, principal.merchant_id, replica=True)


@keyed
async def replica_reader_ctx(
    request: Request,
) -> Ctx:
    """merchant_or_operator_ctx for list routes that tolerate replica lag."""
    principal = _principal(request)
    scope = _reader_scope(principal)
    return await _open(request, principal, scope, replica=True)
