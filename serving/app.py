"""The recommendations API (SPEC §6): ``create_app(home, settings)``.

Request path of ``GET /recommendations/{user_id}``: the user's online row (one indexed
SQLite read) gives the live recent history → the champion's numpy user tower, exact top-N,
XGBoost ``inplace_predict`` over the candidates with their online title features → top-k
without seen titles, with names. Nothing on it imports or builds a Keras graph, opens Feast
or DuckDB: those happen at start-up and on the background refresher.

Every failure of a dependency turns into a popularity answer with ``degraded: true`` (and a
rate-limited log line, and a metric), never a 500: online store unreadable → the model's
popularity list; model raising → the same; no model at all → the warehouse popularity list
read at start-up (``serving.state``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from marquee.config import MarqueeHome
from marquee.features.names import USER_RECENT_HISTORY
from serving.answers import AnswerCache, row_fingerprint
from serving.events import EventSink, EventsRejected, EventValidator, parse_body
from serving.experiments import ExperimentRouter, ExposureLog, Route
from serving.ids import id_problem
from serving.metrics import ServingMetrics
from serving.online import OnlineAccess, OnlineUnavailable, RequestFeatures, TitleFeatureCache
from serving.settings import ServingSettings
from serving.state import ModelHolder, Poller, Recommender, Served

log = logging.getLogger("marquee.serving")

RECENT_TITLES = f"{USER_RECENT_HISTORY}__recent_titles"
JSON = "application/json"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _endpoint(path: str) -> str:
    if path == "/health":
        return "health"
    if path.startswith("/recommendations/"):
        return "recommendations"
    if path == "/events":
        return "events"
    if path == "/metrics":
        return "metrics"
    return "other"


class MetricsMiddleware:
    """Pure ASGI (no per-request task or body copy, unlike BaseHTTPMiddleware): counts each
    request by endpoint and status and times it to the end of the response body."""

    def __init__(self, app: ASGIApp, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            endpoint = _endpoint(scope["path"])
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
            self.metrics.requests.labels(endpoint, scope["method"], str(status)).inc()


class _RateLimitedWarning:
    """One log line per reason per interval, with how many times it happened meanwhile."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, reason: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(reason, -1e18) < self.interval_s:
                self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
                return
            self._last[reason] = now
            suppressed = self._suppressed.pop(reason, 0)
        suffix = f" (+{suppressed} more since the last report)" if suppressed else ""
        log.warning("degraded answer [%s]: " + message + suffix, reason, *args)


@dataclass
class Answer:
    title_ids: list[str]
    scores: list[float]
    source: str
    degraded_reason: str | None


class ServingContext:
    """Everything one app instance serves from; attached to ``app.state`` (no globals)."""

    def __init__(
        self,
        home: MarqueeHome,
        settings: ServingSettings,
        *,
        loader: Callable[[], Recommender] | None = None,
        online: OnlineAccess | None = None,
    ) -> None:
        self.home = home
        self.settings = settings
        self.metrics = ServingMetrics()
        self.holder = ModelHolder(
            home,
            reload_interval_s=settings.reload_interval_s,
            retry_interval_s=settings.retry_interval_s,
            loader=loader,
            on_change=self._model_changed,
            on_load=lambda outcome: self.metrics.model_loads.labels(outcome).inc(),
            warm_up=_warm_up,
        )
        self.online = online or OnlineAccess(home, retry_interval_s=settings.retry_interval_s)
        self.titles = TitleFeatureCache(settings.title_feature_ttl_s)
        # answers live no longer than the title features they were computed from
        self.answers = AnswerCache(min(settings.answer_cache_ttl_s, settings.title_feature_ttl_s))
        self.validator = EventValidator(settings.max_id_length)
        self.sink = EventSink(home)
        self.experiments = ExperimentRouter(home)
        self.exposures = ExposureLog(home, rotate_s=settings.exposure_rotate_s)
        self.poller = Poller(
            settings.reload_interval_s,
            [self.holder.refresh, self.online.refresh, self.experiments.refresh, self.exposures.rotate],
        )
        self._warn = _RateLimitedWarning()

    def _model_changed(self, served: Served) -> None:
        self.metrics.set_model(served.version, served.loaded_at)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.poller.run_once()  # model and online store ready before the first request
        self.poller.start()

    def stop(self) -> None:
        self.poller.stop()
        self.online.close()
        self.exposures.close()

    # ------------------------------------------------------------------ recommendations
    def answer(self, user_id: str, k: int, route: Route | None = None) -> tuple[Served, Answer]:
        served = self.holder.current  # this request's model, whatever gets promoted meanwhile
        if route is not None and route.model is not None:  # an experiment arm's own version
            served = Served(route.model, route.model.version, served.loaded_at, served.fallback)
        model = served.model
        if model is None:
            reason = f"no model ({self.holder.load_error})"
            self._warn("no_model", "%s", reason)
            return served, self._fallback(served, k, "no_model", frozenset())
        history: list[str] = []
        try:
            reader = self.online.reader()
            row = self.online.user_row(user_id)
            key = (served.version, user_id, k, row_fingerprint(row))
            cached = self.answers.get(key)
            if cached is not None:
                self.metrics.answer_cache.labels("hit").inc()
                return served, cached
            self.metrics.answer_cache.labels("miss").inc()
            history = list(reversed(row.get(RECENT_TITLES) or []))  # stored newest first
            features = RequestFeatures(reader, user_id, row, self.titles)
            rec = model.recommend(user_id, history=history, online=features, k=k)
            if features.error is not None:
                raise OnlineUnavailable(f"online read failed: {features.error!r}")
            answer = Answer(list(rec.title_ids), [float(s) for s in rec.scores], rec.source, None)
            self.answers.put(key, answer)
            return served, answer
        except OnlineUnavailable as exc:
            self._warn("online_store", "%s", exc)
            return served, self._fallback(served, k, "online_store", frozenset(history))
        except Exception as exc:  # a corrupt model must not turn into a 500
            self._warn("model_error", "%s: %s", type(exc).__name__, exc)
            return served, self._fallback(served, k, "model_error", frozenset(history))

    def _fallback(self, served: Served, k: int, reason: str, exclude: frozenset[str]) -> Answer:
        self.metrics.degraded.labels(reason).inc()
        model = served.model
        if model is not None:
            try:
                rec = model.popular(k, exclude=tuple(exclude))
                return Answer(list(rec.title_ids), [float(s) for s in rec.scores], rec.source, reason)
            except Exception as exc:
                self._warn("model_error", "popular() failed: %s: %s", type(exc).__name__, exc)
        top = served.fallback.top(k, exclude)
        return Answer([t for t, _ in top], [s for _, s in top], served.fallback.source, reason)

    def recommendations_body(self, user_id: str, k: int) -> bytes:
        route = self.experiments.route(user_id)
        served, answer = self.answer(user_id, k, route)
        model = served.model
        items = []
        for rank, (title_id, score) in enumerate(zip(answer.title_ids, answer.scores, strict=True), 1):
            name = None
            if model is not None:
                try:
                    name = model.title_name(title_id)
                except Exception:
                    name = None
            if name is None:
                name = served.fallback.names.get(title_id)
            items.append({"title_id": title_id, "title": name, "score": score, "rank": rank})
        body = {
            "user_id": user_id,
            "model_version": served.version,
            "items": items,
            "degraded": answer.degraded_reason is not None,
            "source": answer.source,
        }
        if answer.degraded_reason is not None:
            body["degraded_reason"] = answer.degraded_reason
        if route is not None:
            body["experiment"] = {"name": route.experiment.name, "arm": route.arm.name}
            self.exposures.log(user_id, route, answer.title_ids)
        return json.dumps(body, separators=(",", ":")).encode()

    # ------------------------------------------------------------------ health
    def health(self) -> dict[str, Any]:
        served = self.holder.current
        problems = []
        if served.model is None:
            problems.append(f"no model: {self.holder.load_error}")
        elif self.holder.load_error is not None:
            problems.append(f"champion not loaded, serving {served.version}: {self.holder.load_error}")
        try:
            self.online.reader()
        except OnlineUnavailable as exc:
            problems.append(f"online store: {exc}")
        return {
            "status": "ok",  # the process answers; what it answers with is below
            "model_version": served.version,
            "degraded": bool(problems),
            "problems": problems,
            # a refused experiments file changes nothing that is served: reported apart
            "experiments": {
                "loaded": [e.name for e in self.experiments.experiments],
                "error": self.experiments.error,
            },
        }

    # ------------------------------------------------------------------ events
    def accept_events(self, items: list[Any]) -> dict[str, Any]:
        lines, typed = self.validator.validate(items)
        outcome = self.sink.accept(lines, typed, self.online)
        self.metrics.events.labels("accepted").inc(outcome.accepted - outcome.duplicates)
        if outcome.duplicates:
            self.metrics.events.labels("duplicate").inc(outcome.duplicates)
        if not outcome.online:
            self.metrics.online_push_failures.inc(len(outcome.events))
        body: dict[str, Any] = {
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
            "online": outcome.online,
        }
        if outcome.online_error:
            body["online_error"] = outcome.online_error
        return body


def _warm_up(model: Recommender) -> None:
    """First calls pay for lazy set-up (XGBoost's predictor, numpy buffers): not a user."""
    model.popular(10)
    model.recommend("__marquee_warm_up__", history=None, online=None, k=10)


def _reject(status: int, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"detail": detail, **extra}, status_code=status)


def create_app(
    home: MarqueeHome,
    settings: ServingSettings | None = None,
    *,
    context: ServingContext | None = None,
) -> FastAPI:
    """The ASGI app; model and online store load in its lifespan (before the first request)."""
    settings = settings or ServingSettings()
    ctx = context or ServingContext(home, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(ctx.start)
        try:
            yield
        finally:
            await run_in_threadpool(ctx.stop)

    app = FastAPI(
        title="Marquee recommendations",
        version="1",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.marquee = ctx
    app.add_middleware(MetricsMiddleware, metrics=ctx.metrics)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness plus what is being served: model version and any degradation."""
        return ctx.health()

    @app.get("/recommendations/{user_id:path}")
    async def recommendations(
        user_id: str,
        k: int = Query(settings.default_k, ge=1, le=settings.max_k, description="number of titles"),
    ) -> Response:
        """Top-k titles for one user (cold-start list for unknown users)."""
        problem = id_problem(user_id, settings.max_id_length)
        if problem:
            return _reject(422, f"user_id {problem}")
        return Response(ctx.recommendations_body(user_id, k), media_type=JSON)

    @app.post("/events", status_code=202)
    async def events(request: Request) -> Response:
        """One event object or a list (SPEC §3); all accepted or none."""
        limit = settings.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            ctx.metrics.events.labels("rejected").inc()
            return _reject(413, f"body of {declared} bytes exceeds the limit of {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                ctx.metrics.events.labels("rejected").inc()
                return _reject(413, f"body exceeds the limit of {limit} bytes")
        try:
            items = parse_body(bytes(body), settings.max_events_per_request)
            result = await run_in_threadpool(ctx.accept_events, items)
        except EventsRejected as exc:
            ctx.metrics.events.labels("rejected").inc(max(len(exc.problems), 1))
            return _reject(exc.status, str(exc), rejected=exc.problems)
        return JSONResponse(result, status_code=202)

    @app.get("/metrics")
    def metrics() -> Response:
        """Prometheus text format."""
        return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)

    return app


def app_from_env() -> FastAPI:
    """``uvicorn --factory serving.app:app_from_env``: home and settings from the environment."""
    return create_app(MarqueeHome.from_env(), ServingSettings.from_env())
