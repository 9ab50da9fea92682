"""`python -m services.listening --port 8002`."""

from services.listening.app import create_app
from shared.runner import serve

if __name__ == "__main__":
    serve(create_app, name="services.listening", default_port=8002)
