"""The HTTP service: FastAPI app, job store, webhooks, review page (``packshot serve``)."""
