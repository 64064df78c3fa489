"""A promotion from request to verified: the state machine, requesting, carrying out,
rollback and release, following the rollout, freezes, branch locks, permissions, commit messages."""
