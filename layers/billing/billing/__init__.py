"""Recurring payments: the shared package (pure domain, service layer, adapters).

Deployed as a Lambda layer; `functions/*/app.py` are thin handlers around it.
"""
