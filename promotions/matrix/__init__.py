"""The version matrix: reading Git into cells (snapshot), storing them (refresh), what the
clusters run (live), the one matrix document, the dashboard's reads and application history."""
