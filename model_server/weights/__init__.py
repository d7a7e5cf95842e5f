"""Model weights in S3: where a model's pinned revision lives, and how it gets there.

``layout`` is the contract every reader and writer shares (the stager, the EC2 boot, the
SageMaker and EKS backends): one prefix per model and revision, and a completion marker
written last, so a half-copied prefix is never used.
"""
