"""EventBridge event names AWS publishes, in one place: the alarms subscribe to them and a
policy rule refuses any other (a rule waiting for a detail-type AWS never sends is silent).

Source: EC2 Auto Scaling user guide, "Instance refresh events" (docs/reference.md#eventbridge).
"""

from __future__ import annotations

AUTOSCALING_SOURCE = "aws.autoscaling"

REFRESH_FAILED = "EC2 Auto Scaling Instance Refresh Failed"
REFRESH_ROLLBACK_STARTED = "EC2 Auto Scaling Instance Refresh Rollback Started"
REFRESH_ROLLBACK_SUCCEEDED = "EC2 Auto Scaling Instance Refresh Rollback Succeeded"
REFRESH_ROLLBACK_FAILED = "EC2 Auto Scaling Instance Refresh Rollback Failed"

AUTOSCALING_DETAIL_TYPES = frozenset(
    {
        "EC2 Auto Scaling Instance Refresh Started",
        "EC2 Auto Scaling Instance Refresh Succeeded",
        REFRESH_FAILED,
        "EC2 Auto Scaling Instance Refresh Cancelled",
        "EC2 Auto Scaling Instance Refresh Checkpoint Reached",
        REFRESH_ROLLBACK_STARTED,
        REFRESH_ROLLBACK_SUCCEEDED,
        REFRESH_ROLLBACK_FAILED,
        "EC2 Instance Launch Successful",
        "EC2 Instance Launch Unsuccessful",
        "EC2 Instance Terminate Successful",
        "EC2 Instance Terminate Unsuccessful",
        "EC2 Instance-launch Lifecycle Action",
        "EC2 Instance-terminate Lifecycle Action",
    }
)
"""Every detail-type ``aws.autoscaling`` emits that this project may subscribe to."""


REFRESH_RUNNING = frozenset({"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"})
"""DescribeInstanceRefreshes statuses of a refresh that has not finished (Baking: replaced,
waiting out the bake time; docs/reference.md#instance-refresh)."""
