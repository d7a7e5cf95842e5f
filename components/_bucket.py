"""A private S3 bucket, as every bucket of the stack is made: one way, one place."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pulumi
import pulumi_aws as aws

from components import _policy


def private_bucket(
    base: str,
    parent: pulumi.Resource,
    *,
    force_destroy: bool,
    expiration_days: int | None,
    expire_prefix: str = "",
    allow: Callable[[pulumi.Output[str]], Sequence[_policy.Statement]] = lambda _arn: (),
) -> aws.s3.Bucket:
    """An S3 bucket with SSE-S3 encryption, every public access blocked, no ACLs
    (bucket-owner-enforced), a policy that refuses requests without TLS (plus the statements
    ``allow`` makes from the bucket's ARN), and a lifecycle that aborts stale uploads and,
    unless ``expiration_days`` is None, expires objects under ``expire_prefix``.

        SSE-S3 rather than KMS: ALB access logs support only SSE-S3, and one kind of bucket is
        simpler to reason about. Children are named ``<base>-bucket``, ``<base>-encryption``, ...
    """
    child = pulumi.ResourceOptions(parent=parent)
    bucket = aws.s3.Bucket(f"{base}-bucket", force_destroy=force_destroy, opts=child)
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{base}-encryption",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"
                ),
                bucket_key_enabled=True,
            )
        ],
        opts=child,
    )
    block = aws.s3.BucketPublicAccessBlock(
        f"{base}-public-access",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketOwnershipControls(
        f"{base}-ownership",
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=child,
    )
    aws.s3.BucketPolicy(
        f"{base}-policy",
        bucket=bucket.id,
        policy=_policy.document(
            *allow(bucket.arn), _policy.deny_insecure_transport([bucket.arn, bucket.arn.apply(lambda a: f"{a}/*")])
        ),
        # The public access block first, so a policy can never be public even briefly.
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[block]),
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{base}-lifecycle",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire" if expiration_days is not None else "abort-incomplete-uploads",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=expire_prefix),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expiration_days)
                if expiration_days is not None
                else None,
                # An upload a killed copy left half done costs storage until it is aborted.
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=1
                ),
            )
        ],
        opts=child,
    )
    return bucket
