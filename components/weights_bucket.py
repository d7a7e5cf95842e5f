"""The stack's weights bucket: each model's pinned revision, copied once from the Hub.

Creates: the bucket, default encryption, a public access block, bucket-owner-enforced
ownership (no ACLs), a policy that refuses requests without TLS, and a lifecycle rule that
aborts uploads a killed copy left half done.
Layout (``model_server.weights.layout``): ``<modelId>/<revision>/`` per model and revision,
complete once its marker is there. Nothing expires: weights stay until
``llm-serving weights prune`` removes revisions the stack no longer uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import _policy
from components._bucket import private_bucket


@dataclass(frozen=True, kw_only=True)
class WeightsBucketArgs:
    force_destroy: bool = False
    """Let ``pulumi destroy`` delete a bucket that still holds weights (dev stacks only)."""


class WeightsBucket(pulumi.ComponentResource):
    bucket: aws.s3.Bucket
    """Escape hatch: the bucket resource."""
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]

    def __init__(self, name: str, args: WeightsBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:WeightsBucket", name, None, opts)
        self.bucket = private_bucket(name, self, force_destroy=args.force_destroy, expiration_days=None)
        self.bucket_name = self.bucket.bucket
        self.bucket_arn = self.bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_arn": self.bucket_arn})

    def read_policy_json(self, prefix: str) -> pulumi.Output[str]:
        """IAM policy: read the objects under ``prefix`` (one model's revision) and list only
        them (``aws s3 cp --recursive`` lists the prefix before it copies)."""
        return _policy.document(
            _policy.allow(["s3:GetObject"], [self.bucket_arn.apply(lambda a: f"{a}/{prefix}*")], sid="ReadWeights"),
            _policy.allow(
                ["s3:ListBucket"],
                [self.bucket_arn],
                sid="ListWeights",
                condition={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
            ),
        )

    def write_policy_json(self) -> pulumi.Output[str]:
        """IAM policy: the stager's rights: read, write and list the whole bucket."""
        return _policy.document(
            _policy.allow(
                ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                [self.bucket_arn.apply(lambda a: f"{a}/*")],
                sid="StageWeights",
            ),
            _policy.allow(["s3:ListBucket", "s3:ListBucketMultipartUploads"], [self.bucket_arn], sid="ListWeights"),
        )
