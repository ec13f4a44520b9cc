"""What the service does, for operators: Prometheus metrics at ``GET /metrics``.

One :class:`ServiceMetrics` per app, on its own registry (so several apps in one process,
as in the tests, never share counters). The text format is Prometheus' own
(``prometheus-client``); the endpoint is left out of the OpenAPI schema, which describes
JSON answers only.

* ``movierec_http_requests_total{route,method,status}`` and
  ``movierec_http_request_seconds{route,method}``: every request, by route template;
* ``movierec_ratings_stored_total``, ``movierec_rating_batches_rejected_total``;
* ``movierec_fold_ins_total`` and ``movierec_fold_in_seconds``: users folded in from their
  stored ratings;
* ``movierec_run_info{run_id,model,dataset}`` (1 for the serving run),
  ``movierec_reloads_total{outcome}``;
* ``movierec_store_ratings`` and ``movierec_store_last_seq``, read from the store when
  scraped.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from movierec.service.state import ServiceState
    from movierec.store import RatingsStore

__all__ = ["CONTENT_TYPE_LATEST", "RequestMetrics", "ServiceMetrics"]

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]],
                    Callable[[Message], Awaitable[None]]], Awaitable[None]]


class ServiceMetrics:
    """The app's metrics and the registry ``/metrics`` renders."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("movierec_http_requests", "HTTP requests answered.",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("movierec_http_request_seconds", "Time to answer a request.",
                                 ["route", "method"], buckets=_LATENCY_BUCKETS, registry=r)
        self.ratings_stored = Counter("movierec_ratings_stored",
                                      "Ratings stored through the API.", registry=r)
        self.batches_rejected = Counter("movierec_rating_batches_rejected",
                                        "Batches of ratings refused (nothing stored).",
                                        registry=r)
        self.fold_ins = Counter("movierec_fold_ins", "Lists computed by folding a user in "
                                "from stored ratings (cached lists count too).", registry=r)
        self.fold_in_seconds = Histogram("movierec_fold_in_seconds",
                                         "Time to fold a user in from stored ratings.",
                                         buckets=_LATENCY_BUCKETS, registry=r)
        self.run_info = Gauge("movierec_run_info", "The serving run (1).",
                              ["run_id", "model", "dataset"], registry=r)
        self.reloads = Counter("movierec_reloads", "Model reloads, by outcome.", ["outcome"],
                               registry=r)
        for outcome in ("ok", "failed"):
            self.reloads.labels(outcome)
        self._store_ratings = Gauge("movierec_store_ratings", "Ratings in the store.",
                                    registry=r)
        self._store_seq = Gauge("movierec_store_last_seq",
                                "The store's latest write sequence number.", registry=r)

    def serving(self, state: ServiceState) -> None:
        """Label the serving run (the previous label is removed)."""
        self.run_info.clear()
        self.run_info.labels(state.run_id, state.model_name, state.dataset).set(1)

    def watch_store(self, store: RatingsStore) -> None:
        """Read the store's size and latest write when scraped."""
        self._store_ratings.set_function(store.count)
        self._store_seq.set_function(store.last_seq)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request by its route template (the
    path with ``{user_id}``, so the label set stays small)."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)
