"""Gradio web app: one module per tab (data, train, runs, playground, export), assembled in server.py."""

import os

# Before anything imports gradio: the app runs offline and reports nothing home.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
