"""lcad service: the FastAPI scoring app."""
