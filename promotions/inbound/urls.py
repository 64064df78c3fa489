"""Endpoints for other systems: Git hosting webhooks and chat slash commands."""

from django.urls import path

from promotions.inbound import views

urlpatterns = [
    path("webhooks/github/", views.github_webhook, name="github-webhook"),
    path("webhooks/gitlab/", views.gitlab_webhook, name="gitlab-webhook"),
    path("webhooks/gitea/", views.gitea_webhook, name="gitea-webhook"),
    path("chatops/slack/", views.slack_command, name="slack-command"),
    path("chatops/mattermost/", views.mattermost_command, name="mattermost-command"),
]
