"""The planner cluster: gateway, Redis state, Ray campaign actors, and the DKL learning engine."""
