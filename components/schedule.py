"""When a model is switched off and on: shared by every backend that scales on a schedule."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TIME_ZONE = "Etc/UTC"
"""Crons without a zone are UTC, as Auto Scaling takes them; named canonically (an alias such
as ``UTC`` is refused by the schedule check)."""


@dataclass(frozen=True, kw_only=True)
class Schedule:
    """Times the model is switched off and on (cron in ``time_zone``), e.g. dev at night."""

    off_cron: str
    on_cron: str
    time_zone: str = DEFAULT_TIME_ZONE
