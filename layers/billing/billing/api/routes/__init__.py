"""The merchant API's routes, one Router per resource (included by `functions/api/app.py`)."""
