"""EC2 instance metadata (IMDSv2): who this instance is and whether it is going away.

IMDSv2 only (the launch template requires tokens): a session token is fetched with PUT,
sent with every GET, refreshed before it expires and again whenever a GET answers 401.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime

import httpx

TOKEN_PATH = "/latest/api/token"
INSTANCE_ID_PATH = "/latest/meta-data/instance-id"
ASG_NAME_TAG_PATH = "/latest/meta-data/tags/instance/aws:autoscaling:groupName"
"""Readable when the launch template enables instance metadata tags."""
SPOT_ACTION_PATH = "/latest/meta-data/spot/instance-action"
"""404 normally; {"action": ..., "time": ...} once the 2-minute interruption notice is out."""
REBALANCE_PATH = "/latest/meta-data/events/recommendations/rebalance"
"""404 normally; {"noticeTime": ...} when the instance is at elevated interruption risk."""
LIFECYCLE_STATE_PATH = "/latest/meta-data/autoscaling/target-lifecycle-state"
"""InService, Terminated, Warmed:Stopped, ...; 404 outside an Auto Scaling group."""

_TIMEOUT_SECONDS = 1.0
"""IMDS answers in milliseconds on EC2; off EC2 the address may black-hole packets."""


class MetadataUnavailable(Exception):
    """No instance metadata service answered: not on EC2 (or its IMDS is off)."""


@dataclass(frozen=True)
class InstanceState:
    spot_interruption_notice: bool
    spot_interruption_at: datetime | None
    """When the spot instance will be interrupted (None if the notice has no readable time)."""
    rebalance_recommended: bool
    lifecycle_state: str | None
    """The Auto Scaling target lifecycle state; None outside a group."""


class InstanceMetadata:
    def __init__(self, base_url: str, token_ttl_seconds: int) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=_TIMEOUT_SECONDS)
        self._ttl = token_ttl_seconds
        self._token: str | None = None
        self._token_expires = 0.0

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, path: str) -> str | None:
        """The text at ``path``, or None where it does not exist (404)."""
        response = await self._get(path, await self._session_token())
        if response.status_code == 401:
            # Tokens can be invalidated before their TTL (e.g. IMDS restarted): get another.
            self._token = None
            response = await self._get(path, await self._session_token())
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise MetadataUnavailable(f"GET {path} answered {response.status_code}")
        return response.text

    async def state(self) -> InstanceState:
        spot = await self.get(SPOT_ACTION_PATH)
        rebalance = await self.get(REBALANCE_PATH)
        lifecycle = await self.get(LIFECYCLE_STATE_PATH)
        return InstanceState(
            spot_interruption_notice=spot is not None,
            spot_interruption_at=_spot_time(spot) if spot is not None else None,
            rebalance_recommended=rebalance is not None,
            lifecycle_state=lifecycle.strip() if lifecycle is not None else None,
        )

    async def _get(self, path: str, token: str) -> httpx.Response:
        try:
            return await self._http.get(path, headers={"X-aws-ec2-metadata-token": token})
        except httpx.HTTPError as exc:
            raise MetadataUnavailable(f"GET {path}: {exc!r}") from exc

    async def _session_token(self) -> str:
        if self._token is not None and time.monotonic() < self._token_expires:
            return self._token
        try:
            response = await self._http.put(
                TOKEN_PATH, headers={"X-aws-ec2-metadata-token-ttl-seconds": str(self._ttl)}
            )
        except httpx.HTTPError as exc:
            raise MetadataUnavailable(f"PUT {TOKEN_PATH}: {exc!r}") from exc
        if response.status_code != 200:
            raise MetadataUnavailable(f"PUT {TOKEN_PATH} answered {response.status_code}")
        self._token = response.text
        # Refresh at 80% of the lifetime so a token never expires between two polls.
        self._token_expires = time.monotonic() + 0.8 * self._ttl
        return self._token


def _spot_time(document: str) -> datetime | None:
    """The interruption time of a spot notice; None if the notice is unreadable (then the
    worker drains with its own budget rather than ignoring the notice)."""
    try:
        when = json.loads(document)["time"]
        return datetime.fromisoformat(when.replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
