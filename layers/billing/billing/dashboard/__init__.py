"""The merchant's dashboard (/dashboard): sign-in, sessions, the shell (layout, navigation,
languages) and the merchant's users. Pages of other features extend `templates/base.html`."""
