"""Webhooks: endpoints, fan-out of the events outbox, signed and retried delivery."""
