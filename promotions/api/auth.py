"""`Authorization: Bearer <token>` with personal API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from promotions.accounts.tokens import apitoken_user


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, None] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header.startswith(f"{self.keyword} "):
            return None
        user, why = apitoken_user(header[len(self.keyword) + 1 :].strip())
        if user is None:
            raise exceptions.AuthenticationFailed(why)
        return user, None

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="gitops-portal"'


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (`manage.py apitoken create`).",
        }
