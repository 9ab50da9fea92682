"""The AsyncAPI document: valid AsyncAPI 3.0.0, complete over the catalog, true to what travels on NATS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from referencing import Registry
from referencing.jsonschema import DRAFT7

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from rapport.stack import Stack
from shared.events.asyncapi import asyncapi_document
from shared.events.catalog import SPECS, STREAMS
from tests.helpers import Tenant, find_event, mention_payload

# The official schema, bundled (tests/data/asyncapi-3.0.0.schema.json.source says where it comes from).
OFFICIAL = json.loads((Path(__file__).parents[1] / "data" / "asyncapi-3.0.0.schema.json").read_text())


def _offline(uri: str) -> Any:
    raise LookupError(f"{uri} is not bundled: the validation must not fetch anything")


def asyncapi_validator() -> jsonschema.Draft7Validator:
    """A validator of AsyncAPI 3.0.0 documents that resolves every reference inside the bundled schema."""
    registry: Registry[Any] = (
        Registry(retrieve=_offline).with_resource(OFFICIAL["$id"], DRAFT7.create_resource(OFFICIAL)).crawl()
    )
    return jsonschema.Draft7Validator(OFFICIAL, registry=registry)


def message_validator(doc: dict[str, Any], message: str) -> jsonschema.Draft7Validator:
    """A validator of one message's body against its payload schema, with the document's components."""
    schema = {
        "$ref": doc["components"]["messages"][message]["payload"]["$ref"],
        "components": doc["components"],
    }
    return jsonschema.Draft7Validator(schema)


def test_document_is_valid_asyncapi_3() -> None:
    doc = asyncapi_document()
    validator = asyncapi_validator()
    assert list(validator.iter_errors(doc)) == []
    # The validation has teeth: an AsyncAPI 2 style action is refused.
    first = next(iter(doc["operations"]))
    broken = {**doc, "operations": {first: {**doc["operations"][first], "action": "publish"}}}
    assert list(validator.iter_errors(broken))


def test_every_catalog_event_has_its_channel_message_payload_and_producer() -> None:
    doc = asyncapi_document()
    by_address = {channel["address"]: channel for channel in doc["channels"].values()}
    sends = [op for op in doc["operations"].values() if op["action"] == "send"]
    for spec in SPECS:
        name = spec.model.__name__
        channel = by_address[spec.subject]
        assert channel["x-rapport-stream"] == spec.stream and spec.stream in STREAMS
        assert channel["messages"] == {name: {"$ref": f"#/components/messages/{name}"}}
        assert doc["components"]["messages"][name]["title"] == spec.name
        assert name in doc["components"]["schemas"]
        [send] = [op for op in sends if op["channel"]["$ref"].endswith("/" + spec.name.replace(".", "-"))]
        assert send["tags"] == [{"name": spec.producer}]
    assert by_address["deadletter.{durable}"]["x-rapport-stream"] == "DEADLETTER"
    # Every stream holds events (or dead letters); none is declared for a domain without events.
    assert {c["x-rapport-stream"] for c in doc["channels"].values()} == set(STREAMS)
    envelope = doc["components"]["schemas"]["CloudEvent"]
    assert set(envelope["required"]) >= {"specversion", "id", "source", "type", "time", "tenantid", "data"}


def test_message_schema_accepts_a_real_event_from_nats_and_rejects_a_broken_one(
    client: httpx.Client, stack: Stack, tenant: Tenant
) -> None:
    response = client.post("/v1/mentions", json=mention_payload(), headers=tenant.headers)
    assert response.status_code in (200, 201, 202), response.text
    event = find_event(
        stack.nats_url, "listening.mention.received", lambda e: e["tenantid"] == tenant.tenant_id
    )
    validator = message_validator(asyncapi_document(), "MentionReceived")
    assert list(validator.iter_errors(event)) == []
    assert list(validator.iter_errors({**event, "type": "listening.mention.edited"}))
    assert list(validator.iter_errors({**event, "data": {**event["data"], "analysis": None}}))
    assert list(validator.iter_errors({k: v for k, v in event.items() if k != "tenantid"}))


def test_gateway_serves_the_document_next_to_openapi(client: httpx.Client) -> None:
    response = client.get("/asyncapi.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    assert response.json() == json.loads(json.dumps(asyncapi_document()))
    assert "authorization" not in {k.lower() for k in response.request.headers}  # public, as /openapi.json


@pytest.mark.anyio
@pytest.mark.parametrize("api_docs", [True, False])
async def test_asyncapi_follows_the_api_docs_switch(api_docs: bool) -> None:
    app = create_gateway(GatewaySettings(api_docs=api_docs))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        status = (await http.get("/asyncapi.json")).status_code
    assert status == (200 if api_docs else 404)
