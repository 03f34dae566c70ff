"""C-CDA R2.1 Continuity of Care Documents: generated from a ``PatientRecord``, validated
against the vendored CDA schema (with SDTC extensions) and the HL7 C-CDA R2.1 Schematron."""

from .generate import AuthoringSystem, GeneratedCcd, Organization, build_ccd
from .validate import (
    CcdaValidator,
    SourceCcdaVerdict,
    Stage,
    ValidationProblem,
    ValidationResult,
    check_source_ccda,
    validate_ccda,
)

__all__ = [
    "AuthoringSystem",
    "CcdaValidator",
    "GeneratedCcd",
    "Organization",
    "SourceCcdaVerdict",
    "Stage",
    "ValidationProblem",
    "ValidationResult",
    "build_ccd",
    "check_source_ccda",
    "validate_ccda",
]
