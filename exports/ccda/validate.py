"""Checking C-CDA documents: CDA R2 XSD (with SDTC extensions) always, and for documents we
generate, the C-CDA R2.1 Schematron's errors phase as well.

Compiling the schemas takes a few hundred milliseconds, so each thread keeps its own
compiled ``CcdaValidator`` (lxml's schema and XPath objects are not safe to share between
threads), made on first use: call ``validate_ccda`` from any thread, or from any process
(a forked worker builds its own after the fork, or keeps using a copy it inherited).
The schemas are read from the copies vendored in this package, never from anywhere else.

Problems carry line numbers and element paths, and messages as the validators word them:
an XSD message may quote a value from the document itself. Callers log counts
(``ValidationResult.summary``), not the problems.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

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
        disk). ``generated``: ours, so the Schematron errors phase applies too."""
        try:
            if isinstance(document, Path):
                tree = etree.parse(str(document), self._parser)
            else:
                tree = etree.fromstring(document, self._parser).getroottree()
        except etree.XMLSyntaxError as error:
            return ValidationResult(
                (ValidationProblem(Stage.XML, error.lineno, "", "not well-formed", error.msg),)
            )
        problems: list[ValidationProblem] = []
        if not self._xsd.validate(tree):
            problems += [
                ValidationProblem(
                    Stage.XSD, entry.line, entry.path or "", entry.type_name, entry.message
                )
                for entry in self._xsd.error_log
            ]
        if generated:
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


_per_thread = threading.local()


def validate_ccda(document: bytes | Path, *, generated: bool) -> ValidationResult:
    """Validate with this thread's ``CcdaValidator`` (compiled on first use)."""
    validator = getattr(_per_thread, "validator", None)
    if validator is None:
        validator = _per_thread.validator = CcdaValidator()
    return validator.validate(document, generated=generated)


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
