"""Developer tooling shared by the tests and the local runtime (never deployed)."""
