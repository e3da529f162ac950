"""Pytest root: this file's presence puts the repository root on sys.path, so tests import app/models/data."""
