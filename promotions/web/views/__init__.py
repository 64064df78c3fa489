"""Page views: each parses input, calls one service or selector, and renders."""
