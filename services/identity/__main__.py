"""`python -m services.identity --port 8001`."""

from services.identity.app import create_app
from shared.runner import serve

if __name__ == "__main__":
    serve(create_app, name="services.identity", default_port=8001)
