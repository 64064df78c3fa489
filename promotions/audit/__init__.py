"""The audit history: the hash chain (append, verify), its anchors outside the database, archives
(retention), exports."""
