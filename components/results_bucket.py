"""The stack's results bucket: where workers write one JSON document per request.

Creates: the bucket, default encryption, a public access block, bucket-owner-enforced
ownership (no ACLs), a policy that refuses requests without TLS, and a lifecycle rule that
expires results and aborts incomplete uploads.
Defaults: SSE-S3 encryption; results expire after 30 days (they hold prompts and
completions, which should not live forever).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import _policy
from components._bucket import private_bucket

RESULTS_PREFIX = "results/"
"""Every result lives under ``results/<model>/<id>.json`` (model_server.messages)."""
DEFAULT_EXPIRATION_DAYS = 30
"""Results are for pickup, not archive; a month covers a client that was down a while."""


@dataclass(frozen=True, kw_only=True)
class ResultsBucketArgs:
    expiration_days: int = DEFAULT_EXPIRATION_DAYS
    """Days after which a result is deleted."""
    force_destroy: bool = False
    """Let ``pulumi destroy`` delete a bucket that still holds results (dev stacks only)."""


class ResultsBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    """Escape hatch: the bucket resource."""
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ResultsBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:ResultsBucket", name, None, opts)
        self.bucket = private_bucket(
            name,
            self,
            force_destroy=args.force_destroy,
            expiration_days=args.expiration_days,
            expire_prefix=RESULTS_PREFIX,
        )
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})

    def write_results_policy_json(self, model: str) -> pulumi.Output[str]:
        """IAM policy for one model's worker: write and read its own results only."""
        return self._results_policy(model, ["s3:PutObject", "s3:GetObject"], "WriteResults")

    def read_results_policy_json(self, model: str) -> pulumi.Output[str]:
        """IAM policy for a client of one model: read its results only."""
        return self._results_policy(model, ["s3:GetObject"], "ReadResults")

    def _results_policy(self, model: str, actions: list[str], sid: str) -> pulumi.Output[str]:
        prefix = f"{RESULTS_PREFIX}{model}/"
        return _policy.document(
            _policy.allow(actions, [self.bucket_arn.apply(lambda a: f"{a}/{prefix}*")], sid=sid),
            # Without ListBucket, S3 answers 403 instead of 404 for a result not written yet,
            # and the worker could not tell a new request from a duplicate.
            _policy.allow(
                ["s3:ListBucket"],
                [self.bucket_arn],
                sid="ListOwnResults",
                condition={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            ),
        )
