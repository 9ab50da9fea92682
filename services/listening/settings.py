"""listening's settings (env prefix `RAPPORT_`)."""

from __future__ import annotations

from shared.settings import Settings


class ListeningSettings(Settings):
    """What the listening service needs to know."""

    service: str = "listening"
    # Fernet key(s) encrypting channel credentials at rest, comma-separated (the first encrypts, all
    # decrypt: rotation). Empty: a key generated on first start in `<var_dir>/listening-secret.key` (0600).
    secret_key: str = ""
    # Tenant-given URLs (Mastodon, Bluesky, feeds) may name private/loopback addresses: tests and
    # on-premises only; production refuses them (SSRF).
    connector_allow_private_urls: bool = False
    # Shortest poll interval a channel may ask for, and the default (seconds).
    connector_min_poll_s: float = 1.0
    connector_default_poll_s: float = 60.0
    # Start the pull connectors of existing channels with the service.
    connector_pullers: bool = True
