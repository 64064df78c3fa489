"""Telling people and systems what happened: subscriptions from the catalogue, deliveries
retried by a worker."""
