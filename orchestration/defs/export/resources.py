"""The ERP endpoint resource: URL and token from the environment, retry bounds as config.

``STOCKPILOT_ERP_URL`` (base URL, e.g. ``https://erp.example.com/api/stockpilot/v1``) and
``STOCKPILOT_ERP_TOKEN`` (bearer token) are passed as ``dg.EnvVar``s, so Dagster stores and shows
only the variables' names, never their values. Without a URL the resource is "not configured"
and the export asset writes files only. The plain client lives in ``orchestration.erp.client``.
"""

import logging
import os
from typing import Any

import dagster as dg
from pydantic import Field

from orchestration.erp.client import MASK, ErpClient, RetryPolicy

URL_ENV = "STOCKPILOT_ERP_URL"
TOKEN_ENV = "STOCKPILOT_ERP_TOKEN"


class ErpEndpoint(dg.ConfigurableResource):
    """The ERP's REST endpoint for plan lines (see docs/erp-export.md for the contract)."""

    url: str = Field(default="", description=f"Base URL; from {URL_ENV}. Empty = no push.")
    token: str = Field(default="", description=f"Bearer token; from {TOKEN_ENV}. Never logged.")
    timeout_seconds: float = Field(default=10.0, description="Per request (connect + answer).")
    max_attempts: int = Field(default=5, description="Attempts per line and run (first included).")
    backoff_base_seconds: float = Field(default=0.5, description="First backoff ceiling.")
    backoff_max_seconds: float = Field(default=30.0, description="Largest backoff ceiling.")
    max_line_seconds: float = Field(default=120.0, description="Time budget of one line.")
    max_push_seconds: float = Field(default=900.0, description="Time budget of the whole push.")
    max_consecutive_failures: int = Field(
        default=3, description="Lines in a row that exhaust their retries before the push stops."
    )

    def __repr_args__(self) -> Any:
        # pydantic's repr would print the resolved token: mask it
        for name, value in super().__repr_args__():
            yield name, (MASK if name == "token" and value else value)

    @property
    def configured(self) -> bool:
        """True when a URL is set (the push runs)."""
        return bool(self.url.strip())

    def policy(self) -> RetryPolicy:
        return RetryPolicy(
            timeout_seconds=self.timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_max_seconds=self.backoff_max_seconds,
            max_line_seconds=self.max_line_seconds,
            max_push_seconds=self.max_push_seconds,
            max_consecutive_failures=self.max_consecutive_failures,
        )

    def client(self, logger: logging.Logger | None = None) -> ErpClient:
        """A client for this endpoint (raises ``ErpConfigError`` on a bad URL; token masked)."""
        return ErpClient(self.url, self.token, self.policy(), logger=logger)


def erp_endpoint_from_env() -> ErpEndpoint:
    """The resource as the environment configures it (read when the Definitions are built).

    Both values are handed over as ``dg.EnvVar`` so they are resolved at run launch and never
    stored in the run's config or snapshot. No URL: an unconfigured endpoint (files only).
    """
    if not os.environ.get(URL_ENV, "").strip():
        return ErpEndpoint()
    token: Any = dg.EnvVar(TOKEN_ENV) if os.environ.get(TOKEN_ENV) else ""
    return ErpEndpoint(url=dg.EnvVar(URL_ENV), token=token)
