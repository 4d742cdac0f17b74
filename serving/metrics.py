"""Prometheus metrics of one API instance, in its own registry.

A registry per app (not prometheus_client's global one) so several apps can live in one
process (tests) and ``/metrics`` shows only what this app recorded.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# Sub-millisecond resolution: the recommendation path is budgeted at a few milliseconds.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5,
)

ENDPOINTS = ("health", "recommendations", "events", "metrics", "other")


class ServingMetrics:
    """Requests and latency by endpoint, degraded answers, events, the served model."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "marquee_http_requests",
            "HTTP requests by endpoint, method and status code.",
            ["endpoint", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "marquee_http_request_duration_seconds",
            "Time from request start to the end of the response body, by endpoint.",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.degraded = Counter(
            "marquee_degraded_responses",
            "Recommendation responses served from a fallback, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.events = Counter(
            "marquee_events",
            "Events received on POST /events, by outcome (accepted, rejected, duplicate).",
            ["outcome"],
            registry=self.registry,
        )
        self.online_push_failures = Counter(
            "marquee_online_push_failures",
            "Accepted events that reached the landing zone but not the online store.",
            registry=self.registry,
        )
        self.model_info = Gauge(
            "marquee_model_info",
            "The model version being served (value 1); version 'none' when there is none.",
            ["version"],
            registry=self.registry,
        )
        self.model_loaded_at = Gauge(
            "marquee_model_loaded_timestamp_seconds",
            "Unix time the served model was loaded.",
            registry=self.registry,
        )
        self.answer_cache = Counter(
            "marquee_answer_cache",
            "Recommendation answers served from the memo (hit) or computed (miss).",
            ["result"],
            registry=self.registry,
        )
        self.model_loads = Counter(
            "marquee_model_loads",
            "Champion load attempts, by outcome (ok, error).",
            ["outcome"],
            registry=self.registry,
        )
        # Pre-create the series a dashboard expects to exist from the first scrape.
        for endpoint in ENDPOINTS:
            self.latency.labels(endpoint)
        for outcome in ("accepted", "rejected", "duplicate"):
            self.events.labels(outcome)
        self.set_model(None)

    def set_model(self, version: str | None, loaded_at: float | None = None) -> None:
        self.model_info.clear()
        self.model_info.labels(version or "none").set(1)
        if loaded_at is not None:
            self.model_loaded_at.set(loaded_at)

    def render(self) -> bytes:
        return generate_latest(self.registry)
