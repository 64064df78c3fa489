"""Git and the files in it: the clone (the only module running git), file locks, and YAML read and
written token by token (`gitops.yaml`). Knows nothing of Django."""
