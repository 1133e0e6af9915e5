"""Grounded question answering over Chinese documents: every claim cites the paragraph it comes from."""

__version__ = "0.1.0"
