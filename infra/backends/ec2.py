"""The EC2 backend: a model on GPU Auto Scaling groups behind the stack's load balancer.

Declares the model's route (target group and listener rule), its fleet (components/ec2/)
and the alarms that watch both, and gives back its dashboard row and exports.
"""

from __future__ import annotations

from components import model_alarms
from components.ec2.dashboard_row import FleetDashboardRow
from components.ec2.gpu_fleet import GpuFleet, GpuFleetArgs, HubWeights, S3Weights
from components.load_balancer import ModelRoute
from components.model_alarms import ModelAlarms
from components.schedule import Schedule
from infra import catalog
from infra.backends import ModelDeployment, ModelRequest, queue_alarms_args, route_args
from infra.config import stack_region
from model_server.engines import ENGINES
from model_server.weights import layout


def build(request: ModelRequest) -> ModelDeployment:
    name, model, config, shared, queue = request.name, request.model, request.config, request.shared, request.queue
    network, results, token, balancer = shared.network, shared.results, shared.token, shared.balancer
    engine = ENGINES[model.engine]
    prefix = request.name_prefix
    route = ModelRoute(name, route_args(request))
    from_s3 = config.weights_source(name) == "s3"
    prefix_ = layout.prefix(model.model_id, model.revision)
    weights: HubWeights | S3Weights = (
        S3Weights(
            bucket=shared.weights.bucket_name,
            prefix=prefix_,
            marker=layout.MARKER,
            read_policy_json=shared.weights.read_policy_json(prefix_),
        )
        if from_s3
        else HubWeights(token_secret_arn=token.secret_arn, token_policy_json=token.read_policy_json)
    )
    # Staged weights land under the model cache at their prefix; the engine loads them there.
    settings = model.engine_settings(
        name, local_path=f"{engine.model_cache_dir}/{prefix_}".rstrip("/") if from_s3 else None
    )
    capacity = model.capacity
    schedule = model.schedule
    assert config.ec2.ami_id is not None  # the config requires it for EC2 models
    fleet_args = GpuFleetArgs(
        model=name,
        name_prefix=prefix,
        engine=engine,
        engine_args=engine.container_args(settings),
        download_args=engine.download_args(settings),
        engine_image=model.engine_image(stack_region()),
        worker_image=config.worker_image,
        ami_id=config.ec2.ami_id,
        instance_types=tuple(model.instance_types),
        weights_gb=catalog.weights_gb(model.shape.parameters_billions, model.quantization.bytes_per_parameter),
        vpc_id=network.vpc_id,
        subnet_ids=network.private_subnet_ids,
        load_balancer_security_group_id=balancer.security_group_id,
        target_group_arn=route.target_group_arn,
        queue_url=queue.queue_url,
        queue_name=queue.queue_name,
        consume_policy_json=queue.consume_policy_json,
        results_bucket=results.bucket_name,
        results_policy_json=results.write_results_policy_json(name),
        weights=weights,
        min_size=capacity.min,
        max_size=capacity.max,
        on_demand_base=capacity.on_demand_base,
        on_demand_fallback_max=capacity.fallback_max,
        warm_pool_size=capacity.warm_pool,
        health_check_grace_seconds=model.health_check_grace_seconds,
        target_backlog_per_instance=model.backlog_target,
        worker_max_in_flight=engine.worker_in_flight(model.max_concurrent_requests),
        schedule=Schedule(off_cron=schedule.off_cron, on_cron=schedule.on_cron, time_zone=schedule.time_zone)
        if schedule
        else None,
        refresh_rollback_alarm_names=list(model_alarms.alarm_names(prefix).values()),
    )
    fleet = GpuFleet(name, fleet_args)
    alarms = ModelAlarms(
        name,
        queue_alarms_args(
            request,
            load_balancer_arn_suffix=balancer.arn_suffix,
            target_group_arn_suffix=route.arn_suffix,
            group_names=[g.name for g in fleet.groups],
            spot_group_name=fleet.spot_group.name if fleet.spot_group is not None else None,
            min_healthy_hosts=capacity.min,
            latency_objective_seconds=model.latency_objective_seconds,
            # Scaling out from zero takes a model load; one generation takes up to its limit.
            slowest_consumer_start_seconds=max(fleet_args.grace_seconds, model.max_generation_seconds),
        ),
    )
    row = FleetDashboardRow(
        name=name,
        load_balancer_arn_suffix=balancer.arn_suffix,
        target_group_arn_suffix=route.arn_suffix,
        queue_name=queue.queue_name,
        dead_letter_queue_name=queue.dead_letter_queue_name,
        on_demand_group_name=fleet.on_demand_group.name,
        spot_group_name=fleet.spot_group.name if fleet.spot_group is not None else None,
        on_demand_usd_per_hour=model.instance_catalog[0].on_demand_usd_per_hour,
    )
    return ModelDeployment(
        alarm_names=alarms.alarm_names,
        dashboard_row=row,
        exports={
            "url": balancer.url(route.path_prefix),
            "autoScalingGroupNames": fleet.group_names,
        },
    )
