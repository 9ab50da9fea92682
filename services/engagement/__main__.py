"""`python -m services.engagement --port 8004`."""

from services.engagement.app import create_app
from shared.runner import serve

if __name__ == "__main__":
    serve(create_app, name="services.engagement", default_port=8004)
