"""The SSRF guard on tenant-given URLs and the credentials box, without the stack."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from shared.egress import UnsafeURL, check_public_url
from shared.secrets import SecretBox, SecretKeyError, key_file


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/feed",
        "http://localhost/feed",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "https://no-such-host.invalid/",
    ],
)
@pytest.mark.anyio
async def test_private_loopback_and_unresolvable_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        await check_public_url(url)


@pytest.mark.anyio
async def test_public_address_passes() -> None:
    await check_public_url("https://93.184.215.14/feed.xml")


def test_generated_key_is_0600_and_reused(tmp_path: Path) -> None:
    box = SecretBox.from_settings(secret_key="", var_dir=tmp_path, service="listening")
    token = box.seal({"app_secret": "s3cret"})
    assert "s3cret" not in token
    assert (tmp_path / key_file("listening")).stat().st_mode & 0o777 == 0o600
    again = SecretBox.from_settings(secret_key="", var_dir=tmp_path, service="listening")
    assert again.open(token) == {"app_secret": "s3cret"}


def test_configured_keys_rotate_and_a_wrong_key_fails(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    token = SecretBox([old]).seal({"k": "v"})
    assert SecretBox.from_settings(secret_key=f"{new},{old}", var_dir=tmp_path, service="listening").open(
        token
    ) == {"k": "v"}
    assert not (tmp_path / key_file("listening")).exists()
    with pytest.raises(SecretKeyError):
        SecretBox([new]).open(token)
    with pytest.raises(SecretKeyError):
        SecretBox(["not-a-key"])
