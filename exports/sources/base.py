"""The interface every practice data source implements."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from .records import Category, FaxOrReferral, PatientRecord, RecordExclusion, RecordFailure


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    """What "test connection" shows the data team. No PHI: counts and names of things."""

    ok: bool
    patient_count: int | None
    detail: str


class PracticeSource(abc.ABC):
    """A practice's data, read one patient at a time in constant memory.

    Patients are addressed by the source's own id, in a stable order, so the pipeline can
    cut the practice into batches and read each batch anywhere, more than once if need be.
    """

    #: the registry key, e.g. "demo" or "drchrono"
    kind: str
    #: whether the source's own C-CDA costs a call per patient against an allowance: then the
    #: C-CDAs are read in a final pass of their own, after every batch's records and files
    fetches_ccda_per_patient: bool = False

    def prepare(self) -> None:  # noqa: B027 - optional hook, most sources need nothing
        """One-time work before patients are read (e.g. spooling practice-wide lists).

        Idempotent: calling it again after success does nothing.
        """

    @abc.abstractmethod
    def patient_ids(self) -> Iterator[str]:
        """Every patient's id, active, inactive and deceased alike, in a stable order."""

    @abc.abstractmethod
    def read_patient(self, patient_id: str) -> PatientRecord:
        """One patient with everything the deliverable needs; files stay unread ``Blob``\\ s.

        Records the source saw but could not read are listed in ``PatientRecord.failures``.
        """

    def read_patients(self, patient_ids: Iterable[str]) -> Iterator[PatientRecord]:
        for patient_id in patient_ids:
            yield self.read_patient(patient_id)

    @abc.abstractmethod
    def counts_in_source(self) -> Mapping[Category, int]:
        """How many records of each category the source holds, counted independently of
        reading them, so the export can prove it left none out.

        Includes records the deliverable excludes (unlocked notes, unattached faxes, ...).
        """

    @abc.abstractmethod
    def unattached_records(self) -> Iterator[FaxOrReferral]:
        """Faxes and referrals tied to no patient: seen and counted, never exported."""

    def records_outside_patients(self) -> Iterator[RecordFailure]:
        """Records the source holds but cannot give to any patient it lists (pointing at an
        unknown patient, or unreadable without one): counted in ``counts_in_source`` and
        reported failed, so none goes missing silently. Most sources have none.
        """
        return iter(())

    def exclusions_outside_patients(self) -> Iterator[RecordExclusion]:
        """Records tied to no patient that the deliverable leaves out by design, besides the
        faxes and referrals of ``unattached_records`` (e.g. a practice-wide generated report
        in the message center): counted in ``counts_in_source`` and reported excluded.
        """
        return iter(())

    def list_sizes(self) -> Mapping[str, int | None]:
        """How many records each of the source's lists holds, read cheaply (for the plan);
        None where the source does not say. Sources without an allowance to plan say nothing.
        """
        return {}

    def notes(self) -> list[str]:
        """What the export lacks because the source refused something auxiliary (a list that
        only names things, say), one sentence each, shown with the reconciliation. No PHI."""
        return []

    @abc.abstractmethod
    def test_connection(self) -> ConnectionReport:
        """Whether the source answers, and how many patients it can see."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and spool files."""

    def __enter__(self) -> PracticeSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
