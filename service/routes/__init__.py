"""The service's routers, one per area: scoring, model, health, the MLflow protocol."""
