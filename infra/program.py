"""The Pulumi program: a table of contents. Load config, build the shared parts, build each
model, export. No raw resources here: components declare them, this file maps the
validated config onto their Args."""

from __future__ import annotations

import hashlib

import pulumi

from components import _ecr
from components.alarm_topic import AlarmTopic, AlarmTopicArgs
from components.dashboard import DashboardRow, StackDashboard, StackDashboardArgs, dashboard_name
from components.load_balancer import ModelLoadBalancer, ModelLoadBalancerArgs
from components.model_alarms import LoadBalancerAlarms, LoadBalancerAlarmsArgs
from components.model_token import ModelToken, ModelTokenArgs
from components.network import Network, NetworkArgs
from components.request_queue import RequestQueue, RequestQueueArgs
from components.results_bucket import RESULTS_PREFIX, ResultsBucket, ResultsBucketArgs
from components.weights_bucket import WeightsBucket, WeightsBucketArgs
from components.weights_staging import WeightsStaging, WeightsStagingArgs
from infra import preflight
from infra.backends import ModelRequest, SharedStack, backends
from infra.config import (
    HUGGING_FACE_TOKEN_KEY,
    NAMESPACE,
    ConfigError,
    ModelConfig,
    NetworkConfig,
    StackConfig,
    load_stack_config,
)
from infra.policies import PRODUCTION_TAG, PUBLIC_TAG
from model_server.weights import layout

RULE_PRIORITIES = 50000
"""ALB listener rule priorities run from 1 to 50000."""


_SHARED_COMPONENTS = {
    "network": "network",
    "models": "loadBalancer",
    "results": "results",
    "weights": "models",
    "weights-staging": "workerImage",
    "hf-token": HUGGING_FACE_TOKEN_KEY,
    "alarms": "alerts",
    "stack": "models",
    "eks": "eks",
    "keda": "eks.keda",
}
"""The config section behind each shared component (by its name in ``build``); every other
top-level component is named after a model."""


def config_key_of(component: str) -> str:
    """The stack config key whose entries a top-level component was built from."""
    return f"{NAMESPACE}:{_SHARED_COMPONENTS.get(component, f'models.{component}')}"


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


def rule_priorities(names: list[str]) -> dict[str, int]:
    """A listener-rule priority per model, from its name: stable when models are added,
    removed or reordered (an index would shift every rule after it)."""
    priorities = {n: 1 + int(hashlib.sha256(n.encode()).hexdigest(), 16) % RULE_PRIORITIES for n in names}
    clashes = sorted(n for n in names if list(priorities.values()).count(priorities[n]) > 1)
    if clashes:
        raise ConfigError(
            [
                f"{NAMESPACE}:models: {' and '.join(clashes)} get the same load-balancer "
                "rule priority; rename one of them"
            ]
        )
    return priorities


def stack_prefix() -> str:
    return f"llm-{pulumi.get_stack()}-"


def name_prefix(model: str) -> str:
    return f"{stack_prefix()}{model}-"


def build(config: StackConfig) -> dict[str, object]:
    """Declare the whole stack; returns what the stack exports."""
    # What only the account can answer, before anything is declared.
    preflight.check(config)
    network = Network("network", network_args(config.network))
    results = ResultsBucket(
        "results",
        ResultsBucketArgs(
            expiration_days=config.results.expiration_days,
            # Dev stacks can be torn down with their results; production keeps them.
            force_destroy=not config.production,
        ),
    )
    # Dev stacks can be torn down with their weights; production keeps them.
    weights = WeightsBucket("weights", WeightsBucketArgs(force_destroy=not config.production))
    token_value = pulumi.Config(NAMESPACE).get_secret(HUGGING_FACE_TOKEN_KEY)
    token = ModelToken("hf-token", ModelTokenArgs(token=token_value))
    # The task that copies weights inside AWS runs the stager from the worker image, which
    # CodeBuild can pull only from ECR; elsewhere staging runs where the command is run.
    staging = (
        WeightsStaging(
            "weights-staging",
            WeightsStagingArgs(
                name_prefix=stack_prefix(),
                worker_image=config.worker_image,
                bucket_name=weights.bucket_name,
                bucket_write_policy_json=weights.write_policy_json(),
                token_secret_arn=token.secret_arn if token_value is not None else None,
            ),
        )
        if _ecr.is_ecr_image(config.worker_image)
        else None
    )
    topic = AlarmTopic("alarms", AlarmTopicArgs(emails=tuple(config.alerts.emails)))
    lb_config = config.load_balancer
    balancer = ModelLoadBalancer(
        "models",
        ModelLoadBalancerArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids if lb_config.internal else network.public_subnet_ids,
            allowed_cidrs=(
                [str(c) for c in lb_config.allowed_cidrs]
                if lb_config.allowed_cidrs
                else network.vpc_cidr.apply(lambda c: [c])
            ),
            internal=lb_config.internal,
            certificate_arn=lb_config.certificate_arn,
            idle_timeout_seconds=lb_config.idle_timeout_seconds,
            enable_deletion_protection=config.production,
            force_destroy_logs=not config.production,
            # Production and intended public exposure, for the policy rules (infra/policies.py).
            tags={
                PRODUCTION_TAG: str(config.production).lower(),
                **({PUBLIC_TAG: "public"} if not lb_config.internal else {}),
            },
        ),
    )
    LoadBalancerAlarms(
        "models",
        LoadBalancerAlarmsArgs(
            name_prefix=stack_prefix(), alarm_topic_arn=topic.topic_arn, load_balancer_arn_suffix=balancer.arn_suffix
        ),
    )
    priorities = rule_priorities(list(config.models))
    shared = SharedStack(network, results, weights, token, topic, balancer)
    models: dict[str, dict[str, object]] = {}
    rows: list[DashboardRow] = []
    for name, model in config.models.items():
        request = ModelRequest(
            name=name,
            model=model,
            config=config,
            shared=shared,
            queue=RequestQueue(name, request_queue_args(model)),
            name_prefix=name_prefix(name),
            rule_priority=priorities[name],
        )
        models[name], row = build_model(request)
        rows.append(row)
    dashboard = StackDashboard("stack", StackDashboardArgs(models=rows, name=dashboard_name(pulumi.get_stack())))
    return {
        "vpcId": network.vpc_id,
        "privateSubnetIds": network.private_subnet_ids,
        "resultsBucket": results.bucket_name,
        "weightsBucket": weights.bucket_name,
        **(
            {"weightsStagingProject": staging.project_name, "weightsStagingStartPolicy": staging.start_policy_json}
            if staging is not None
            else {}
        ),
        "huggingFaceTokenSecretArn": token.secret_arn,
        "alarmTopicArn": topic.topic_arn,
        "dashboard": dashboard.dashboard_name,
        "endpoint": balancer.url(),
        "models": models,
    }


def build_model(request: ModelRequest) -> tuple[dict[str, object], DashboardRow]:
    """One model: its backend's compute, and the queue's and backend's exports."""
    name, model, queue, results = request.name, request.model, request.queue, request.shared.results
    deployment = backends()[model.backend](request)
    return {
        **deployment.exports,
        "queueUrl": queue.queue_url,
        "deadLetterQueueUrl": queue.dead_letter_queue_url,
        "resultsPrefix": results.bucket_name.apply(lambda bucket: f"s3://{bucket}/{RESULTS_PREFIX}{name}/"),
        "producePolicy": queue.produce_policy_json,
        "alarmNames": deployment.alarm_names,
        "weights": weights_output(request.config.weights_source(name), model, request.shared.weights),
    }, deployment.dashboard_row


def weights_output(source: str, model: ModelConfig, weights: WeightsBucket) -> dict[str, object]:
    """Where the model's weights come from, for the plan and the stager."""
    if source == "s3":
        uri: object = weights.bucket_name.apply(lambda b: layout.s3_uri(b, model.model_id, model.revision))
    else:
        uri = f"{layout.HUB_URL}/{model.model_id}/tree/{model.revision}"
    return {"source": source, "uri": uri}


def main() -> None:
    config = load_stack_config()
    for key, value in build(config).items():
        pulumi.export(key, value)
