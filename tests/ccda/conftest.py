import pytest
from lxml import etree
from schematron_reference import compile_reference


@pytest.fixture(scope="session")
def reference() -> etree.XSLT:
    """The reference ISO Schematron, compiled once for the session (it takes seconds)."""
    return compile_reference()
