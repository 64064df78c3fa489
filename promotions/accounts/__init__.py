"""Who someone is to the portal: personal API tokens, and the links between portal users and
their outside identities (GitHub logins, chat user ids)."""
