"""Revisions of the CRM schema, oldest first (``0001``, ``0002``, ...)."""
