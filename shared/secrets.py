"""Secrets encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256), keys from settings.

Used for what a service must read back to use it: listening's channel credentials, engagement's
webhook signing secrets. `RAPPORT_SECRET_KEY` holds one or more Fernet keys, comma-separated: the first
encrypts, every one decrypts (key rotation). Without it, a key is generated on first start and kept in
`<var_dir>/<service>-secret.key`, created with permissions 0600 (fine for one machine; a deployment
sets the key from its secret store).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

log = logging.getLogger("rapport.secrets")

# Tokens whose credential names a box remembers (`SecretBox.names`); the memo is emptied when full.
KNOWN_TOKENS = 4096


class SecretKeyError(RuntimeError):
    """The configured key is not a Fernet key, or stored secrets do not decrypt with any key."""


def key_file(service: str) -> str:
    """The name of the key file a service generates under its `var_dir` when no key is configured."""
    return f"{service}-secret.key"


def _load_or_create_key(var_dir: Path, name: str) -> str:
    path = var_dir / name
    var_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    log.warning("secrets.key_generated", extra={"key_file": str(path)})
    return key.decode("ascii")


class SecretBox:
    """Encrypts and decrypts a small JSON object of secrets."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError("no secret key")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode("ascii")) for k in keys])
        except (ValueError, UnicodeEncodeError) as exc:
            raise SecretKeyError(
                "RAPPORT_SECRET_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated"
            ) from exc
        # token → the names of its credentials (never their values): channel views list them on every
        # read, and a token is immutable (new credentials are a new token).
        self._names: dict[str, list[str]] = {}

    @classmethod
    def from_settings(cls, *, secret_key: str, var_dir: Path, service: str) -> SecretBox:
        """The configured keys, or the service's key file under `var_dir` (generated when missing)."""
        keys = [k for k in secret_key.split(",") if k.strip()]
        return cls(keys or [_load_or_create_key(var_dir, key_file(service))])

    def seal(self, secrets: dict[str, Any]) -> str:
        """The Fernet token of these credentials."""
        return self._fernet.encrypt(json.dumps(secrets, separators=(",", ":")).encode()).decode("ascii")

    def names(self, token: str) -> list[str]:
        """The sorted names of a token's credentials (SecretKeyError when it does not decrypt)."""
        names = self._names.get(token)
        if names is None:
            names = sorted(self.open(token))
            if len(self._names) >= KNOWN_TOKENS:
                self._names.clear()
            self._names[token] = names
        return list(names)

    def open(self, token: str) -> dict[str, Any]:
        """The credentials of a token (an empty token is no credentials)."""
        if not token:
            return {}
        try:
            data = json.loads(self._fernet.decrypt(token.encode("ascii")))
        except InvalidToken as exc:
            raise SecretKeyError("stored secrets do not decrypt with the configured keys") from exc
        return data if isinstance(data, dict) else {}
