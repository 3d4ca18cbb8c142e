"""E-mails to the customer: their words in each language, their text and HTML templates."""
