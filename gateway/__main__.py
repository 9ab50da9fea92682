"""`python -m gateway --port 8000`: run the API gateway."""

import os

from gateway.app import create_app
from gateway.settings import GatewaySettings
from shared.runner import serve

if __name__ == "__main__":
    # uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; at the edge a client could forge its IP.
    os.environ["FORWARDED_ALLOW_IPS"] = GatewaySettings().trusted_proxies
    serve(create_app, name="gateway", default_port=8000)
