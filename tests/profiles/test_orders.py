"""Orders posted by partners: idempotent by order id, summed exactly per currency, a customer made."""

from __future__ import annotations

import httpx

from rapport.stack import Stack
from tests.helpers import Tenant, add_user, assert_problem, find_event, unique
from tests.profiles.helpers import timeline
from tests.profiles.partners import get_profile, new_customer, order


def test_order_twice_counts_once_and_conflicting_content_is_refused(
    client: httpx.Client, tenant: Tenant
) -> None:
    _, profile_id = new_customer(client, tenant)
    body = order(amount="49.90")

    first = client.post(f"/v1/profiles/{profile_id}/orders", json=body, headers=tenant.headers)
    again = client.post(f"/v1/profiles/{profile_id}/orders", json=body, headers=tenant.headers)
    conflict = client.post(
        f"/v1/profiles/{profile_id}/orders", json={**body, "amount": "49.91"}, headers=tenant.headers
    )

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert first.json()["amount"] == "49.90" and first.json()["currency"] == "EUR"
    assert_problem(conflict, 409)
    profile = get_profile(client, tenant, profile_id)
    assert profile["order_count"] == 1
    assert profile["lifetime_value"] == {"EUR": "49.90"}


def test_lifetime_value_is_an_exact_sum_per_currency(client: httpx.Client, tenant: Tenant) -> None:
    _, profile_id = new_customer(client, tenant)
    # 0.1 + 0.2 in floats is 0.30000000000000004: the sum must not go through a float.
    for amount, currency in [("0.1", "EUR"), (0.2, "EUR"), ("19.9999", "usd"), ("0.0001", "USD"), (3, "EUR")]:
        response = client.post(
            f"/v1/profiles/{profile_id}/orders",
            json=order(amount=amount, currency=currency),
            headers=tenant.headers,
        )
        assert response.status_code == 201, response.text

    profile = get_profile(client, tenant, profile_id)

    assert profile["lifetime_value"] == {"EUR": "3.30", "USD": "20.00"}
    assert profile["order_count"] == 5
    page = client.get(f"/v1/profiles/{profile_id}/orders", headers=tenant.headers, params={"limit": 3}).json()
    rest = client.get(
        f"/v1/profiles/{profile_id}/orders",
        headers=tenant.headers,
        params={"limit": 3, "cursor": page["next_cursor"]},
    ).json()
    assert rest["next_cursor"] is None
    assert [o["amount"] for o in page["items"] + rest["items"]] == [
        "3.00",
        "0.0001",
        "19.9999",
        "0.20",
        "0.10",
    ]


def test_an_order_makes_a_customer_and_says_why(client: httpx.Client, tenant: Tenant, stack: Stack) -> None:
    external_id, profile_id = new_customer(client, tenant)
    assert get_profile(client, tenant, profile_id)["lifecycle_stage"] == "stranger"
    order_id = unique("o")

    response = client.post(
        f"/v1/profiles/by-external-id/shop/{external_id}/orders", json=order(order_id), headers=tenant.headers
    )

    assert response.status_code == 201, response.text
    assert response.json()["profile_id"] == profile_id
    assert get_profile(client, tenant, profile_id)["lifecycle_stage"] == "customer"
    event = find_event(
        stack.nats_url,
        "profiles.profile.lifecycle_changed",
        lambda e: e["data"]["profile_id"] == profile_id,
    )
    assert event["tenantid"] == tenant.tenant_id
    assert (event["data"]["from_stage"], event["data"]["to_stage"]) == ("stranger", "customer")
    assert event["data"]["reason"] == f"order {order_id}"
    updated = find_event(
        stack.nats_url,
        "profiles.profile.updated",
        lambda e: e["data"]["profile_id"] == profile_id and "lifetime_value" in e["data"]["changed"],
    )
    assert updated["data"]["profile"]["lifetime_value"] == {"EUR": "49.90"}
    assert updated["data"]["profile"]["lifecycle_stage"] == "customer"
    item = timeline(client, tenant, profile_id)["items"][0]
    assert (item["kind"], item["ref_id"]) == ("order", order_id)
    assert item["excerpt"] == f"Order {order_id}: 49.90 EUR"
    assert item["links"] == {"orders": f"/v1/profiles/{profile_id}/orders"}


def test_unknown_profiles_and_bad_orders(client: httpx.Client, tenant: Tenant) -> None:
    _, profile_id = new_customer(client, tenant)

    assert_problem(client.post("/v1/profiles/nobody/orders", json=order(), headers=tenant.headers), 404)
    assert_problem(
        client.post(
            f"/v1/profiles/by-external-id/shop/{unique('x')}/orders", json=order(), headers=tenant.headers
        ),
        404,
    )
    assert_problem(client.get("/v1/profiles/nobody/orders", headers=tenant.headers), 404)
    for bad in [
        order(amount="0"),
        order(amount="-3"),
        order(amount="1.23456"),
        order(amount="ten"),
        order(currency="EURO"),
        order(ordered_at="yesterday"),
        order(extra=1),
    ]:
        assert_problem(
            client.post(f"/v1/profiles/{profile_id}/orders", json=bad, headers=tenant.headers), 422
        )
    assert get_profile(client, tenant, profile_id)["order_count"] == 0


def test_partner_may_post_and_analyst_may_only_read(
    client: httpx.Client, accounts: httpx.Client, tenant: Tenant
) -> None:
    external_id, profile_id = new_customer(client, tenant)
    partner = add_user(accounts, tenant, "integration")
    analyst = add_user(accounts, tenant, "analyst")

    by_id = client.post(f"/v1/profiles/{profile_id}/orders", json=order(), headers=partner.headers)
    by_external = client.post(
        f"/v1/profiles/by-external-id/shop/{external_id}/orders", json=order(), headers=partner.headers
    )

    assert (by_id.status_code, by_external.status_code) == (201, 201), by_id.text + by_external.text
    assert_problem(
        client.post(f"/v1/profiles/{profile_id}/orders", json=order(), headers=analyst.headers), 403
    )
    listed = client.get(f"/v1/profiles/{profile_id}/orders", headers=analyst.headers)
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2
    assert_problem(client.get(f"/v1/profiles/{profile_id}/orders", headers=partner.headers), 403)


def test_orders_are_the_tenants_own(client: httpx.Client, tenant: Tenant, other_tenant: Tenant) -> None:
    external_id, profile_id = new_customer(client, tenant)
    body = order()
    assert (
        client.post(f"/v1/profiles/{profile_id}/orders", json=body, headers=tenant.headers).status_code == 201
    )

    assert_problem(
        client.post(f"/v1/profiles/{profile_id}/orders", json=body, headers=other_tenant.headers), 404
    )
    assert_problem(
        client.post(
            f"/v1/profiles/by-external-id/shop/{external_id}/orders", json=body, headers=other_tenant.headers
        ),
        404,
    )
    assert_problem(client.get(f"/v1/profiles/{profile_id}/orders", headers=other_tenant.headers), 404)
    # The same order id is free in another tenant.
    _, other_profile = new_customer(client, other_tenant)
    response = client.post(f"/v1/profiles/{other_profile}/orders", json=body, headers=other_tenant.headers)
    assert response.status_code == 201, response.text
    assert get_profile(client, tenant, profile_id)["lifetime_value"] == {"EUR": "49.90"}
