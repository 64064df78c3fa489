"""Where pull requests live: the provider interface and its value types, the `local` provider and
GitHub (the only module importing PyGithub). Knows nothing of Django."""
