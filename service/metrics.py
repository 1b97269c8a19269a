"""Prometheus metrics of one app instance (its own registry, so tests can make many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("lcad_requests_total", "HTTP requests",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("lcad_request_seconds", "HTTP request latency",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.points = Counter("lcad_points_scored_total", "light-curve points processed",
                              registry=r)
        self.series = Counter("lcad_series_total", "light curves processed", registry=r)
        self.batch_rows = Histogram("lcad_batch_rows", "windows per network call",
                                    buckets=(1, 16, 64, 256, 1024, 4096, 16384), registry=r)
        self.inference = Histogram("lcad_inference_seconds", "seconds per network call",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.load_seconds = Gauge("lcad_model_load_seconds", "seconds the last model load took",
                                  registry=r)
        self.ready = Gauge("lcad_model_ready", "1 when a model is loaded and warm", registry=r)
        self.in_flight = Gauge("lcad_requests_in_flight", "requests being answered (health "
                               "and metrics requests left out)", registry=r)
        self.rejected = Counter("lcad_rejected_total", "requests refused by back-pressure",
                                registry=r)

    def observe_batch(self, rows: int, seconds: float) -> None:
        self.batch_rows.observe(rows)
        self.inference.observe(seconds)
