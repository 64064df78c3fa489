"""What the Git host stand-ins (sandbox/github, sandbox/gitlab, sandbox/gitea) share.

Each host keeps what makes it that host: its endpoints, JSON shapes, error bodies,
headers, authentication and webhook signing. The plumbing around them lives here: the
route table (`routing`), injected faults (`faults`), the request log and the
`/_sandbox/` control endpoints (`pipeline`), the HTTP handler (`server`), the stand-in
object's lifecycle, faults, requests and webhooks methods (`standin`) and the
`python -m sandbox.<host>` helpers (`cli`).
"""
