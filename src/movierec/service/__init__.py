"""The HTTP service: a FastAPI app over a saved run, and its web page."""
