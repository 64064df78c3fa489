"""Requests from other systems (Git hosting webhooks, chat slash commands): each proves itself
(a signature or a token) before anything else happens."""
