"""Servers smame starts and stops itself for local deployments and tests (PostgreSQL, NATS)."""
