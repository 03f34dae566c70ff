"""Any certified EHR's FHIR R4 Bulk Data export ($export) as a practice source.

``prepare()`` runs one export job: kick-off, polling, then each NDJSON output streamed to
disk and read once, line by line, into a SQLite spool keyed by patient (the DrChrono
source's spool), then the job is deleted on the server. ``read_patient()`` assembles each
patient from the spool; attachments stay on the server until packaging reads their
``Blob``. A run that stops resumes the same job (``state``) and the same spool.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..base import ConnectionReport, PracticeSource
from ..drchrono.budget import Clock, SystemClock
from ..drchrono.files import DEFAULT_MAX_BYTES
from ..drchrono.spool import Spool, SpooledRecord, spool_key
from ..records import (
    PATIENT_UNREADABLE,
    Blob,
    Category,
    FaxOrReferral,
    Insurance,
    PatientRecord,
    PatientUnreadable,
    RecordExclusion,
    RecordFailure,
    RecordUnavailable,
    SourceError,
)
from . import mapping
from .auth import DEFAULT_SCOPE, BackendServicesAuth
from .client import (
    DEFAULT_POLL_SECONDS,
    BulkDataClient,
    BulkSettings,
    ExportJobFailed,
    ExportJobGone,
)
from .fhir import MappingError, Resource, first, reference_id
from .files import AttachmentFiles, media_type_of
from .keys import SigningKey
from .placement import (
    CATEGORY_OF_TYPE,
    EXPORT_TYPES,
    PATIENT_TYPES,
    DocumentRole,
    Placement,
    attachments,
    document_role,
    has_presented_form,
    patient_of,
    presented_forms,
    record_id,
    report_file_id,
)
from .state import ExportJobState, JobStateFile, OutputFile

logger = logging.getLogger(__name__)

SPOOL_FILE_NAME = "fhir-bulk-spool.sqlite3"
STATE_FILE_NAME = "fhir-bulk-job.json"
#: lines of NDJSON stored per spool transaction (and the resume granularity)
LINES_PER_PAGE = 500
#: spool kinds of what is not a resource of the export
_UNREADABLE = "unreadable-line"
_EXPORT_ERROR = "export-error"
_UNKNOWN_PATIENT = "names a patient not in the export"
_NO_PATIENT = "names no patient"
_ONE_PHOTO = "the deliverable holds one photo per patient (patient_photo.jpg): the first is shipped"


@dataclass(frozen=True, slots=True)
class FhirBulkSettings:
    """One EHR's FHIR server and the portal's registration with it (no secrets here)."""

    base_url: str
    client_id: str
    group_id: str = ""  # empty: a system-level export
    since: str = ""  # a FHIR instant: only resources changed since then
    scope: str = DEFAULT_SCOPE
    timeout: float = 60.0
    max_attempts: int = 4
    backoff_base: float = 1.0
    max_inline_wait: float = 120.0
    patience: float = 3600.0
    default_poll: float = DEFAULT_POLL_SECONDS


class FhirBulkSource(PracticeSource):
    kind = "fhir-bulk"

    def __init__(
        self,
        client: BulkDataClient,
        work_dir: Path,
        *,
        settings: FhirBulkSettings,
        max_file_bytes: int = DEFAULT_MAX_BYTES,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._work_dir = Path(work_dir)
        self._spool = Spool(self._work_dir / SPOOL_FILE_NAME)
        self._state_file = JobStateFile(self._work_dir / STATE_FILE_NAME)
        self._placement = Placement(self._spool)
        self._files = AttachmentFiles(client, max_bytes=max_file_bytes)
        self._on_close = on_close

    @classmethod
    def connect(
        cls,
        settings: FhirBulkSettings,
        key: SigningKey,
        work_dir: Path,
        *,
        clock: Clock | None = None,
        **options: Any,
    ) -> FhirBulkSource:
        """A source with its own HTTP connection and SMART Backend Services client."""
        clock = clock or SystemClock()
        http = httpx.Client(timeout=settings.timeout, follow_redirects=True)
        auth = BackendServicesAuth(
            http,
            fhir_base_url=settings.base_url,
            client_id=settings.client_id,
            key=key,
            clock=clock,
            scope=settings.scope,
        )
        client = BulkDataClient(
            http,
            auth,
            BulkSettings(
                base_url=settings.base_url,
                max_attempts=settings.max_attempts,
                backoff_base=settings.backoff_base,
                max_inline_wait=settings.max_inline_wait,
                patience=settings.patience,
                default_poll=settings.default_poll,
            ),
            clock=clock,
            progress=lambda text: logger.info("Bulk Data export progress: %s", text),
        )
        return cls(client, work_dir, settings=settings, on_close=http.close, **options)

    # -- PracticeSource ----------------------------------------------------------------------

    def prepare(self) -> None:
        """Run (or resume) the export job and spool its files. Idempotent."""
        if self._spool.meta("complete") == self._request_key():
            return
        try:
            self._export()
        except ExportJobGone:
            # The EHR dropped the job (expired, deleted): one fresh export, from scratch.
            logger.warning("Bulk Data export job no longer offered: starting a new one")
            self._forget_job()
            self._export()
        unnamed = self._spool.count(_EXPORT_ERROR + "-unnamed")
        if unnamed:
            raise SourceError(
                f"the EHR reported {unnamed} export errors that name no record, so the export "
                "cannot show it holds every record; ask the EHR to fix them, then export again"
            )
        self._spool.set_meta("complete", self._request_key())
        logger.info("FHIR Bulk spool complete: %d patients", self._spool.count("Patient"))

    def patient_ids(self) -> Iterator[str]:
        self.prepare()
        return self._spool.record_ids("Patient")

    def read_patient(self, patient_id: str) -> PatientRecord:
        self.prepare()
        spooled = self._spool.get("Patient", patient_id)
        if spooled is None:
            raise RecordUnavailable(f"patient {patient_id} is not in the export")
        patient = _with_id(spooled)
        try:
            record = PatientRecord(
                demographics=mapping.demographics(patient, self._placement.name_of),
                photo=mapping.photo(patient, self._files.blob),
            )
        except (MappingError, KeyError) as exc:
            raise PatientUnreadable(
                f"patient {patient_id}: {exc}", self._dependents(patient, patient_id)
            ) from None
        _PatientReader(self, record, patient_id).read()
        return record

    def counts_in_source(self) -> Mapping[Category, int]:
        """Every spooled resource's records, every unreadable line and every export error
        naming a record: what reading must account for."""
        self.prepare()
        counts = dict.fromkeys(Category, 0)
        for kind in CATEGORY_OF_TYPE:
            for spooled in self._spool.all_records(kind):
                for category in self._placement.units(kind, spooled.body, spooled.patient_id):
                    counts[category] += 1
        for kind in (_UNREADABLE, _EXPORT_ERROR):
            for spooled in self._spool.all_records(kind):
                counts[Category(spooled.body["category"])] += 1
        return counts

    def unattached_records(self) -> Iterator[FaxOrReferral]:
        """FHIR has no fax or referral inbox: none."""
        return iter(())

    def exclusions_outside_patients(self) -> Iterator[RecordExclusion]:
        """A patient's photos after the first: the deliverable holds one photo per patient."""
        self.prepare()
        for spooled in self._spool.all_records("Patient"):
            extra = self._placement.units("Patient", spooled.body, spooled.record_id).count(
                Category.PATIENT_PHOTOS
            )
            for number in range(2, extra + 1):
                yield RecordExclusion(
                    Category.PATIENT_PHOTOS,
                    f"{record_id('Patient', spooled.record_id)} photo {number}",
                    _ONE_PHOTO,
                )

    def records_outside_patients(self) -> Iterator[RecordFailure]:
        """Resources naming no patient, or one the export does not hold; lines of the NDJSON
        that could not be read; resources the EHR reported it could not export."""
        self.prepare()
        for kind in PATIENT_TYPES:
            for spooled in self._spool.unowned_records(kind, "Patient"):
                reason = _NO_PATIENT if spooled.patient_id is None else _UNKNOWN_PATIENT
                for category in self._placement.units(kind, spooled.body, spooled.patient_id):
                    yield RecordFailure(category, record_id(kind, spooled.record_id), reason)
        for kind in (_UNREADABLE, _EXPORT_ERROR):
            for spooled in self._spool.all_records(kind):
                body = spooled.body
                yield RecordFailure(Category(body["category"]), body["record_id"], body["reason"])

    def test_connection(self) -> ConnectionReport:
        """The capability statement, a token, and the group's (or server's) patient count;
        the spool's count once the export is spooled."""
        try:
            if self._spool.meta("complete") == self._request_key():
                count = self._spool.count("Patient")
                return ConnectionReport(ok=True, patient_count=count, detail="export spooled")
            capabilities = self._client.get_json("metadata")
            version = str(capabilities.get("fhirVersion", ""))
            if capabilities.get("resourceType") != "CapabilityStatement":
                raise SourceError("the server's metadata is not a CapabilityStatement")
            if not version.startswith("4."):
                raise SourceError("the server does not speak FHIR R4")
            count = self._patient_count()
            token_host = urlsplit(self._client.token_url).netloc
        except SourceError as exc:
            return ConnectionReport(ok=False, patient_count=None, detail=str(exc))
        where = f"group {self._settings.group_id}" if self._settings.group_id else "the server"
        return ConnectionReport(
            ok=True,
            patient_count=count,
            detail=f"FHIR {version}; a token from {token_host} (its SMART configuration's token "
            f"endpoint); {where} holds {count} patients",
        )

    def close(self) -> None:
        """Close the connection and the spool (the spool and job state stay for a later run)."""
        self._spool.close()
        if self._on_close is not None:
            self._on_close()

    # -- The export --------------------------------------------------------------------------

    def _request_key(self) -> str:
        settings = self._settings
        return json.dumps(
            [settings.base_url, settings.group_id, settings.since, list(EXPORT_TYPES)]
        )

    def _export(self) -> None:
        state = self._state_file.load(self._request_key())
        if not state.has_manifest:
            if not state.status_url:
                self._spool.reset()
                state.status_url = self._client.kick_off(
                    group_id=self._settings.group_id,
                    types=EXPORT_TYPES,
                    since=self._settings.since,
                )
                self._state_file.save(state)
            try:
                manifest = self._client.manifest(state.status_url)
            except ExportJobFailed:
                self._forget_job()
                raise
            state.outputs = list(manifest.outputs)
            state.requires_access_token = manifest.requires_access_token
            state.transaction_time = manifest.transaction_time
            self._state_file.save(state)
        for number, output in enumerate(state.outputs):
            if self._spool.walk(output.url).complete:
                continue
            path = self._work_dir / f"output-{number:05d}.ndjson"
            if output.url not in state.downloaded:
                size = self._client.download(output, path, authorize=state.requires_access_token)
                logger.info("Bulk Data %s output downloaded (%d bytes)", output.type, size)
                state.downloaded.append(output.url)
                self._state_file.save(state)
            of_type = [o for o in state.outputs[: number + 1] if o.type == output.type]
            self._ingest(path, output, f"{output.type} file {len(of_type)}")
            path.unlink(missing_ok=True)
        if not state.deleted:
            self._client.delete(state.status_url)
            state.deleted = True
            self._state_file.save(state)

    def _forget_job(self) -> None:
        self._state_file.save(ExportJobState(request_key=self._request_key()))
        for path in self._work_dir.glob("output-*.ndjson"):
            path.unlink()

    def _ingest(self, path: Path, output: OutputFile, name: str) -> None:
        """Read one NDJSON file into the spool, a page of lines at a time, resuming at the
        line an interrupted run stopped at. ``name``: how its lines are named ("Observation
        file 2"): a type's resources may come in several files."""
        walk = self._spool.walk(output.url)
        offset, line_number, read = (int(part) for part in (walk.next_url or "0:0:0").split(":"))
        page: dict[str, list[SpooledRecord]] = defaultdict(list)
        lines = 0
        with path.open("rb") as file:
            file.seek(offset)
            for line in file:
                offset += len(line)
                line_number += 1
                read += bool(line.strip())
                where = f"{name} line {line_number}"
                spooled = _spooled(line, output, where) if line.strip() else None
                if spooled is not None:
                    page[spooled[0]].append(spooled[1])
                    lines += 1
                if lines >= LINES_PER_PAGE:
                    self._spool.save_page(output.url, page, f"{offset}:{line_number}:{read}")
                    page, lines = defaultdict(list), 0
        for missing in _missing(output, name, read):
            page[_UNREADABLE].append(missing)
        self._spool.save_page(output.url, page, None)

    def _patient_count(self) -> int:
        if self._settings.group_id:
            group = self._client.get_json(f"Group/{self._settings.group_id}")
            quantity = group.get("quantity")
            if isinstance(quantity, int) and not isinstance(quantity, bool):
                return quantity
            members = group.get("member")
            return len(members) if isinstance(members, list) else 0
        bundle = self._client.get_json("Patient", {"_summary": "count"})
        total = bundle.get("total")
        if not isinstance(total, int) or isinstance(total, bool):
            raise SourceError("the server did not say how many patients it holds")
        return total

    def _dependents(self, patient: Resource, patient_id: str) -> list[RecordFailure]:
        """A patient's records that go down with the patient's unreadable record."""
        failures = [
            RecordFailure(category, patient_id, PATIENT_UNREADABLE)
            for category in self._placement.units("Patient", patient, patient_id)[1:]
        ]
        for kind in PATIENT_TYPES:
            for spooled in self._spool.records_of(kind, patient_id):
                for category in self._placement.units(kind, spooled.body, patient_id):
                    failures.append(
                        RecordFailure(
                            category, record_id(kind, spooled.record_id), PATIENT_UNREADABLE
                        )
                    )
        return failures


def _with_id(spooled: SpooledRecord) -> dict[str, Any]:
    """The resource with the id it is spooled under (a stand-in when the EHR gave none)."""
    return {**spooled.body, "id": spooled.record_id}


def _spooled(line: bytes, output: OutputFile, where: str) -> tuple[str, SpooledRecord] | None:
    """One NDJSON line as a spool record: a resource, an export error, or an unreadable line
    (kept as its position and reason only: its text may be PHI); None for a line to skip."""
    try:
        resource = json.loads(line)
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise ValueError("not a resource")
    except ValueError:
        category = CATEGORY_OF_TYPE.get(output.type)
        if category is None:
            # Reference data (a practitioner's name, a drug's code): no record is lost; a
            # record naming it that cannot be read without it is failed when it is read.
            logger.warning("%s of the export is not a FHIR resource", where)
            return None
        body = {
            "category": category.value,
            "record_id": where,
            "reason": "a line of the EHR's export is not a FHIR resource",
        }
        return _UNREADABLE, SpooledRecord(record_id=where, patient_id=None, body=body)
    if output.error or resource["resourceType"] == "OperationOutcome":
        return _export_error(resource, where)
    return resource["resourceType"], SpooledRecord(
        record_id=spool_key(resource), patient_id=patient_of(resource), body=resource
    )


def _missing(output: OutputFile, name: str, read: int) -> Iterator[SpooledRecord]:
    """Resources the manifest announced (its ``count``) that the file does not hold: each a
    failed record, so a file cut short on the server does not shorten the export unseen."""
    category = CATEGORY_OF_TYPE.get(output.type)
    if category is None or output.error or not isinstance(output.count, int):
        return
    for number in range(read + 1, output.count + 1):
        where = f"{name} resource {number} of {output.count}"
        body = {
            "category": category.value,
            "record_id": where,
            "reason": "announced in the export's manifest but missing from its file",
        }
        yield SpooledRecord(record_id=where, patient_id=None, body=body)


def _export_error(outcome: dict[str, Any], where: str) -> tuple[str, SpooledRecord]:
    """An OperationOutcome of the error file: a failed record when it names one of the
    deliverable's resources (in an issue's ``expression`` or ``diagnostics``)."""
    codes, named = set(), None
    for issue in outcome.get("issue") or ():
        if not isinstance(issue, dict):
            continue
        if isinstance(issue.get("code"), str):
            codes.add(issue["code"])
        for text in [*(issue.get("expression") or ()), str(issue.get("diagnostics", ""))]:
            named = named or _named_resource(str(text))
    if named is None:
        kind = _EXPORT_ERROR + "-unnamed"
        return kind, SpooledRecord(record_id=where, patient_id=None, body={"codes": sorted(codes)})
    kind_name, resource_id = named
    code_text = ", ".join(sorted(c for c in codes if c.replace("-", "").isalpha()))
    body = {
        "category": CATEGORY_OF_TYPE[kind_name].value,
        "record_id": record_id(kind_name, resource_id),
        "reason": f"the EHR could not export it ({code_text or 'no reason given'})",
    }
    return _EXPORT_ERROR, SpooledRecord(record_id=where, patient_id=None, body=body)


def _named_resource(text: str) -> tuple[str, str] | None:
    """The first "Type/id" of a counted type in a text."""
    for word in text.replace(",", " ").replace("'", " ").replace('"', " ").split():
        parts = word.strip(".:;()[]").split("/")
        if len(parts) >= 2 and parts[-2] in CATEGORY_OF_TYPE and parts[-1]:
            return parts[-2], parts[-1]
    return None


class _PatientReader:
    """Builds one patient's records from the spool into ``record``; a resource that cannot
    be mapped is listed in ``record.failures`` in every category it counts under."""

    def __init__(self, source: FhirBulkSource, record: PatientRecord, patient_id: str) -> None:
        self.source = source
        self.spool = source._spool
        self.placement = source._placement
        self.files = source._files
        self.names = source._placement.name_of
        self.record = record
        self.patient_id = patient_id

    def read(self) -> None:
        vitals_by_visit, results = self._observations()
        reports = self._reports(results)
        for observation in results:
            self._map(
                "Observation",
                observation,
                lambda r: self.record.lab_results.append(
                    mapping.lab_result(r, reports.get(r["id"]), self.names)
                ),
            )
        self._visits(vitals_by_visit)
        self._insurances()
        self._chart()
        self._documents()
        for message in self._resources("Communication"):
            self._map(
                "Communication",
                message,
                lambda r: self.record.messages.append(
                    mapping.message(r, self.files.blob, self.names)
                ),
            )

    def _resources(self, kind: str) -> Iterator[dict[str, Any]]:
        for spooled in self.spool.records_of(kind, self.patient_id):
            yield _with_id(spooled)

    def _map(self, kind: str, resource: dict[str, Any], add: Callable[[Any], None]) -> None:
        try:
            add(resource)
        except (MappingError, KeyError, TypeError) as exc:
            reason = str(exc) if isinstance(exc, MappingError) else "an element is malformed"
            self._fail(kind, resource, f"{mapping.label(resource)}: {reason}")

    def _fail(self, kind: str, resource: Resource, reason: str) -> None:
        for category in self.placement.units(kind, resource, self.patient_id):
            self.record.failures.append(
                RecordFailure(category, record_id(kind, str(resource["id"])), reason)
            )

    def _observations(self) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]]]:
        vitals: dict[str, list[dict[str, Any]]] = defaultdict(list)
        results = []
        for observation in self._resources("Observation"):
            visit = self.placement.visit_of_vital(observation, self.patient_id)
            if visit:
                vitals[visit].append(observation)
            else:
                results.append(observation)
        return vitals, results

    def _reports(self, results: list[dict[str, Any]]) -> dict[str, Blob | None]:
        """The PDF of each lab report, by the results it goes with (``Placement.pdf_results_of``:
        one PDF per result). A report none of whose results the export holds, or whose results
        all carry another report's PDF, becomes a result of its own, with its PDF."""
        by_result: dict[str, Blob | None] = {}
        for report in self._resources("DiagnosticReport"):
            owned = self.placement.results_of(report, self.patient_id)
            with_pdf = self.placement.pdf_results_of(report, self.patient_id)
            if owned and not (with_pdf or has_presented_form(report)):
                continue  # folds into its results: it has no file to lose

            def place(r: dict[str, Any], with_pdf: list[str] = with_pdf) -> None:
                label = f"{mapping.label(r)} report"
                blobs = [self.files.blob(form, label) for form in presented_forms(r)]
                blob = blobs[0] if blobs else None
                for result_id in with_pdf:
                    by_result[result_id] = blob
                if not with_pdf:
                    own_id = record_id("DiagnosticReport", r["id"])
                    self.record.lab_results.append(
                        mapping.report_result(r, own_id, blob, self.names)
                    )
                for number, further in enumerate(blobs[1:], start=2):
                    file_id = report_file_id(r["id"], number)
                    self.record.lab_results.append(
                        mapping.report_result(r, file_id, further, self.names)
                    )

            self._map("DiagnosticReport", report, place)
        return by_result

    def _visits(self, vitals_by_visit: dict[str, list[dict[str, Any]]]) -> None:
        for appointment in self._resources("Appointment"):
            self._map(
                "Appointment",
                appointment,
                lambda r: self.record.appointments.append(
                    mapping.appointment(
                        r, mapping.vitals(vitals_by_visit.get(r["id"], [])), self.names
                    )
                ),
            )
        for encounter in self._resources("Encounter"):
            if self.placement.linked_appointment(encounter, self.patient_id):
                continue

            def add(r: dict[str, Any]) -> None:
                visit_id = record_id("Encounter", r["id"])
                vitals = mapping.vitals(vitals_by_visit.get(visit_id, []))
                self.record.appointments.append(mapping.encounter(r, visit_id, vitals, self.names))

            self._map("Encounter", encounter, add)

    def _insurances(self) -> None:
        for coverage in self._resources("Coverage"):
            self._map(
                "Coverage",
                coverage,
                lambda r: self.record.insurances.append(mapping.insurance(r, self.names)),
            )

    def _chart(self) -> None:
        record, names = self.record, self.names
        for resource in self._resources("Condition"):
            self._map("Condition", resource, lambda r: record.problems.append(mapping.problem(r)))
        for resource in self._resources("AllergyIntolerance"):
            self._map(
                "AllergyIntolerance",
                resource,
                lambda r: record.allergies.append(mapping.allergy(r)),
            )
        for kind in ("MedicationRequest", "MedicationStatement"):
            for resource in self._resources(kind):
                self._map(
                    kind,
                    resource,
                    lambda r, kind=kind: record.medications.append(
                        mapping.medication(r, record_id(kind, r["id"]), self._drug(r), names)
                    ),
                )
        for resource in self._resources("Immunization"):
            self._map(
                "Immunization",
                resource,
                lambda r: record.immunizations.append(
                    mapping.immunization(r, record_id("Immunization", r["id"]), names)
                ),
            )

    def _drug(self, resource: Resource) -> Mapping[str, Any]:
        """The medication's concept: inline, in a contained Medication, or an exported one."""
        concept = resource.get("medicationCodeableConcept")
        if isinstance(concept, Mapping):
            return concept
        reference = resource.get("medicationReference")
        target = reference.get("reference") if isinstance(reference, Mapping) else None
        if isinstance(target, str) and target.startswith("#"):
            for contained in resource.get("contained") or ():
                if isinstance(contained, Mapping) and contained.get("id") == target[1:]:
                    return contained.get("code") or {}
        medication_id = reference_id(reference, "Medication")
        spooled = medication_id and self.spool.get("Medication", medication_id)
        if spooled and isinstance(spooled.body.get("code"), Mapping):
            return spooled.body["code"]
        if isinstance(reference, Mapping) and isinstance(reference.get("display"), str):
            return {"text": reference["display"]}
        raise MappingError("the medication is not named")

    def _documents(self) -> None:
        insurances = {insurance.id: n for n, insurance in enumerate(self.record.insurances)}
        for document in self._resources("DocumentReference"):
            role = document_role(document)
            if role is DocumentRole.CARD:
                self._card_images(document, insurances)
            elif role is DocumentRole.CCDA and self.placement.is_chosen_ccda(
                document, self.patient_id
            ):
                self._map("DocumentReference", document, self._ccda)
            elif role is DocumentRole.NOTE:
                self._map("DocumentReference", document, self._note)
            else:
                self._map(
                    "DocumentReference",
                    document,
                    lambda r: self.record.documents.append(
                        mapping.document(r, r["id"], self._file(r))
                    ),
                )

    def _file(self, document: Resource, prefer: str = "") -> Blob | None:
        found = attachments(document)
        chosen = next((a for a in found if media_type_of(a) == prefer), found[0] if found else None)
        return None if chosen is None else self.files.blob(chosen, mapping.label(document))

    def _ccda(self, document: dict[str, Any]) -> None:
        xml = next((a for a in attachments(document) if media_type_of(a).endswith("xml")), None)
        if xml is None:
            raise MappingError("the C-CDA has no XML attachment")
        self.record.ccda = self.files.blob(xml, f"{mapping.label(document)} C-CDA")

    def _note(self, document: dict[str, Any]) -> None:
        context = document.get("context")
        encounter = first(context, "encounter") if isinstance(context, Mapping) else {}
        visit = self.placement.visit_of(encounter, self.patient_id)
        pdf = self._file(document, prefer="application/pdf")
        self.record.clinical_notes.append(mapping.clinical_note(document, visit, pdf, self.names))

    def _card_images(self, document: dict[str, Any], insurances: dict[str, int]) -> None:
        """Each image goes on its Coverage's card, front or back (by its title); an image
        naming no coverage of the patient, or a side already filled, is failed."""
        context = document.get("context")
        related = context.get("related") if isinstance(context, Mapping) else None
        coverage_ids = [reference_id(r, "Coverage") for r in related or ()]
        number = next((insurances[c] for c in coverage_ids if c in insurances), None)
        card_id = record_id("DocumentReference", document["id"])
        for attachment in attachments(document):
            words = f"{attachment.get('title', '')} {document.get('description', '')}".lower()
            side = "card_back" if "back" in words else "card_front"
            if number is None:
                reason = "names no insurance of the patient"
            elif getattr(self.record.insurances[number], side) is not None:
                reason = f"a second image of the card's {side.removeprefix('card_')}"
            else:
                insurance: Insurance = self.record.insurances[number]
                blob = self.files.blob(attachment, f"{mapping.label(document)} card image")
                self.record.insurances[number] = replace(insurance, **{side: blob})
                continue
            self.record.failures.append(
                RecordFailure(Category.INSURANCE_CARD_IMAGES, card_id, reason)
            )
