"""HTTP adapters: the FastAPI app."""
