"""Reviews of promotions: which count (policy), approving and rejecting, merging, CI checks
(identity links live in `promotions.accounts`)."""
