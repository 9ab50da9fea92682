"""API3: whether an e-mail address is registered in another tenant is not disclosed.

E-mails are unique within a tenant only, so signup and invitations answer alike for an address that is
new and for one that another tenant uses.
"""

from __future__ import annotations

import httpx

from tests.helpers import PASSWORD, Tenant, unique


def _signup(client: httpx.Client, email: str) -> httpx.Response:
    return client.post(
        "/v1/tenants", json={"name": unique("Acme"), "admin_email": email, "admin_password": PASSWORD}
    )


def _invite(client: httpx.Client, tenant: Tenant, email: str) -> httpx.Response:
    body = {"email": email, "password": PASSWORD, "role": "agent"}
    return client.post("/v1/users", headers=tenant.headers, json=body)


def test_signup_with_email_of_another_tenant_answers_like_a_new_email(
    accounts: httpx.Client, other_tenant: Tenant
) -> None:
    new = _signup(accounts, f"{unique('new')}@example.com")
    taken = _signup(accounts, other_tenant.email)
    assert new.status_code == taken.status_code == 201, taken.text
    assert set(new.json()["user"]) == set(taken.json()["user"])


def test_invite_of_email_used_by_another_tenant_answers_like_a_new_email(
    accounts: httpx.Client, tenant: Tenant, other_tenant: Tenant
) -> None:
    new = _invite(accounts, tenant, f"{unique('new')}@example.com")
    taken = _invite(accounts, tenant, other_tenant.email)
    assert new.status_code == taken.status_code == 201, taken.text
    assert taken.json()["tenant_id"] == tenant.tenant_id
