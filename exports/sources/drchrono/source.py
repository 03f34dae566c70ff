"""The DrChrono REST API v4 as a practice source.

``prepare()`` pages through the practice-wide lists once (a few hundred requests where
per-patient calls would cost thousands of DrChrono's 500 an hour) into a SQLite spool keyed by
patient; ``read_patient()`` then assembles each patient from the spool without a request. Files
stay on DrChrono until packaging reads their ``Blob``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..base import ConnectionReport, PracticeSource
from ..records import (
    NOT_TIED_TO_A_PATIENT,
    PATIENT_UNREADABLE,
    Blob,
    Category,
    FaxOrReferral,
    InsurancePriority,
    LabResult,
    PatientRecord,
    PatientUnreadable,
    RecordExclusion,
    RecordFailure,
    RecordUnavailable,
    SourceError,
)
from . import mapping
from .budget import Clock, RequestBudget, SystemClock
from .client import (
    VERBOSE_PAGE_SIZE,
    ClientSettings,
    DrChronoClient,
    OAuthTokens,
    TokenStore,
)
from .files import DEFAULT_MAX_BYTES, RemoteFile, extension_of
from .mapping import MappingError
from .spool import Spool, SpooledRecord, spool_key

logger = logging.getLogger(__name__)

#: before any appointment in any EHR was created or updated: ``since`` this lists them all
APPOINTMENTS_CHANGED_SINCE = "1900-01-01"
SPOOL_FILE_NAME = "drchrono-spool.sqlite3"

_PATIENTS = "patients"
_APPOINTMENTS = "appointments"
_PATIENT_LAB_RESULTS = "patient_lab_results"
_LAB_RESULTS = "lab_results"
_PATIENT_MESSAGES = "patient_messages"
_MESSAGES = "messages"
_PAYMENTS = "patient_payments"
_BREAKS = "appointment_breaks"


@dataclass(frozen=True, slots=True)
class _Walk:
    """One paged list to spool: where from, under which kind, and whose each record is."""

    name: str  # unique per walk: the resume key
    kind: str  # what the records are, in the spool
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    owner: Callable[[dict[str, Any]], str | None] | None = None
    #: where calendar breaks go: not patient data, but part of the list's length
    breaks_kind: str | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        return (self.kind,) if self.breaks_kind is None else (self.kind, self.breaks_kind)


class DrChronoSource(PracticeSource):
    """One practice's data through DrChrono REST API v4, spooled locally.

    Appointments are read in one walk with ``since`` set before any EHR existed: ``since``
    bounds when an appointment was created or updated, so every appointment qualifies whatever
    its scheduled date (a 1995 visit imported in 2019, a booking for 2030), where scheduled-date
    windows (``date_range``, at most 190 days each) would need a guessed first and last date and
    hundreds of requests. ``show_archived`` lists deleted appointments too: they are seen and
    counted (excluded), and a signed note on one is still exported.
    """

    kind = "drchrono"

    def __init__(
        self,
        client: DrChronoClient,
        spool_dir: Path,
        *,
        include_source_ccda: bool = True,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._client = client
        self._spool = Spool(Path(spool_dir) / SPOOL_FILE_NAME)
        self._include_source_ccda = include_source_ccda
        self._max_file_bytes = max_file_bytes
        self._names: dict[str, dict[str, str]] | None = None

    @classmethod
    def connect(
        cls,
        settings: ClientSettings,
        tokens: OAuthTokens,
        *,
        token_store: TokenStore,
        budget: RequestBudget,
        spool_dir: Path,
        clock: Clock | None = None,
        **options: Any,
    ) -> DrChronoSource:
        """A source with its own client, spending from ``budget``."""
        clock = clock or SystemClock()
        client = DrChronoClient(
            settings, tokens, token_store=token_store, budget=budget, clock=clock
        )
        return cls(client, spool_dir, **options)

    # -- PracticeSource ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Spool every practice-wide list; resumes a spool an earlier run left half done."""
        if self._spool.meta("complete") == "1":
            return
        for walk in self._walks():
            self._spool_walk(walk)
        self._spool.set_meta("complete", "1")
        logger.info("DrChrono spool complete: %d patients", self._spool.count(_PATIENTS))

    def patient_ids(self) -> Iterator[str]:
        self.prepare()
        return self._spool.record_ids(_PATIENTS)

    def read_patient(self, patient_id: str) -> PatientRecord:
        self.prepare()
        spooled = self._spool.get(_PATIENTS, patient_id)
        if spooled is None:
            raise RecordUnavailable(f"patient {patient_id} is not in the DrChrono patient list")
        raw = spooled.body
        try:
            demographics = mapping.demographics(raw, self._providers)
        except MappingError as exc:
            raise PatientUnreadable(
                f"patient {patient_id}: {exc}", self._dependents(patient_id, raw)
            ) from None
        record = PatientRecord(demographics=demographics)
        self._read_insurances(record, raw)
        self._read_photo(record, raw)
        self._read_lists(record)
        if self._include_source_ccda:
            record.ccda = RemoteFile(
                self._client,
                f"/api/patients/{patient_id}/ccda",
                label=f"patients {patient_id} C-CDA",
                extension="xml",
                max_bytes=self._max_file_bytes,
            )
        return record

    def counts_in_source(self) -> Mapping[Category, int]:
        """What the spool holds, plus what DrChrono said a list holds beyond that: where a
        page gives the list's ``count``, a page lost in reading leaves the category unbalanced
        instead of balancing against the same short list. Without ``count`` (the OpenAPI
        document shows none) the spool is all there is to count."""
        self.prepare()
        counts = dict.fromkeys(Category, 0)
        counts[Category.PATIENTS] = self._spool.count(_PATIENTS)
        for patient in self._spool.all_records(_PATIENTS):
            coverages = mapping.present_insurances(patient.body)
            counts[Category.INSURANCE] += len(coverages)
            counts[Category.INSURANCE_CARD_IMAGES] += sum(
                mapping.card_image_count(coverage) for _, coverage in coverages
            )
            counts[Category.PATIENT_PHOTOS] += mapping.has_photo(patient.body)
        counts[Category.PAYMENTS] = self._spool.count(_PAYMENTS)
        counts[Category.MEDICATIONS] = self._spool.count("medications")
        counts[Category.ALLERGIES] = self._spool.count("allergies")
        counts[Category.PROBLEMS] = self._spool.count("problems")
        counts[Category.DOCUMENTS] = self._spool.count("documents")
        counts[Category.APPOINTMENTS] = self._spool.count(_APPOINTMENTS)
        counts[Category.CLINICAL_NOTES] = sum(
            mapping.has_clinical_note(appointment.body)
            for appointment in self._spool.all_records(_APPOINTMENTS)
        )
        counts[Category.LAB_RESULTS] = self._spool.count(_PATIENT_LAB_RESULTS)
        for result in self._spool.all_records(_LAB_RESULTS):
            counts[self._lab_category(result.body)] += 1
        for kind in (_PATIENT_MESSAGES, _MESSAGES):
            for message in self._spool.all_records(kind):
                category = self._category_of(kind, message.body)
                counts[category] += 1
                if category is Category.MESSAGES:
                    attachments = mapping.message_attachments(message.body)
                    counts[Category.MESSAGE_ATTACHMENTS] += len(attachments)
        for walk in self._walks():
            category = _LISTED_CATEGORY.get(walk.kind)
            listed = self._spool.listed(walk.name)
            if category is not None and listed is not None:
                spooled = sum(self._spool.count(kind) for kind in walk.kinds)
                counts[category] += max(0, listed - spooled)
        return counts

    def unattached_records(self) -> Iterator[FaxOrReferral]:
        self.prepare()
        for message in self._unattached_messages():
            if not mapping.is_fax_or_referral(message.body):
                continue
            try:
                yield mapping.fax_or_referral(message.body, self._file)
            except MappingError as exc:
                logger.warning("messages %s cannot be read: %s", message.record_id, exc)

    def exclusions_outside_patients(self) -> Iterator[RecordExclusion]:
        """Message-center items of no patient that are no fax or referral (a practice-wide
        generated report, say), with their attachments."""
        self.prepare()
        for message in self._unattached_messages():
            if mapping.is_fax_or_referral(message.body):
                continue
            yield RecordExclusion(Category.MESSAGES, message.record_id, NOT_TIED_TO_A_PATIENT)
            for attachment_id, _ in mapping.message_attachments(message.body):
                yield RecordExclusion(
                    Category.MESSAGE_ATTACHMENTS, attachment_id, NOT_TIED_TO_A_PATIENT
                )

    def records_outside_patients(self) -> Iterator[RecordFailure]:
        """Records DrChrono listed for no patient it listed: counted, so reported as failed.

        Message-center items tied to no patient are not among them (``unattached_records`` and
        ``exclusions_outside_patients`` have them), unless a fax or referral cannot be read.
        """
        self.prepare()
        for kind in _OWNED_KINDS:
            for record in self._spool.unowned_records(kind, _PATIENTS):
                if kind == _MESSAGES and record.patient_id is None:
                    yield from self._unreadable_unattached(record)
                    continue
                yield from self._failures_with_dependents(kind, record, _orphan_reason(record))

    def test_connection(self) -> ConnectionReport:
        """Counts the patients (from the spool when it is complete, else by paging ids)."""
        try:
            if self._spool.meta("complete") == "1":
                count = self._spool.count(_PATIENTS)
            else:
                count = sum(
                    len(page.items)
                    for page in self._client.iter_pages("/api/patients", _PATIENT_PARAMS)
                )
        except SourceError as exc:
            return ConnectionReport(ok=False, patient_count=None, detail=str(exc))
        return ConnectionReport(ok=True, patient_count=count, detail="DrChrono answered")

    def close(self) -> None:
        """Close the connection and the spool file (the spool stays for a later run)."""
        self._spool.close()
        self._client.close()

    # -- Spooling ----------------------------------------------------------------------------

    def _walks(self) -> Iterator[_Walk]:
        yield _Walk("doctors", "doctors", "/api/doctors")
        yield _Walk("offices", "offices", "/api/offices")
        yield _Walk(_PATIENTS, _PATIENTS, "/api/patients", _PATIENT_PARAMS)
        yield _Walk("sublabs", "sublabs", "/api/sublabs")
        yield _Walk("lab_orders", "lab_orders", "/api/lab_orders", owner=_patient_field)
        yield _Walk("lab_tests", "lab_tests", "/api/lab_tests")
        yield _Walk("lab_documents", "lab_documents", "/api/lab_documents")
        # After lab_orders: a result names its order, and the order its patient.
        yield _Walk(_LAB_RESULTS, _LAB_RESULTS, "/api/lab_results", owner=self._order_patient)
        for kind in (
            "medications",
            "allergies",
            "problems",
            "documents",
            _PATIENT_LAB_RESULTS,
            _PATIENT_MESSAGES,
        ):
            yield _Walk(kind, kind, f"/api/{kind}", owner=_patient_field)
        # Every type: faxes and referrals, incoming labs, Direct messages, generated files, ...
        yield _Walk(_MESSAGES, _MESSAGES, "/api/messages", owner=_patient_field)
        yield _Walk(_PAYMENTS, _PAYMENTS, "/api/patient_payments", owner=_patient_field)
        yield _Walk(
            _APPOINTMENTS,
            _APPOINTMENTS,
            "/api/appointments",
            {
                "since": APPOINTMENTS_CHANGED_SINCE,
                "show_archived": "true",
                "verbose": "true",  # clinical_note and vitals come only with verbose
                "page_size": VERBOSE_PAGE_SIZE,
            },
            owner=_patient_field,
            breaks_kind=_BREAKS,
        )

    def _spool_walk(self, walk: _Walk) -> None:
        state = self._spool.walk(walk.name)
        if state.complete:
            return
        if state.started:
            logger.info("DrChrono spool resumes %s", walk.name)
        for page in self._client.iter_pages(walk.path, walk.params, start_url=state.next_url):
            records: dict[str, list[SpooledRecord]] = {kind: [] for kind in walk.kinds}
            for item in page.items:
                kind = walk.breaks_kind if walk.breaks_kind and _is_break(item) else walk.kind
                records[kind].append(self._spooled(walk, item))
            self._spool.save_page(walk.name, records, page.next_url, listed=page.count)

    def _spooled(self, walk: _Walk, item: Any) -> SpooledRecord:
        body = item if isinstance(item, dict) else {"unreadable": item}
        owner = walk.owner(body) if walk.owner and isinstance(item, dict) else None
        return SpooledRecord(record_id=spool_key(body), patient_id=owner, body=body)

    def _order_patient(self, result: dict[str, Any]) -> str | None:
        order_id = result.get("lab_order")
        order = self._spool.get("lab_orders", str(order_id)) if order_id is not None else None
        return order.patient_id if order else None

    # -- Assembling a patient ----------------------------------------------------------------

    def _dependents(self, patient_id: str, raw: dict[str, Any]) -> list[RecordFailure]:
        """Every record counted for a patient whose own record cannot be read, failed."""
        failures = [
            failure
            for priority, coverage in mapping.present_insurances(raw)
            for failure in _insurance_failures(patient_id, priority, coverage, PATIENT_UNREADABLE)
        ]
        if mapping.has_photo(raw):
            failures.append(RecordFailure(Category.PATIENT_PHOTOS, patient_id, PATIENT_UNREADABLE))
        for kind in _OWNED_KINDS:
            for spooled in self._spool.records_of(kind, patient_id):
                failures.extend(self._failures_with_dependents(kind, spooled, PATIENT_UNREADABLE))
        return failures

    def _read_insurances(self, record: PatientRecord, raw: dict[str, Any]) -> None:
        for priority, coverage in mapping.present_insurances(raw):
            try:
                record.insurances.append(
                    mapping.insurance(record.id, priority, coverage, self._file)
                )
            except MappingError as exc:
                record.failures.extend(_insurance_failures(record.id, priority, coverage, str(exc)))

    def _read_photo(self, record: PatientRecord, raw: dict[str, Any]) -> None:
        try:
            record.photo = mapping.patient_photo(raw, self._file)
        except MappingError as exc:
            record.failures.append(RecordFailure(Category.PATIENT_PHOTOS, record.id, str(exc)))

    def _read_lists(self, record: PatientRecord) -> None:
        providers, offices, file = self._providers, self._offices, self._file
        readers: list[tuple[str, Category, list[Any], Callable[[dict[str, Any]], Any]]] = [
            (_PAYMENTS, Category.PAYMENTS, record.payments, mapping.payment),
            ("medications", Category.MEDICATIONS, record.medications,
             lambda raw: mapping.medication(raw, providers)),
            ("allergies", Category.ALLERGIES, record.allergies, mapping.allergy),
            ("problems", Category.PROBLEMS, record.problems, mapping.problem),
            (_APPOINTMENTS, Category.APPOINTMENTS, record.appointments,
             lambda raw: mapping.appointment(raw, providers, offices)),
            ("documents", Category.DOCUMENTS, record.documents,
             lambda raw: mapping.document(raw, file)),
            (_PATIENT_LAB_RESULTS, Category.LAB_RESULTS, record.lab_results,
             lambda raw: mapping.patient_lab_result(raw, providers, file)),
            (_PATIENT_MESSAGES, Category.MESSAGES, record.messages,
             lambda raw: mapping.patient_message(raw, providers, file)),
        ]  # fmt: skip
        for kind, category, into, read in readers:
            for spooled in self._spool.records_of(kind, record.id):
                try:
                    into.append(read(spooled.body))
                except MappingError as exc:
                    record.failures.extend(_failures(category, spooled, str(exc)))
        for spooled in self._spool.records_of(_APPOINTMENTS, record.id):
            if not mapping.has_clinical_note(spooled.body):
                continue
            try:
                record.clinical_notes.append(mapping.clinical_note(spooled.body, providers, file))
            except MappingError as exc:
                record.failures.append(
                    RecordFailure(Category.CLINICAL_NOTES, spooled.record_id, str(exc))
                )
        for spooled in self._spool.records_of(_LAB_RESULTS, record.id):
            try:
                record.lab_results.append(self._order_lab_result(spooled.body))
            except MappingError as exc:
                record.failures.append(
                    RecordFailure(self._lab_category(spooled.body), spooled.record_id, str(exc))
                )
        for spooled in self._spool.records_of(_MESSAGES, record.id):
            try:
                if mapping.is_fax_or_referral(spooled.body):
                    record.faxes_and_referrals.append(mapping.fax_or_referral(spooled.body, file))
                else:
                    record.messages.append(mapping.message_center_item(spooled.body, file))
            except MappingError as exc:
                category = self._category_of(_MESSAGES, spooled.body)
                record.failures.extend(_failures(category, spooled, str(exc)))

    def _order_lab_result(self, raw: dict[str, Any]) -> LabResult:
        order, test, vendor, report = self._lab_context(raw)
        return mapping.order_lab_result(
            raw,
            order=order,
            test=test,
            vendor_name=vendor,
            report_url=report,
            providers=self._providers,
            file=self._file,
        )

    def _lab_context(
        self, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any] | None, str, str]:
        """(order, test, vendor name, report URL) of an order's result, as far as known."""
        order = self._spooled_body("lab_orders", raw.get("lab_order")) or {}
        test = self._spooled_body("lab_tests", raw.get("lab_test"))
        sublab = self._spooled_body("sublabs", order.get("sublab")) or {}
        vendor = sublab.get("vendor_name") or sublab.get("name") or ""
        document = self._spooled_body("lab_documents", raw.get("document")) or {}
        report = document.get("document")
        return (
            order,
            test,
            vendor if isinstance(vendor, str) else "",
            report if isinstance(report, str) else "",
        )

    def _category_of(self, kind: str, raw: dict[str, Any]) -> Category:
        """The reconciliation category of a spooled record of ``kind``."""
        if kind == _LAB_RESULTS:
            return self._lab_category(raw)
        if kind == _MESSAGES:
            fax = mapping.is_fax_or_referral(raw)
            return Category.FAXES_AND_REFERRALS if fax else Category.MESSAGES
        return _PATIENT_KINDS[kind]

    def _failures_with_dependents(
        self, kind: str, spooled: SpooledRecord, reason: str
    ) -> Iterator[RecordFailure]:
        """A record that cannot be given to its patient, and what goes down with it: an
        appointment's note, a message's attachments."""
        yield from _failures(self._category_of(kind, spooled.body), spooled, reason)
        if kind == _APPOINTMENTS and mapping.has_clinical_note(spooled.body):
            yield RecordFailure(Category.CLINICAL_NOTES, spooled.record_id, reason)

    def _unattached_messages(self) -> Iterator[SpooledRecord]:
        return (
            message
            for message in self._spool.unowned_records(_MESSAGES, _PATIENTS)
            if message.patient_id is None
        )

    def _unreadable_unattached(self, message: SpooledRecord) -> Iterator[RecordFailure]:
        """An unattached fax or referral is excluded, unless it cannot even be read."""
        if not mapping.is_fax_or_referral(message.body):
            return
        try:
            mapping.fax_or_referral(message.body, self._file)
        except MappingError as exc:
            yield RecordFailure(Category.FAXES_AND_REFERRALS, message.record_id, str(exc))

    def _lab_category(self, raw: dict[str, Any]) -> Category:
        _, _, vendor, _ = self._lab_context(raw)
        return mapping.lab_source_of(vendor).category

    def _spooled_body(self, kind: str, record_id: Any) -> dict[str, Any] | None:
        if record_id is None or isinstance(record_id, dict | list):
            return None
        spooled = self._spool.get(kind, str(record_id))
        return spooled.body if spooled else None

    def _file(self, url: str, label: str, default_extension: str) -> Blob:
        return RemoteFile(
            self._client,
            url,
            label=label,
            extension=extension_of(url, default_extension),
            max_bytes=self._max_file_bytes,
        )

    @property
    def _providers(self) -> dict[str, str]:
        return self._reference_names()["doctors"]

    @property
    def _offices(self) -> dict[str, str]:
        return self._reference_names()["offices"]

    def _reference_names(self) -> dict[str, dict[str, str]]:
        """Doctor and office names by id: a practice has few, so they stay in memory."""
        if self._names is None:
            doctors = {
                spooled.record_id: " ".join(
                    part
                    for part in (spooled.body.get("first_name"), spooled.body.get("last_name"))
                    if isinstance(part, str) and part
                )
                or spooled.record_id
                for spooled in self._spool.all_records("doctors")
            }
            offices = {
                spooled.record_id: name
                if isinstance(name := spooled.body.get("name"), str) and name
                else spooled.record_id
                for spooled in self._spool.all_records("offices")
            }
            self._names = {"doctors": doctors, "offices": offices}
        return self._names


#: Inactive and deceased patients are listed only when asked for (``date_of_death`` too).
_PATIENT_PARAMS = {"show_inactive": "true"}

#: Spool kinds read straight into a patient's record, and their reconciliation category.
_PATIENT_KINDS = {
    _PAYMENTS: Category.PAYMENTS,
    "medications": Category.MEDICATIONS,
    "allergies": Category.ALLERGIES,
    "problems": Category.PROBLEMS,
    _APPOINTMENTS: Category.APPOINTMENTS,
    "documents": Category.DOCUMENTS,
    _PATIENT_LAB_RESULTS: Category.LAB_RESULTS,
    _PATIENT_MESSAGES: Category.MESSAGES,
}


#: Where a list's shortfall shows. Lists of two categories show it on one: a missing fax shows
#: as a missing message, and either way the export does not balance.
_LISTED_CATEGORY = {
    _PATIENTS: Category.PATIENTS,
    **_PATIENT_KINDS,
    _LAB_RESULTS: Category.INTEGRATION_LAB_RESULTS,  # every one came through a lab integration
    _MESSAGES: Category.MESSAGES,
}

#: Every spool kind whose records belong to a patient.
_OWNED_KINDS = (*_PATIENT_KINDS, _LAB_RESULTS, _MESSAGES)


def _patient_field(body: dict[str, Any]) -> str | None:
    value = body.get("patient")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        return None
    return str(value)


def _is_break(item: Any) -> bool:
    return isinstance(item, dict) and mapping.is_break(item)


def _failures(category: Category, spooled: SpooledRecord, reason: str) -> list[RecordFailure]:
    """The failure of one record, and of the attachments that go down with a message."""
    failures = [RecordFailure(category, spooled.record_id, reason)]
    if category is Category.MESSAGES:
        failures.extend(
            RecordFailure(Category.MESSAGE_ATTACHMENTS, attachment_id, reason)
            for attachment_id, _ in mapping.message_attachments(spooled.body)
        )
    return failures


def _insurance_failures(
    patient_id: str, priority: InsurancePriority, coverage: Mapping[str, Any], reason: str
) -> list[RecordFailure]:
    """The failure of one coverage, and of its card images."""
    insurance_id = f"{patient_id}-{priority.value}"
    return [
        RecordFailure(Category.INSURANCE, insurance_id, reason),
        *(
            RecordFailure(Category.INSURANCE_CARD_IMAGES, insurance_id, reason)
            for _ in range(mapping.card_image_count(coverage))
        ),
    ]


def _orphan_reason(record: SpooledRecord) -> str:
    if record.patient_id is None:
        return "names no patient"
    return f"names patient {record.patient_id}, who is not in the DrChrono patient list"
