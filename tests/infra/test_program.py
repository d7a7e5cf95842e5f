"""The whole program, as `pulumi up -s dev|prod` would run it, under the offline plan."""

from __future__ import annotations

import json
from collections import Counter

from infra.plan import Plan, run_plan


def counts(plan: Plan) -> Counter[str]:
    return Counter(r.type for r in plan.resources)


def test_dev_declares_network_queue_bucket_and_secret(dev_plan: Plan) -> None:
    c = counts(dev_plan)
    assert c["llm-serving:aws:Network"] == 1
    assert c["aws:ec2/vpc:Vpc"] == 1
    assert c["aws:ec2/subnet:Subnet"] == 4
    assert c["aws:ec2/natGateway:NatGateway"] == 1
    assert c["llm-serving:aws:RequestQueue"] == 1
    assert c["aws:sqs/queue:Queue"] == 2
    assert c["aws:s3/bucket:Bucket"] == 3  # results, weights and load-balancer access logs
    assert c["aws:secretsmanager/secret:Secret"] == 1


def test_dev_skips_interface_endpoints_to_save_cost(dev_plan: Plan) -> None:
    endpoints = dev_plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    assert [e.input("vpcEndpointType") for e in endpoints] == ["Gateway"]


def test_prod_spans_three_azs_with_a_nat_per_az(prod_plan: Plan) -> None:
    c = counts(prod_plan)
    assert c["aws:ec2/subnet:Subnet"] == 6
    assert c["aws:ec2/natGateway:NatGateway"] == 3
    azs = {s.input("availabilityZone") for s in prod_plan.of_type("aws:ec2/subnet:Subnet")}
    assert azs == {"us-east-1a", "us-east-1b", "us-east-1c"}


def test_prod_has_a_queue_and_dead_letter_queue_per_model(prod_plan: Plan) -> None:
    names = sorted(q.name for q in prod_plan.of_type("aws:sqs/queue:Queue"))
    assert names == ["assist-dlq", "assist-queue", "chat-dlq", "chat-queue", "summarize-dlq", "summarize-queue"]
    assert sorted(prod_plan.outputs["models"]) == ["assist", "chat", "summarize"]


def test_prod_keeps_results_on_destroy_and_dev_does_not(dev_plan: Plan, prod_plan: Plan) -> None:
    assert prod_plan.named("aws:s3/bucket:Bucket", "results-bucket").input("forceDestroy") is False
    assert dev_plan.named("aws:s3/bucket:Bucket", "results-bucket").input("forceDestroy") is True


def test_prod_uses_every_interface_endpoint(prod_plan: Plan) -> None:
    services = {
        e.input("serviceName").rsplit(".", 1)[-1]
        if "ecr" not in e.input("serviceName")
        else e.input("serviceName").split("us-east-1.")[1]
        for e in prod_plan.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    }
    assert {"sqs", "secretsmanager", "autoscaling", "ecr.dkr", "s3"} <= services


def test_exports_the_staging_project_and_the_policy_to_start_it(dev_plan: Plan) -> None:
    outputs = dev_plan.outputs
    assert outputs["weightsStagingProject"] == "llm-dev-weights-staging"
    policy = json.loads(outputs["weightsStagingStartPolicy"])
    [run, logs] = policy["Statement"]
    assert run["Action"] == ["codebuild:BatchGetBuilds", "codebuild:StartBuild"]
    assert run["Resource"] == [
        dev_plan.named("aws:codebuild/project:Project", "weights-staging-project").outputs["arn"]
    ]
    assert logs["Action"] == ["logs:GetLogEvents"]


def test_a_worker_image_outside_ecr_exports_no_staging() -> None:
    plan = run_plan("dev", overrides={"llm-serving:workerImage": "ghcr.io/acme/llm-serving-worker:0.1.0"})
    assert not plan.of_type("aws:codebuild/project:Project")
    assert not {"weightsStagingProject", "weightsStagingStartPolicy"} & set(plan.outputs)


def test_exports_what_clients_need(dev_plan: Plan) -> None:
    outputs = dev_plan.outputs
    assert set(outputs) >= {"vpcId", "resultsBucket", "weightsBucket", "huggingFaceTokenSecretArn", "models"}
    chat = outputs["models"]["chat"]
    assert chat["queueUrl"].startswith("https://sqs.us-east-1.amazonaws.com/123456789012/chat-queue-")
    assert chat["resultsPrefix"].endswith("/results/chat/")
