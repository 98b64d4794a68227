"""The monitor app (FastAPI) and a server that runs it with uvicorn in this process."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis
import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..state import StateStore
from ..state.users import UserStore
from . import api_auth, api_campaigns
from .auth import authenticate, load_users_file
from .config import MonitorConfig
from .deps import Ctx, MonitorContext
from .limits import BodyLimit, method_label
from .live import EventHub
from .metrics import MonitorMetrics

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "style-src 'self'; script-src 'self'; frame-ancestors 'none'",
}


class HeadersAndCounts:
    """Security headers on every response, and the request counter by method and status.

    Plain ASGI: a ``BaseHTTPMiddleware`` would read the body in a task group, and the body
    limit's 413 would reach FastAPI wrapped in an exception group (answered as a 400)."""

    def __init__(self, app: ASGIApp, metrics: MonitorMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
                self.metrics.requests.labels(method_label(scope["method"]),
                                             str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(config: MonitorConfig, store: StateStore | None = None) -> FastAPI:
    """The monitor for ``config``; pass ``store`` to share a connection (it is not closed)."""
    own = store is None
    if store is None:
        store = StateStore.connect(config.redis_url, config.redis_prefix,
                                   password=config.redis_password())
    users = UserStore(store)
    if config.users_file:
        load_users_file(users, config.users_file)
    ctx = MonitorContext(config, store, users, EventHub(store), MonitorMetrics(store))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.hub.start()
        try:
            yield
        finally:
            ctx.hub.close()
            if own:
                ctx.store.close()

    app = FastAPI(title="microscope-autopilot monitor", version="1",
                  description="Follow and steer autonomous microscopy campaigns "
                              "(docs/monitor.md).",
                  lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.ctx = ctx
    app.include_router(api_auth.router)
    app.include_router(api_campaigns.router)

    # An oversized body is refused before any route sees it; the refusal is counted too.
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(HeadersAndCounts, metrics=ctx.metrics)

    @app.exception_handler(redis.RedisError)
    async def store_unavailable(request: Request, exc: redis.RedisError) -> JSONResponse:
        # Redis down or not up yet: say so and when to retry, not a bare 500
        return JSONResponse({"detail": "the state store (Redis) is unavailable; try again "
                             "when it is back"}, status_code=503, headers={"Retry-After": "5"})

    @app.get("/metrics", include_in_schema=True, tags=["metrics"],
             summary="Prometheus metrics: campaigns, loop and the monitor itself")
    def metrics(request: Request, c: Ctx) -> Response:
        if not c.config.metrics_public and authenticate(c.users, request) is None:
            raise HTTPException(401, "metrics need a token (or metrics_public = true)",
                                headers={"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(c.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", tags=["metrics"], summary="Liveness: is Redis answering")
    def healthz(c: Ctx) -> dict[str, Any]:
        try:
            ok = c.store.ping()
        except redis.RedisError:
            ok = False
        if not ok:
            raise HTTPException(503, "state store unavailable")
        return {"ok": True, "live_clients": c.hub.clients}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> FileResponse:
        """The API reference, drawn from /api/openapi.json by a script of ours: no CDN, so it
        works on a facility network without internet access."""
        return FileResponse(STATIC / "api-docs.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class MonitorServer:
    """Serves the app with uvicorn on ``config.bind``; :meth:`run` blocks, :meth:`stop` ends it
    (live streams are closed first, so shutdown does not wait on open pages)."""

    def __init__(self, config: MonitorConfig, store: StateStore | None = None) -> None:
        self.config = config
        self.app = create_app(config, store)
        host, port = config.host_port
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host=host, port=port, log_config=None, access_log=False,
            timeout_graceful_shutdown=3, lifespan="on",
            # X-Forwarded-For is read by auth.client_address, from trusted_proxies only;
            # uvicorn's own reading would trust any loopback peer.
            proxy_headers=False, server_header=False))
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return bool(self.server.started)

    @property
    def url(self) -> str:
        host, port = self.config.host_port
        if self.server.started and self.server.servers:
            port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://{host}:{port}"

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        self.server.run()

    def start_in_thread(self, timeout: float = 30.0) -> MonitorServer:
        """Run in a daemon thread (uvicorn leaves signals alone there); wait until serving."""
        self._thread = threading.Thread(target=self.server.run, name="monitor", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"monitor did not start on {self.config.bind}")
            self._thread.join(0.02)
        return self

    def stop(self) -> None:
        ctx: MonitorContext = self.app.state.ctx
        ctx.hub.close()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
