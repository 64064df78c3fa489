"""Django project wiring for GitOps Portal; the domain lives in `promotions`.

The Celery app lives in `gitops_portal.celery` and is imported by the modules that
define or send tasks (`promotions.tasks`), not here: commands that never touch Celery
(like `matrix`) start faster without it.
"""
