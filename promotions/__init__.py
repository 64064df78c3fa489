"""The GitOps Portal domain: catalogue, version matrix, promotions."""
