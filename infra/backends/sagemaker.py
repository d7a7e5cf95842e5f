"""The SageMaker backend: a model on a SageMaker real-time endpoint, its queue served by the
worker on ECS Fargate.

Declares the endpoint (components/sagemaker/endpoint.py), the alarms on it, the worker
service, and the queue's alarms, and gives back the model's dashboard row and exports
(the endpoint's name, for synchronous callers and the rollout check).
"""

from __future__ import annotations

import pulumi

from components.model_alarms import ModelAlarms
from components.sagemaker import alarms as endpoint_alarms
from components.sagemaker.alarms import EndpointAlarms, EndpointAlarmsArgs
from components.sagemaker.dashboard_row import EndpointDashboardRow
from components.sagemaker.endpoint import (
    DeploymentPolicy,
    SageMakerEndpoint,
    SageMakerEndpointArgs,
)
from components.sagemaker.worker_service import QueueWorkerService, QueueWorkerServiceArgs
from components.schedule import Schedule
from infra.backends import ModelDeployment, ModelRequest, queue_alarms_args
from infra.config import sagemaker_endpoint_name, stack_region
from model_server.engines import ENGINES, sagemaker_environment
from model_server.weights import layout


def build(request: ModelRequest) -> ModelDeployment:
    name, model, config, shared, queue = request.name, request.model, request.config, request.shared, request.queue
    sm = model.sagemaker_settings
    engine = ENGINES[model.engine]
    instance = model.sagemaker_instance
    prefix_ = layout.prefix(model.model_id, model.revision)
    capacity, schedule = model.capacity, model.schedule
    endpoint = SageMakerEndpoint(
        name,
        SageMakerEndpointArgs(
            model=name,
            name_prefix=request.name_prefix,
            endpoint_name=sagemaker_endpoint_name(pulumi.get_stack(), name, instance.name),
            image=model.engine_image(stack_region()),
            environment=sagemaker_environment(engine, model.engine_settings(name)),
            weights_s3_uri=shared.weights.bucket_name.apply(lambda b: layout.s3_uri(b, model.model_id, model.revision)),
            weights_read_policy_json=shared.weights.read_policy_json(prefix_),
            instance_type=instance.name,
            min_instances=capacity.min,
            max_instances=capacity.max,
            startup_timeout_seconds=model.sagemaker_startup_timeout_seconds,
            download_timeout_seconds=model.sagemaker_download_timeout_seconds,
            inference_ami_version=model.sagemaker_inference_ami(),
            vpc_id=shared.network.vpc_id,
            subnet_ids=shared.network.private_subnet_ids,
            deployment=DeploymentPolicy(
                strategy=sm.deployment.strategy,
                step_percent=sm.deployment.step_percent,
                wait_seconds=sm.deployment.wait_seconds,
                bake_seconds=sm.deployment.bake_seconds,
                max_seconds=sm.deployment.max_seconds,
            ),
            rollback_alarm_names=list(endpoint_alarms.alarm_names(request.name_prefix).values()),
            target_concurrent_requests=model.sagemaker_target_concurrent_requests,
            queue_name=queue.queue_name,
            target_backlog_per_instance=model.backlog_target,
            schedule=Schedule(off_cron=schedule.off_cron, on_cron=schedule.on_cron, time_zone=schedule.time_zone)
            if schedule
            else None,
        ),
    )
    watch = EndpointAlarms(
        name,
        EndpointAlarmsArgs(
            model=name,
            name_prefix=request.name_prefix,
            alarm_topic_arn=shared.topic.topic_arn,
            endpoint_name=endpoint.endpoint_name,
            variant_name=endpoint.variant_name,
            # Off-hours keep one instance: a schedule must not page every night.
            min_instances=1 if schedule else capacity.min,
            latency_objective_seconds=model.latency_objective_seconds,
        ),
    )
    per_instance = engine.worker_in_flight(model.max_concurrent_requests)
    worker = QueueWorkerService(
        name,
        QueueWorkerServiceArgs(
            model=name,
            name_prefix=request.name_prefix,
            worker_image=config.worker_image,
            environment={
                "WORKER_QUEUE_URL": queue.queue_url,
                "WORKER_RESULTS_BUCKET": shared.results.bucket_name,
                "WORKER_MODEL": name,
                "WORKER_ENGINE": "sagemaker",
                "WORKER_ENDPOINT_NAME": endpoint.endpoint_name,
                "WORKER_MAX_IN_FLIGHT_PER_INSTANCE": str(per_instance),
                "WORKER_MAX_IN_FLIGHT": str(per_instance * capacity.max),
                # CloudWatch Logs turns the worker's metric documents into metrics.
                "WORKER_EMF_ENDPOINT": "stdout",
            },
            task_policies={
                "queue": queue.consume_policy_json,
                "results": shared.results.write_results_policy_json(name),
                "endpoint": endpoint.invoke_policy_json,
            },
            vpc_id=shared.network.vpc_id,
            subnet_ids=shared.network.private_subnet_ids,
            tasks=sm.worker_tasks,
        ),
    )
    queue_alarms = ModelAlarms(
        name,
        queue_alarms_args(
            request,
            load_balancer_arn_suffix=None,
            target_group_arn_suffix=None,
            # The endpoint is always up; one generation is the longest a receive may wait.
            slowest_consumer_start_seconds=model.max_generation_seconds,
        ),
    )
    row = EndpointDashboardRow(
        name=name,
        endpoint_name=endpoint.endpoint_name,
        variant_name=endpoint.variant_name,
        queue_name=queue.queue_name,
        dead_letter_queue_name=queue.dead_letter_queue_name,
    )
    return ModelDeployment(
        alarm_names=pulumi.Output.all(queue_alarms.alarm_names, watch.alarm_names).apply(lambda v: [*v[0], *v[1]]),
        dashboard_row=row,
        exports={
            "endpointName": endpoint.endpoint_name,
            "endpointConfigName": endpoint.config_name,
            "invokePolicy": endpoint.invoke_policy_json,
            "workerService": worker.service_name,
        },
    )
