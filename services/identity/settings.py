"""Settings of the identity service (`RAPPORT_*` environment variables)."""

from __future__ import annotations

from shared.settings import Settings


class IdentitySettings(Settings):
    """identity's knobs on top of the shared settings."""

    service: str = "identity"
    # Public self-service signup (`POST /v1/tenants`); env RAPPORT_SIGNUP_ENABLED.
    signup_enabled: bool = True
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    # The refresh cookie of browser sessions is `Secure` (sent over HTTPS only); the local stack, served
    # over plain http on 127.0.0.1, turns it off (env RAPPORT_COOKIE_SECURE).
    cookie_secure: bool = True
    # Login throttling (per account and per client IP, over a sliding window): after `*_threshold`
    # failures the key is locked for `login_lock_base_s`, doubling with each further failure up to
    # `login_lock_max_s`; a locked key answers 429 with Retry-After before any password is checked.
    login_window_s: int = 900
    login_account_threshold: int = 5
    login_ip_threshold: int = 50
    login_lock_base_s: float = 1.0
    login_lock_max_s: float = 900.0
    # Believe the `X-Forwarded-For` the gateway sets (it drops any a client sent). Turn off when
    # identity is reachable other than through the gateway: the peer address is used then.
    trust_forwarded_for: bool = True
    # Most accounts (in different tenants) one e-mail address may be tried against in one login.
    login_max_accounts_per_email: int = 5
    # How often the revocation deny-list in Redis is rewritten from the database (a write lost to a
    # Redis outage or restart is back within this).
    denylist_resync_s: float = 30.0
