"""The customer's hosted page: its words (`texts`), its HTML (`templates/`, rendered by `render`
with Jinja2, autoescaping on), its security headers (`headers`) and its forms (`forms`).
The handler is `functions/customer_page/app.py`; the use cases are `service/customer_portal.py`."""
