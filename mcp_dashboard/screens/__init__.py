"""Screens pushed over the main dashboard."""
