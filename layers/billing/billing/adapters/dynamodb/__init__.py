"""The single DynamoDB table behind the Repository port (and the merchant key store).

`keys` (the key design), `codec` (attribute values), `records` (domain object <-> stored item),
`cursor` (opaque page cursors), `queries` (which index answers which list, and how pages are
read), `writes` (versioned transactions and the attempt start marker), `repository` (the port).
"""
