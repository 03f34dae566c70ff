"""The package step's own failure: the deliverable would be incomplete or inconsistent."""


class PackagingError(Exception):
    """Raised instead of producing a deliverable that is wrong. Messages carry no PHI."""
