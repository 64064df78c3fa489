"""Kubernetes, read-only: the client (the only module importing `kubernetes`), label selectors,
and the pure rules that turn listed objects into an application's live state."""
