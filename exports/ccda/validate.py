"""Checking C-CDA documents: CDA R2 XSD (with SDTC extensions) and the C-CDA R2.1
Schematron's errors phase, for the documents we generate and for those a source gives (which
must also be about the patient they are filed under: ``check_source_ccda``).

Compiling the schemas takes a few hundred milliseconds, so each thread keeps its own
compiled ``CcdaValidator`` (lxml's schema and XPath objects are not safe to share between
threads), made on first use: call ``validate_ccda`` from any thread, or from any process
(a forked worker builds its own after the fork, or keeps using a copy it inherited).
The schemas are read from the copies vendored in this package, never from anywhere else.

Problems carry element paths (and line numbers, for documents read from text), and messages
as the validators word them: an XSD message may quote a value from the document itself.
Callers log counts (``ValidationResult.summary``), not the problems.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from exports.sources.records import Demographics

from .generate import GeneratedCcd
from .identity import PatientComparison, compare_patient
from .schematron import CompiledSchematron

SCHEMAS = Path(__file__).resolve().parent / "schemas"
CDA_XSD = SCHEMAS / "cda" / "infrastructure" / "cda" / "CDA_SDTC.xsd"
CCDA_SCHEMATRON = SCHEMAS / "ccda-schematron" / "ccda-r2.1.sch"
CCDA_VOCABULARY = SCHEMAS / "ccda-schematron" / "voc.xml"
SCHEMATRON_PHASE = "errors"


class Stage(enum.StrEnum):
    XML = "xml"  # not well-formed
    XSD = "xsd"
    SCHEMATRON = "schematron"


@dataclass(frozen=True, slots=True)
class ValidationProblem:
    stage: Stage
    line: int | None
    path: str  # e.g. /ClinicalDocument/component/structuredBody/component[3]/section
    rule: str  # the Schematron assertion id (a-1198-8450), or the XSD error type
    message: str

    def __str__(self) -> str:
        where = f"line {self.line} " if self.line else ""
        return f"{self.stage} {where}{self.path}: {self.message} [{self.rule}]"


@dataclass(frozen=True, slots=True)
class ValidationResult:
    problems: tuple[ValidationProblem, ...]

    @property
    def is_valid(self) -> bool:
        return not self.problems

    def count(self, stage: Stage) -> int:
        return sum(1 for problem in self.problems if problem.stage is stage)

    def summary(self) -> str:
        """Counts by stage, safe to log and to show as a reason: no content of the file."""
        if self.is_valid:
            return "valid"
        counts = (self.count(stage) for stage in Stage)
        described = ", ".join(
            f"{count} {stage} problem{'s' if count > 1 else ''}"
            for stage, count in zip(Stage, counts, strict=True)
            if count
        )
        return f"invalid C-CDA ({described})"


class CcdaValidator:
    """The compiled schemas. Not thread-safe: use one per thread (see ``validate_ccda``)."""

    def __init__(self) -> None:
        self._parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        # A source's document may embed a scanned PDF or image as one base64 text node of
        # more than libxml2's default 10 MB cap: still well-formed, so it must parse. Entities
        # stay unresolved and nothing is fetched, as for ours.
        self._source_parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True
        )
        self._xsd = etree.XMLSchema(etree.parse(str(CDA_XSD)))
        self._schematron: CompiledSchematron | None = None  # compiled on first need

    @property
    def schematron(self) -> CompiledSchematron:
        if self._schematron is None:
            self._schematron = CompiledSchematron(
                CCDA_SCHEMATRON, phase=SCHEMATRON_PHASE, vocabulary_path=CCDA_VOCABULARY
            )
        return self._schematron

    def validate(self, document: bytes | Path, *, generated: bool) -> ValidationResult:
        """Check a document given as bytes or as a file path (a source's C-CDA spooled to
        disk) against the XSD, and with ``generated`` the Schematron errors phase too.
        A ``GeneratedCcd`` is checked as the tree it was serialised from, not parsed again
        (its problems then carry no line numbers: the tree was never read from text)."""
        if isinstance(document, GeneratedCcd):
            return self._validate_tree(document.tree, schematron=generated)
        tree = self._parse(document, self._parser)
        if isinstance(tree, ValidationResult):
            return tree
        return self._validate_tree(tree, schematron=generated)

    def check_source(self, document: Path, patient: Demographics) -> SourceCcdaVerdict:
        """A source's C-CDA: is it about ``patient``, and does it pass the XSD and the
        Schematron errors phase? Parsed once; a document about someone else (or no one) is
        checked against the XSD only, since it is not shipped whatever else it passes."""
        tree = self._parse(document, self._source_parser)
        if isinstance(tree, ValidationResult):
            return SourceCcdaVerdict(PatientComparison(named=False), tree)
        patient_comparison = compare_patient(tree, patient)
        validation = self._validate_tree(tree, schematron=patient_comparison.is_same_patient)
        return SourceCcdaVerdict(patient_comparison, validation)

    @staticmethod
    def _parse(
        document: bytes | Path, parser: etree.XMLParser
    ) -> etree._ElementTree | ValidationResult:
        try:
            if isinstance(document, Path):
                return etree.parse(str(document), parser)
            return etree.fromstring(document, parser).getroottree()
        except etree.XMLSyntaxError as error:
            return ValidationResult(
                (ValidationProblem(Stage.XML, error.lineno, "", "not well-formed", error.msg),)
            )

    def _validate_tree(self, tree: etree._ElementTree, *, schematron: bool) -> ValidationResult:
        problems: list[ValidationProblem] = []
        if not self._xsd.validate(tree):
            problems += [
                ValidationProblem(
                    Stage.XSD, entry.line or None, entry.path or "", entry.type_name, entry.message
                )
                for entry in self._xsd.error_log
            ]
        if schematron:
            problems += [
                ValidationProblem(
                    Stage.SCHEMATRON,
                    failure.element.sourceline,
                    _readable_path(failure.element),
                    failure.assert_id,
                    failure.message,
                )
                for failure in self.schematron.failed_asserts(tree)
            ]
        return ValidationResult(tuple(problems))


@dataclass(frozen=True, slots=True)
class SourceCcdaVerdict:
    """What becomes of a source's C-CDA: shipped as the patient's C-CDA when it is about the
    patient and valid; kept as received (beside ours) when it is about the patient but fails
    validation; set aside when it is about someone else, or cannot be told to be about anyone.
    """

    patient: PatientComparison
    validation: ValidationResult

    @property
    def is_usable(self) -> bool:
        return self.patient.is_same_patient and self.validation.is_valid

    @property
    def keep_as_received(self) -> bool:
        return self.patient.is_same_patient and not self.validation.is_valid

    def reason(self) -> str:
        """Why it is not shipped as the patient's C-CDA ("" when it is): no content of it."""
        if self.validation.count(Stage.XML):
            return "it is not well-formed XML"
        if self.patient.named and not self.patient.is_same_patient:
            return self.patient.reason()
        failed = [
            f"the {name} ({count} problem{'s' if count > 1 else ''})"
            for name, count in (
                ("CDA schema", self.validation.count(Stage.XSD)),
                ("C-CDA R2.1 Schematron errors phase", self.validation.count(Stage.SCHEMATRON)),
            )
            if count
        ]
        if failed:
            return f"it fails {' and '.join(failed)}"
        return "" if self.patient.named else self.patient.reason()


_per_thread = threading.local()


def _validator() -> CcdaValidator:
    """This thread's ``CcdaValidator`` (compiled on first use)."""
    validator = getattr(_per_thread, "validator", None)
    if validator is None:
        validator = _per_thread.validator = CcdaValidator()
    return validator


def validate_ccda(document: bytes | Path, *, generated: bool) -> ValidationResult:
    """Validate with this thread's ``CcdaValidator``."""
    return _validator().validate(document, generated=generated)


def check_source_ccda(document: Path, patient: Demographics) -> SourceCcdaVerdict:
    """``CcdaValidator.check_source`` with this thread's validator."""
    return _validator().check_source(document, patient)


def _readable_path(element: etree._Element) -> str:
    """/ClinicalDocument/component/structuredBody/component[3]/section: local names, with
    a position where siblings share the name."""
    steps = []
    node: etree._Element | None = element
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        step = name
        if parent is not None:
            same = list(parent.iterchildren(node.tag))
            if len(same) > 1:
                step = f"{name}[{same.index(node) + 1}]"
        steps.append(step)
        node = parent
    return "/" + "/".join(reversed(steps))
