"""Adapters to the outside world: NATS (JetStream, key-value) and Restate ingress."""
