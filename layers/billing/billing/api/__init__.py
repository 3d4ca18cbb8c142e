"""The merchant API's HTTP layer: request and response models, the error contract, one router
per resource. Services never import from here; this package renders what they return."""
