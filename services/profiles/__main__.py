"""`python -m services.profiles --port 8003`."""

from services.profiles.app import create_app
from shared.runner import serve

if __name__ == "__main__":
    serve(create_app, name="services.profiles", default_port=8003)
