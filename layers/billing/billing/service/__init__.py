"""Use cases over the domain. Dependencies (repository, clock, ids, links) are injected."""
