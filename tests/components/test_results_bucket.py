"""ResultsBucket: encrypted, private, TLS only, expiring; and ModelToken: never in plain text."""

from __future__ import annotations

import json

import pulumi

from components.model_token import ModelToken, ModelTokenArgs
from components.results_bucket import ResultsBucket, ResultsBucketArgs
from infra.plan import SECRET, run_program


def test_results_bucket_is_encrypted_private_and_tls_only() -> None:
    plan = run_program(lambda: ResultsBucket("results", ResultsBucketArgs()))
    [sse] = plan.of_type("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.input("rules")[0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    [block] = plan.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(
        block.input(k) is True
        for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    [policy] = plan.of_type("aws:s3/bucketPolicy:BucketPolicy")
    [statement] = json.loads(policy.input("policy"))["Statement"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert block.urn in policy.dependencies


def test_results_expire_after_the_configured_days() -> None:
    plan = run_program(lambda: ResultsBucket("results", ResultsBucketArgs(expiration_days=7)))
    [lifecycle] = plan.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    [rule] = lifecycle.input("rules")
    assert rule["expiration"]["days"] == 7
    assert rule["filter"]["prefix"] == "results/"
    assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 1


def test_worker_policy_writes_only_its_models_prefix() -> None:
    captured: dict[str, str] = {}

    def program() -> None:
        bucket = ResultsBucket("results", ResultsBucketArgs())
        bucket.write_results_policy_json("chat").apply(lambda v: captured.__setitem__("p", v))

    run_program(program)
    objects, listing = json.loads(captured["p"])["Statement"]
    [resource] = objects["Resource"]
    assert resource.startswith("arn:aws:s3:::results-bucket-") and resource.endswith("/results/chat/*")
    assert objects["Action"] == ["s3:GetObject", "s3:PutObject"]
    # ListBucket, limited to the prefix: S3 answers 404 rather than 403 for a missing result.
    assert listing["Action"] == ["s3:ListBucket"]
    assert listing["Resource"] == [resource.removesuffix("/results/chat/*")]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["results/chat/*"]}}


def test_token_value_is_a_secret_and_absent_from_the_plan() -> None:
    token = "hf_abcdefghijklmnopqrstuvwxyz0123456789"
    plan = run_program(lambda: ModelToken("hf", ModelTokenArgs(token=pulumi.Output.secret(token))))
    [version] = plan.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert (
        plan.to_json()["resources"][[r.urn for r in plan.resources].index(version.urn)]["inputs"]["secretString"]
        == SECRET
    )
    assert token not in plan.json_text()


def test_token_secret_exists_without_a_value_when_none_is_given() -> None:
    plan = run_program(lambda: ModelToken("hf", ModelTokenArgs()))
    assert len(plan.of_type("aws:secretsmanager/secret:Secret")) == 1
    assert plan.of_type("aws:secretsmanager/secretVersion:SecretVersion") == []
