"""`python -m services.metrics --port 8005`."""

from services.metrics.app import create_app
from shared.runner import serve

if __name__ == "__main__":
    serve(create_app, name="services.metrics", default_port=8005)
