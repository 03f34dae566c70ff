"""The DrChrono REST API v4 as a practice source.

``prepare()`` pages through the practice-wide lists once (a few hundred requests where
per-patient calls would cost thousands of DrChrono's 500 an hour) into a SQLite spool keyed by
patient; ``read_patient()`` then assembles each patient from the spool without a request. Files
stay on DrChrono until packaging reads their ``Blob``.

Lists are read the cheapest way DrChrono offers: the asynchronous bulk list where one exists
(1,000 a page), else the paged list at its largest page (250). An auxiliary list (names of
doctors, offices, lab vendors, lab tests) that DrChrono refuses (403/404: a scope the
application lacks) leaves what it would have added unavailable, said in ``notes()``; a
refused list of patient data stops the export, naming the list.
"""

from __future__ import annotations

import logging
import re
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
    SourceAsksToWait,
    SourceError,
    TransientSourceError,
)
from . import mapping
from .budget import Clock, RequestBudget, SystemClock
from .bulk import iter_bulk_pages
from .client import (
    PAGE_SIZE,
    VERBOSE_PAGE_SIZE,
    ClientSettings,
    DrChronoClient,
    OAuthTokens,
    SourceRefused,
    TokenStore,
    Usage,
)
from .files import DEFAULT_MAX_BYTES, FileCache, RemoteFile, extension_of, file_key
from .mapping import MappingError
from .spool import Spool, SpooledRecord, spool_key

logger = logging.getLogger(__name__)

#: before any appointment in any EHR was created or updated: ``since`` this lists them all
APPOINTMENTS_CHANGED_SINCE = "1900-01-01"
SPOOL_FILE_NAME = "drchrono-spool.sqlite3"
FILE_CACHE_FOLDER = "files"
#: where a walk read in bulk stands, in the spool's ``next_url`` column
_BULK_PAGE = "bulk-page:"

_PATIENTS = "patients"
_APPOINTMENTS = "appointments"
_PATIENT_LAB_RESULTS = "patient_lab_results"
_LAB_RESULTS = "lab_results"
_PATIENT_MESSAGES = "patient_messages"
_MESSAGES = "messages"
_PAYMENTS = "patient_payments"
_BREAKS = "appointment_breaks"
_VACCINE_RECORDS = "patient_vaccine_records"


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
    #: the asynchronous bulk list with the same records, read first when there is one
    bulk_path: str | None = None
    page_size: int = PAGE_SIZE
    #: what the deliverable loses when DrChrono refuses this list, if it is only auxiliary
    #: (None: the list holds patient data and a refusal stops the export)
    if_refused: str | None = None

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
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        self._clock = clock or SystemClock()
        self._spool = Spool(Path(spool_dir) / SPOOL_FILE_NAME)
        self._files = FileCache(Path(spool_dir) / FILE_CACHE_FOLDER)
        self._include_source_ccda = include_source_ccda
        self._max_file_bytes = max_file_bytes
        self._names: dict[str, dict[str, str]] | None = None
        self._shared_files: set[str] | None = None

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
        usage: Usage | None = None,
        **options: Any,
    ) -> DrChronoSource:
        """A source with its own client, spending from ``budget`` (and counting in ``usage``
        when given, to be read after the source is closed)."""
        clock = clock or SystemClock()
        client = DrChronoClient(
            settings, tokens, token_store=token_store, budget=budget, clock=clock, usage=usage
        )
        return cls(client, spool_dir, clock=clock, **options)

    @property
    def fetches_ccda_per_patient(self) -> bool:  # type: ignore[override]
        return self._include_source_ccda

    @property
    def usage(self) -> Usage:
        """What this source's client spent: API calls by endpoint, file downloads."""
        return self._client.usage

    # -- PracticeSource ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Spool every practice-wide list; resumes a spool an earlier run left half done."""
        if self._spool.meta("complete") == "1":
            return
        for walk in self._walks():
            try:
                self._spool_walk(walk)
            except (SourceRefused, RecordUnavailable) as exc:
                self._refused(walk, exc)
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
                cache=self._files,  # an API call: a resumed run does not repeat it
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
        counts[Category.IMMUNIZATIONS] = self._spool.count(_VACCINE_RECORDS)
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

    def list_sizes(self) -> dict[str, int | None]:
        """How many records each list holds, one cheap call each (a page of one, which says
        the list's ``count``); None where DrChrono does not say or refuses the list."""
        sizes: dict[str, int | None] = {}
        for walk in self._walks():
            try:
                page = next(self._client.iter_pages(walk.path, walk.params, page_size=1))
            except (SourceRefused, RecordUnavailable):
                sizes[walk.name] = None
                continue
            sizes[walk.name] = page.count
        return sizes

    def notes(self) -> list[str]:
        """What the export lacks because DrChrono refused an auxiliary list."""
        self.prepare()
        return [
            note
            for walk in self._walks()
            if (note := self._spool.meta(f"unavailable:{walk.name}")) is not None
        ]

    def close(self) -> None:
        """Close the connection and the spool file (the spool stays for a later run)."""
        self._spool.close()
        self._client.close()

    # -- Spooling ----------------------------------------------------------------------------

    def _walks(self) -> Iterator[_Walk]:
        return practice_walks(self._order_patient)

    def _refused(self, walk: _Walk, refusal: SourceError) -> None:
        """An auxiliary list DrChrono refuses is noted and done with; a list of patient data
        stops the export, naming the list."""
        if walk.if_refused is None:
            raise SourceError(
                f"DrChrono refused the list {walk.path} ({refusal}); it holds patient data, "
                "so the export cannot be complete without it. Grant the DrChrono API "
                "application the scope for it, then retry."
            ) from None
        note = f"{walk.if_refused} (DrChrono refused {walk.path}: {_status_of(refusal)})"
        logger.warning("DrChrono %s refused; %s", walk.path, walk.if_refused)
        self._spool.set_meta(f"unavailable:{walk.name}", note)
        self._spool.save_page(walk.name, {}, None)

    def _spool_walk(self, walk: _Walk) -> None:
        state = self._spool.walk(walk.name)
        if state.complete:
            return
        if state.started:
            logger.info("DrChrono spool resumes %s", walk.name)
        if walk.bulk_path is not None and self._spool.meta(f"paged:{walk.name}") is None:
            start = 1
            if state.next_url and state.next_url.startswith(_BULK_PAGE):
                start = int(state.next_url.removeprefix(_BULK_PAGE))
            try:
                self._spool_bulk(walk, start)
                return
            except SourceAsksToWait:
                raise
            except (SourceRefused, RecordUnavailable):
                # No bulk access for this application: the paged list has the same records.
                logger.info("DrChrono %s refused; reading %s", walk.bulk_path, walk.path)
                self._spool.set_meta(f"paged:{walk.name}", "1")
            except TransientSourceError as exc:
                # The bulk list is an economy; the paged list is the same records. Next run
                # tries the bulk list again.
                logger.warning(
                    "DrChrono %s failing (%s); reading %s", walk.bulk_path, exc, walk.path
                )
            state = self._spool.walk(walk.name)
        start_url = state.next_url
        if start_url is not None and start_url.startswith(_BULK_PAGE):
            start_url = None
        pages = self._client.iter_pages(
            walk.path, walk.params, start_url=start_url, page_size=walk.page_size
        )
        for page in pages:
            self._save_page(walk, page.items, page.next_url, page.count)

    def _spool_bulk(self, walk: _Walk, start: int) -> None:
        assert walk.bulk_path is not None
        pages = iter_bulk_pages(
            self._client, self._clock, walk.bulk_path, walk.params, start_page=start
        )
        for page in pages:
            following = page.next_number
            next_marker = None if following is None else f"{_BULK_PAGE}{following}"
            self._save_page(walk, page.items, next_marker, page.count)

    def _save_page(
        self, walk: _Walk, items: list[Any], next_url: str | None, count: int | None
    ) -> None:
        records: dict[str, list[SpooledRecord]] = {kind: [] for kind in walk.kinds}
        for item in items:
            kind = walk.breaks_kind if walk.breaks_kind and _is_break(item) else walk.kind
            records[kind].append(self._spooled(walk, item))
        self._spool.save_page(walk.name, records, next_url, listed=count)

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
            (_VACCINE_RECORDS, Category.IMMUNIZATIONS, record.immunizations,
             mapping.immunization),
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
        shared = file_key(url) in self._shared_file_keys()
        return RemoteFile(
            self._client,
            url,
            label=label,
            extension=extension_of(url, default_extension),
            max_bytes=self._max_file_bytes,
            cache=self._files if shared else None,
        )

    def _shared_file_keys(self) -> set[str]:
        """Files more than one record points to (a lab report shared by the results of one
        order): kept on disk when first downloaded, so each is downloaded once."""
        if self._shared_files is None:
            shared = set()
            for document_id in self._spool.repeated_values(_LAB_RESULTS, "document"):
                url = (self._spooled_body("lab_documents", document_id) or {}).get("document")
                if isinstance(url, str) and url:
                    shared.add(file_key(url))
            self._shared_files = shared
        return self._shared_files

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


def practice_walks(
    order_patient: Callable[[dict[str, Any]], str | None] | None = None,
) -> Iterator[_Walk]:
    """Every list the source spools, in order. ``order_patient`` finds a lab result's patient
    through its order (the spool knows; nothing else needs it)."""
    yield _Walk("doctors", "doctors", "/api/doctors", if_refused=_NO_PROVIDER_NAMES)
    yield _Walk("offices", "offices", "/api/offices", if_refused=_NO_OFFICE_NAMES)
    yield _Walk(
        _PATIENTS, _PATIENTS, "/api/patients", _PATIENT_PARAMS, bulk_path="/api/patients_list"
    )
    yield _Walk("sublabs", "sublabs", "/api/sublabs", if_refused=_NO_LAB_VENDORS)
    yield _Walk("lab_orders", "lab_orders", "/api/lab_orders", owner=_patient_field)
    yield _Walk("lab_tests", "lab_tests", "/api/lab_tests", if_refused=_NO_LAB_TESTS)
    yield _Walk("lab_documents", "lab_documents", "/api/lab_documents")
    # After lab_orders: a result names its order, and the order its patient.
    yield _Walk(_LAB_RESULTS, _LAB_RESULTS, "/api/lab_results", owner=order_patient)
    for kind in (
        "medications",
        "allergies",
        "problems",
        _VACCINE_RECORDS,
        "documents",
        _PATIENT_LAB_RESULTS,
        _PATIENT_MESSAGES,
    ):
        yield _Walk(kind, kind, f"/api/{kind}", owner=_patient_field)
    # Every type: faxes and referrals, incoming labs, Direct messages, generated files, ...
    yield _Walk(_MESSAGES, _MESSAGES, "/api/messages", owner=_patient_field)
    yield _Walk(_PAYMENTS, _PAYMENTS, "/api/patient_payments", owner=_patient_field)
    # clinical_note and vitals come only with verbose, which caps the paged list at 25 a
    # page; the bulk list gives them at 1,000 a page.
    yield _Walk(
        _APPOINTMENTS,
        _APPOINTMENTS,
        "/api/appointments",
        {"since": APPOINTMENTS_CHANGED_SINCE, "show_archived": "true", "verbose": "true"},
        owner=_patient_field,
        breaks_kind=_BREAKS,
        bulk_path="/api/appointments_list",
        page_size=VERBOSE_PAGE_SIZE,
    )


#: Inactive and deceased patients are listed only when asked for (``date_of_death`` too).
_PATIENT_PARAMS = {"show_inactive": "true"}

#: What the deliverable lacks without each auxiliary list.
_NO_PROVIDER_NAMES = "Provider names are unavailable: records show the provider's DrChrono id"
_NO_OFFICE_NAMES = "Office names are unavailable: appointments show the office's DrChrono id"
_NO_LAB_VENDORS = (
    "Lab vendor names are unavailable: results of electronic lab orders are filed as "
    "Integration Lab Results, Quest and LabCorp ones included"
)
_NO_LAB_TESTS = "Lab test names are unavailable for order lab results"

#: Spool kinds read straight into a patient's record, and their reconciliation category.
_PATIENT_KINDS = {
    _PAYMENTS: Category.PAYMENTS,
    "medications": Category.MEDICATIONS,
    "allergies": Category.ALLERGIES,
    "problems": Category.PROBLEMS,
    _VACCINE_RECORDS: Category.IMMUNIZATIONS,
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


def _status_of(refusal: SourceError) -> str:
    """ "HTTP 403" from a refusal's message (it names the status, never anything else)."""
    found = re.search(r"HTTP \d+", str(refusal))
    return found.group(0) if found else "refused"


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
