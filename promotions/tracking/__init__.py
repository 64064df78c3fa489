"""Following promotions after the portal acted: events from Git hosting, and the sweeper that
re-sends lost work and notices what happened elsewhere."""
