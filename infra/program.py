"""The Pulumi program: a table of contents. Load config, build the shared parts, build each
model, export. No raw resources here: components declare them, this file maps the
validated config onto their Args."""

from __future__ import annotations

import pulumi

from components.model_token import ModelToken, ModelTokenArgs
from components.network import Network, NetworkArgs
from components.request_queue import RequestQueue, RequestQueueArgs
from components.results_bucket import RESULTS_PREFIX, ResultsBucket, ResultsBucketArgs
from infra.config import (
    HUGGING_FACE_TOKEN_KEY,
    NAMESPACE,
    ModelConfig,
    NetworkConfig,
    StackConfig,
    load_stack_config,
)


def network_args(config: NetworkConfig) -> NetworkArgs:
    if config.existing is not None:
        return NetworkArgs(
            existing_vpc_id=config.existing.vpc_id,
            existing_private_subnet_ids=tuple(config.existing.private_subnet_ids),
            existing_public_subnet_ids=tuple(config.existing.public_subnet_ids),
            interface_endpoints=(),
        )
    return NetworkArgs(
        cidr=str(config.cidr),
        availability_zone_count=config.availability_zones,
        nat_gateways=config.nat_gateways,
        interface_endpoints=tuple(config.interface_endpoints),
    )


def request_queue_args(model: ModelConfig) -> RequestQueueArgs:
    return RequestQueueArgs(
        visibility_timeout_seconds=model.queue.visibility_timeout_seconds,
        max_receive_count=model.queue.max_receive_count,
        retention_seconds=model.queue.retention_seconds,
    )


def build(config: StackConfig) -> dict[str, object]:
    """Declare the whole stack; returns what the stack exports."""
    network = Network("network", network_args(config.network))
    results = ResultsBucket("results", ResultsBucketArgs(
        expiration_days=config.results.expiration_days,
        # Dev stacks can be torn down with their results; production keeps them.
        force_destroy=not config.production,
    ))
    token = ModelToken("hf-token", ModelTokenArgs(
        token=pulumi.Config(NAMESPACE).get_secret(HUGGING_FACE_TOKEN_KEY)))
    models: dict[str, dict[str, object]] = {}
    for name, model in config.models.items():
        queue = RequestQueue(name, request_queue_args(model))
        models[name] = {
            "queueUrl": queue.queue_url,
            "deadLetterQueueUrl": queue.dead_letter_queue_url,
            "resultsPrefix": results.bucket_name.apply(
                lambda bucket, name=name: f"s3://{bucket}/{RESULTS_PREFIX}{name}/"),
        }
    return {
        "vpcId": network.vpc_id,
        "privateSubnetIds": network.private_subnet_ids,
        "resultsBucket": results.bucket_name,
        "huggingFaceTokenSecretArn": token.secret_arn,
        "models": models,
    }


def main() -> None:
    config = load_stack_config()
    for key, value in build(config).items():
        pulumi.export(key, value)
