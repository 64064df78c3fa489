"""Monitoring: what `/metrics` reports to Prometheus, read from the portal's tables at scrape
time (`reads`), and the exposition built from it (`metrics`). Nothing is counted in a web
process, so every process gives the same answer; alert rules are in `deploy/monitoring/`."""
