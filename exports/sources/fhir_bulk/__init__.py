"""Any certified EHR through FHIR R4 Bulk Data ($export), with SMART Backend Services."""

from .keys import KeyRing, SigningKey
from .source import FhirBulkSettings, FhirBulkSource

__all__ = ["FhirBulkSettings", "FhirBulkSource", "KeyRing", "SigningKey"]
