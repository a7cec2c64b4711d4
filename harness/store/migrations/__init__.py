"""Alembic revisions of the results database (see :mod:`harness.store.migrate`).

``env.py`` runs the revisions on the connection :mod:`harness.store.migrate` hands it, in one
transaction; ``versions/`` holds one small, named revision per schema change.
"""
