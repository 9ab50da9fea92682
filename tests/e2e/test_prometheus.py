"""Every process's `/metrics` through the running stack: a post's requests and events are counted, a 4xx
is counted as such, and the exposition names no tenant, handle or mention."""

from __future__ import annotations

import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from rapport.stack import Stack
from tests.engagement.receiver import receiver
from tests.engagement.test_webhooks import opened, settled, subscribe
from tests.helpers import Tenant, assert_problem, wait_until
from tests.listening.helpers import post_mention

PROCESSES = ("gateway", "identity", "listening", "profiles", "engagement", "metrics")
Labels = tuple[tuple[str, str], ...]


def scrape(stack: Stack, name: str) -> tuple[str, dict[str, dict[Labels, float]]]:
    """One process's exposition, and its samples by name, then by sorted labels."""
    response = httpx.get(f"{stack.url(name)}/metrics", timeout=10)
    assert response.status_code == 200, (name, response.text)
    assert response.headers["content-type"].startswith("text/plain"), name
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return response.text, samples


def value(samples: dict[str, dict[Labels, float]], name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def requests(stack: Stack, name: str, method: str, route: str, status: str) -> float:
    _, samples = scrape(stack, name)
    return value(samples, "rapport_http_requests_total", method=method, route=route, status=status)


def published(stack: Stack, name: str, subject: str) -> float:
    return value(scrape(stack, name)[1], "rapport_events_published_total", subject=subject)


def consumed(stack: Stack, name: str, subject: str, consumer: str) -> float:
    _, samples = scrape(stack, name)
    return value(samples, "rapport_events_consumed_total", subject=subject, consumer=consumer, outcome="ok")


def test_a_post_is_counted_on_every_hop_without_naming_anyone(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    subject = "listening.mention.received"
    before = {
        "gateway": requests(stack, "gateway", "POST", "/v1/mentions", "202"),
        "listening": requests(stack, "listening", "POST", "/v1/mentions", "202"),
        "published": published(stack, "listening", subject),
        "consumed": consumed(stack, "profiles", subject, "profiles-mentions"),
        "gateway_404": requests(stack, "gateway", "GET", "/v1/mentions", "404"),
        "listening_404": requests(stack, "listening", "GET", "/v1/mentions/{mention_id}", "404"),
    }

    body, mention_id = post_mention(client, tenant)
    missing = f"mn_{uuid.uuid4().hex}"
    assert_problem(client.get(f"/v1/mentions/{missing}", headers=tenant.headers), 404)

    assert requests(stack, "gateway", "POST", "/v1/mentions", "202") > before["gateway"]
    assert requests(stack, "listening", "POST", "/v1/mentions", "202") > before["listening"]
    # The 4xx is counted under its route's template at the gateway and at the service.
    assert requests(stack, "gateway", "GET", "/v1/mentions", "404") > before["gateway_404"]
    assert requests(stack, "listening", "GET", "/v1/mentions/{mention_id}", "404") > before["listening_404"]
    wait_until(
        lambda: published(stack, "listening", subject) > before["published"],
        timeout=30,
        what="listening's publish of the mention counted",
    )
    wait_until(
        lambda: consumed(stack, "profiles", subject, "profiles-mentions") > before["consumed"],
        timeout=30,
        what="profiles' consumption of the mention counted",
    )

    secrets = (tenant.tenant_id, body["author"]["handle"].lstrip("@"), mention_id, missing)
    for name in PROCESSES:
        text, samples = scrape(stack, name)
        assert samples.get("rapport_http_requests_total"), name
        for secret in secrets:
            assert secret not in text, (name, secret)
    # profiles' consumers report their lag.
    assert "profiles-mentions" in {
        dict(labels)["consumer"] for labels in scrape(stack, "profiles")[1]["rapport_consumer_pending_events"]
    }


def test_gateway_metrics_are_not_served_through_a_proxy(stack: Stack, tenant: Tenant) -> None:
    direct = httpx.get(f"{stack.gateway_url}/metrics")
    assert direct.status_code == 200
    assert "rapport_http_requests_total" in direct.text
    relayed = httpx.get(f"{stack.gateway_url}/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert_problem(relayed, 404)
    # Nor is a service's `/metrics` reachable through the gateway's public API.
    proxied = httpx.get(f"{stack.gateway_url}/v1/metrics/metrics", headers=tenant.headers)
    assert_problem(proxied, 404)
    assert "rapport_" not in proxied.text


def test_public_openapi_does_not_list_metrics(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    assert not [path for path in document["paths"] if path.endswith("/metrics")]


def webhook_outcomes(stack: Stack) -> dict[str, float]:
    _, samples = scrape(stack, "engagement")
    return {
        dict(labels)["outcome"]: count
        for labels, count in samples.get("rapport_webhook_deliveries_total", {}).items()
    }


def test_partner_webhook_outcomes_are_counted(stack: Stack, tenant: Tenant) -> None:
    before = webhook_outcomes(stack)
    with httpx.Client(base_url=stack.url("engagement"), timeout=30) as engagement:
        with receiver(script=[500, 410]) as partner:
            sub = subscribe(engagement, tenant, partner.url)
            # A server error (retried), then a refusal (failed at once); the next event is delivered.
            settled(engagement, tenant, sub["id"], opened(stack, tenant), "failed", timeout=30)
            settled(engagement, tenant, sub["id"], opened(stack, tenant), "succeeded", timeout=30)
            # Server errors on every attempt of the schedule: given up.
            partner.default = 503
            settled(engagement, tenant, sub["id"], opened(stack, tenant), "dead", timeout=30)

    after = webhook_outcomes(stack)
    rose = {outcome: after.get(outcome, 0) - before.get(outcome, 0) for outcome in after}
    # The test schedule has six attempts: five retried, the sixth given up.
    assert rose == {"retrying": 1 + 5, "failed": 1, "delivered": 1, "gave_up": 1}
