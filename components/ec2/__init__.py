"""The EC2 backend's own parts: GPU Auto Scaling groups, their boot, their rollouts."""
