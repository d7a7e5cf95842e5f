"""Shared fixtures: offline plans of the committed stacks, computed once per session."""

from __future__ import annotations

import pytest

from infra.plan import Plan, run_plan


@pytest.fixture(scope="session")
def dev_plan() -> Plan:
    return run_plan("dev")


@pytest.fixture(scope="session")
def prod_plan() -> Plan:
    return run_plan("prod")
