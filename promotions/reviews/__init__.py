"""Reviews of promotions: which count (policy), approving and rejecting, merging, CI checks,
and the links between portal users and their outside identities."""
