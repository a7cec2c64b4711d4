"""Alembic revisions of the results database (see :mod:`harness.db`).

``env.py`` runs the revisions on the connection :mod:`harness.db` hands it, in one
transaction; ``versions/`` holds one small, named revision per schema change.
"""
