"""Service settings from the environment (prefix LCAD_); no work at import time."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from lcad.service.schemas import LookFor


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LCAD_", extra="ignore")

    model_uri: str | None = Field(None, description="bundle path, models:/name@alias or runs:/")
    model_name: str | None = Field(None, description="name reported when the URI has none")
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated; empty = no authentication")
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    max_points_per_series: int = Field(1_000_000, ge=1)
    max_series_per_request: int = Field(1000, ge=1)
    request_timeout_s: float = Field(30.0, gt=0)
    max_batch_rows: int = Field(4096, ge=1, description="windows per network call")
    max_wait_ms: float = Field(2.0, ge=0, description="how long a batch waits for company")
    stream_batches: int = Field(
        2, ge=0, description="score a request in groups of this many network batches of "
        "points, freeing each group's memory before the next (bounds the RSS under load; "
        "0 = the whole request at once: about twice the memory, no faster; docs/reliability.md)")
    max_queue: int = Field(256, ge=1, description="requests waiting for the network; then 503")
    warmup: bool = True
    look_for: LookFor | None = Field(
        None, description="the point score the served model answers with unless a request "
        "asks otherwise (`Detector.looking_for`): events (the residual scan) or shapes "
        "(novelty); unset: the model's own. A model that cannot give it is not served")
    catalogue: str | None = Field(
        None, description="light curves (a file or folder, as `lcad score --data`) scored at "
        "start-up for the viewer (/ui), /v1/catalogue, /v1/similar and /v1/labels")
    labels_path: str | None = Field(
        None, description="SQLite file of the catalogue's labels (default: beside the "
        "catalogue, <name>.labels.db)")
    poll_seconds: float = Field(
        0.0, ge=0, description="every N s, reload when the registry alias (or the local bundle) "
        "points to a new model, or when the last load failed; 0 = off")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value
