"""The browser UI: views (server-rendered pages and htmx partials), URLs, middleware and sign-in."""
