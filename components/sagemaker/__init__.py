"""The SageMaker backend's own parts: the real-time endpoint, its alarms, the queue worker service."""
