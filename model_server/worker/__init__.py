"""The queue worker of the asynchronous path: ``python -m model_server.worker``.

Configured by ``WORKER_*`` environment variables only (``settings.py``); see docs/worker.md.
"""
