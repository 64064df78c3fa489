"""Django project wiring for GitOps Portal; the domain lives in `promotions`."""

from gitops_portal.celery import app as celery_app

__all__ = ["celery_app"]
