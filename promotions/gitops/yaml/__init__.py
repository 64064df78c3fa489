"""YAML as GitOps files hold it: line-aware nodes, version locators, and minimal edits."""
