"""The interface endpoints the network creates by default are ones AWS offers."""

from __future__ import annotations

from components.network import DEFAULT_INTERFACE_ENDPOINTS
from infra.endpoint_services import INTERFACE_ENDPOINT_SERVICES


def test_default_interface_endpoints_are_services_aws_offers_as_interface_endpoints() -> None:
    unknown = set(DEFAULT_INTERFACE_ENDPOINTS) - INTERFACE_ENDPOINT_SERVICES
    assert unknown == set()


def test_service_names_are_the_part_after_the_region() -> None:
    # "com.amazonaws.<region>.<name>": a full name or a Region pasted in would never match.
    assert INTERFACE_ENDPOINT_SERVICES
    assert not any(n.startswith(("com.", "aws.")) or "us-east-1" in n for n in INTERFACE_ENDPOINT_SERVICES)
