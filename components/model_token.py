"""The Hugging Face token, kept in Secrets Manager and read by instances at boot.

Creates: the secret and, when a token is given, its value. The value comes from a Pulumi
secret, so it is encrypted in state and shown as ``[secret]`` in previews and plans; it is
never put into user data or any output.
Defaults: encrypted with the account's Secrets Manager key; 7 days to recover after delete.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import _policy


@dataclass(frozen=True, kw_only=True)
class ModelTokenArgs:
    token: pulumi.Input[str] | None = None
    """The token, as a Pulumi secret. None creates an empty secret that you can fill with
    ``aws secretsmanager put-secret-value`` (public models need no token)."""
    recovery_window_days: int = 7
    """Days a deleted secret can be restored: the shortest window AWS offers (0 would delete it
    at once, with no way back), so a stack can be re-created soon after a destroy."""


class ModelToken(pulumi.ComponentResource):
    secret_arn: pulumi.Output[str]
    """ARN the instances read the token from."""
    read_policy_json: pulumi.Output[str]
    """IAM policy: read this secret only."""

    def __init__(self, name: str, args: ModelTokenArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("llm-serving:aws:ModelToken", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        secret = aws.secretsmanager.Secret(
            f"{name}-secret",
            description="Hugging Face token the model servers use to download weights",
            recovery_window_in_days=args.recovery_window_days,
            opts=child,
        )
        if args.token is not None:
            aws.secretsmanager.SecretVersion(
                f"{name}-value", secret_id=secret.id, secret_string=pulumi.Output.secret(args.token), opts=child
            )
        self.secret_arn = secret.arn
        self.read_policy_json = _policy.document(
            _policy.allow(["secretsmanager:GetSecretValue"], [secret.arn], sid="ReadModelToken")
        )
        self.register_outputs({"secret_arn": self.secret_arn})
