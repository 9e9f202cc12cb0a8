"""HTTP: the FastAPI app, its routes, request dependencies, schemas and the web page."""
