"""Template filters (registered in settings.TEMPLATES as libraries, since Django looks for tags in the app only)."""
