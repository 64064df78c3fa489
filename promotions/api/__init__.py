"""The REST API (/api/v1/): the same services and rules as the UI, for chatops, CI and scripts."""
