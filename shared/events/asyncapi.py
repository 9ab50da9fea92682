"""The AsyncAPI 3.0 document of every event, generated from the catalog (served by the gateway).

Each event type is a channel (its subject) in its domain's JetStream stream, carrying one message: the
CloudEvents structured-mode envelope whose `type` is fixed and whose `data` is the payload contract's
JSON schema. The producing service's `send` operation is listed per channel, and the dead-letter
channel where a consumer's poison messages end up is described too, so a partner or a new service can
code against the bus without reading Python.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from shared.events.catalog import DEADLETTER_STREAM, SPECS, STREAMS, EventSpec
from shared.events.contracts import Contract

VERSION = "0.1.0"
_SCHEMAS = "#/components/schemas/"
ENVELOPE = "CloudEvent"

# The CloudEvents 1.0 attributes as Rapport sends them (structured mode, JSON), `tenantid` included.
_ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "CloudEvents 1.0 envelope, structured mode: the whole NATS message body.",
    "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "tenantid", "data"],
    "additionalProperties": False,
    "properties": {
        "specversion": {"const": "1.0", "description": "CloudEvents version."},
        "id": {
            "type": "string",
            "minLength": 1,
            "description": "Unique per event (a UUID), also sent as `Nats-Msg-Id`: de-duplicate on it.",
        },
        "source": {
            "type": "string",
            "minLength": 1,
            "description": "The producing service, as `/rapport/<service>`.",
            "examples": ["/rapport/listening"],
        },
        "type": {
            "type": "string",
            "minLength": 1,
            "description": "`<domain>.<entity>.<verb>`, in the past tense; equal to the NATS subject.",
        },
        "time": {"type": "string", "format": "date-time", "description": "When the fact happened (UTC)."},
        "subject": {
            "type": "string",
            "description": "The id of the entity the event is about; left out where there is none.",
        },
        "datacontenttype": {"const": "application/json", "description": "`data` is JSON."},
        "tenantid": {
            "type": "string",
            "minLength": 1,
            "description": "Extension attribute: the tenant the fact belongs to (every event has one).",
        },
        "data": {"type": "object", "description": "The payload: its schema depends on `type`."},
    },
}

_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "NATS message headers.",
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "description": "The event's `id`: JetStream drops a re-publish of the same id (2-minute window).",
        },
        "traceparent": {"type": "string", "description": "W3C trace context of the producing request."},
    },
}

_DEAD_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The original message's headers, plus why and from where it was dead-lettered.",
    "properties": {
        "Rapport-Dead-Reason": {
            "type": "string",
            "description": "`invalid envelope`, `invalid payload`, or the last failed attempt's error class.",
        },
        "Rapport-Original-Subject": {"type": "string", "description": "The subject it was consumed from."},
        "traceparent": {"type": "string"},
    },
}


def message_name(spec: EventSpec[Contract]) -> str:
    """The message (and payload schema) name of an event: its payload class's name."""
    return spec.model.__name__


def _channel_id(spec: EventSpec[Contract]) -> str:
    return spec.name.replace(".", "-")


def _payload_schemas() -> dict[str, Any]:
    """Every payload contract's JSON schema, with the schemas they use, all under components/schemas."""
    _, top = models_json_schema(
        [(spec.model, "validation") for spec in SPECS], ref_template=_SCHEMAS + "{model}"
    )
    return dict(top.get("$defs", {}))


def _envelope_of(spec: EventSpec[Contract]) -> dict[str, Any]:
    """The whole message body of one event type: the envelope with its `type` fixed and `data` typed."""
    return {
        "allOf": [
            {"$ref": _SCHEMAS + ENVELOPE},
            {
                "type": "object",
                "properties": {
                    "type": {"const": spec.name},
                    "data": {"$ref": _SCHEMAS + message_name(spec)},
                },
            },
        ]
    }


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of the catalog."""
    schemas: dict[str, Any] = {ENVELOPE: _ENVELOPE_SCHEMA, **_payload_schemas()}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in SPECS:
        name, channel = message_name(spec), _channel_id(spec)
        schemas[f"{name}Event"] = _envelope_of(spec)
        messages[name] = {
            "name": name,
            "title": spec.name,
            "summary": spec.description,
            "contentType": "application/cloudevents+json",
            "headers": _HEADERS_SCHEMA,
            "payload": {"$ref": f"{_SCHEMAS}{name}Event"},
        }
        channels[channel] = {
            "address": spec.subject,
            "title": spec.name,
            "description": f"{spec.description} Stream `{spec.stream}` (subjects `{STREAMS[spec.stream]}`).",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "servers": [{"$ref": "#/servers/nats"}],
            "x-rapport-stream": spec.stream,
        }
        operations[f"{spec.producer}-sends-{channel}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"{spec.producer} publishes {spec.name}",
            "summary": f"Published by {spec.producer} after the change is committed (transactional outbox).",
            "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
            "tags": [{"name": spec.producer}],
        }
    channels["deadletter"] = {
        "address": "deadletter.{durable}",
        "title": "Dead letters",
        "description": (
            "A consumer's poison messages: an envelope or payload that does not parse goes here at once, an "
            "event whose handler kept failing after its last redelivery. The body is the original message, "
            f"unchanged. JetStream stream `{DEADLETTER_STREAM}` (subjects `{STREAMS[DEADLETTER_STREAM]}`)."
        ),
        "parameters": {"durable": {"description": "The durable consumer's name, `<service>-<purpose>`."}},
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        "servers": [{"$ref": "#/servers/nats"}],
        "x-rapport-stream": DEADLETTER_STREAM,
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "A dead-lettered delivery",
        "summary": "The original body of a delivery a consumer gave up on (usually one of the events above).",
        "headers": _DEAD_HEADERS_SCHEMA,
        "payload": {},
    }
    return {
        "asyncapi": "3.0.0",
        "id": "urn:rapport:events",
        "info": {
            "title": "Rapport events",
            "version": VERSION,
            "description": (
                "Every event Rapport's services publish on NATS JetStream, one stream per domain. Each "
                "message is a CloudEvents 1.0 structured-mode JSON envelope with the `tenantid` extension; "
                "`type` is the subject. Payloads change additively only (a breaking change is a new type), "
                "so a consumer must ignore fields it does not know. Delivery is at least once: de-duplicate "
                "on the event `id`."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "nats": {
                "host": "localhost:4222",
                "protocol": "nats",
                "description": "The deployment's NATS server with JetStream (its `NATS_URL`).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
