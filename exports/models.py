"""The pipeline's records: the source a request reads from, each export attempt, its batches.

Progress lives here, not in Celery: any worker can pick up where another stopped, and the
request page reads it for the progress bar.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from exportportal.encryption import EncryptedTextField


class WorkerHeartbeat(models.Model):
    """The last time each worker answered: admins see whether anyone is there to do the work."""

    hostname = models.CharField(max_length=255, unique=True)
    last_seen = models.DateTimeField(default=timezone.now)
    pid = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname

    def is_alive(self, now=None, *, within_seconds: int = 180) -> bool:
        return ((now or timezone.now()) - self.last_seen).total_seconds() <= within_seconds


class SourceKind(models.TextChoices):
    DEMO = "demo", "Demo practice (synthetic data)"
    DRCHRONO = "drchrono", "DrChrono API"
    FHIR_BULK = "fhir-bulk", "FHIR Bulk Data"


class SourceConnection(models.Model):
    """Where a request's practice data comes from. Credentials are encrypted and never shown."""

    request = models.OneToOneField(
        "requests_app.ExportRequest", on_delete=models.CASCADE, related_name="source_connection"
    )
    kind = models.CharField(max_length=16, choices=SourceKind.choices)
    options = models.JSONField(default=dict, blank=True, help_text="Non-secret settings.")
    credentials = EncryptedTextField(blank=True, help_text="JSON of secrets, encrypted at rest.")
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_patient_count = models.PositiveIntegerField(null=True, blank=True)
    last_test_detail = models.CharField(max_length=300, blank=True)
    #: records in each of the source's lists, as the last connection test read them (the plan)
    last_test_list_sizes = models.JSONField(default=dict, blank=True)
    #: API calls the source's exports have spent, counted as they are made (the plan's progress)
    api_calls_spent = models.PositiveIntegerField(default=0)
    #: when the data team and account manager were told the plan misses the promised date
    plan_warned_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for request {self.request_id}"


class DrChronoRequestHour(models.Model):
    """The requests one DrChrono API application has made in one clock hour, counted by
    every worker: DrChrono's hourly allowance is the application's (its client id), whichever
    request or worker spends it."""

    client_id = models.CharField(max_length=200)
    hour_start = models.DateTimeField()
    spent = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client_id", "hour_start"], name="one_count_per_application_hour"
            )
        ]

    def __str__(self) -> str:
        return f"{self.spent} DrChrono requests from {self.hour_start:%Y-%m-%d %H:%M} UTC"


class Stage(models.TextChoices):
    """Where an attempt is. Computed, never stored: a live attempt is in its request's status
    (the values are the request's pipeline statuses); a finished one is stopped or deleted."""

    EXTRACTING = "extracting", "Extracting"
    PACKAGING = "packaging", "Packaging"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    UPLOADING = "uploading", "Uploading"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"
    DELETED = "deleted", "Deleted"


#: the stages an attempt can be in while it lives: each is also the request's status
LIVE_STAGES = frozenset(
    {
        Stage.EXTRACTING,
        Stage.PACKAGING,
        Stage.AWAITING_REVIEW,
        Stage.UPLOADING,
        Stage.DELIVERED,
        Stage.FAILED,
    }
)
RUNNING_STAGES = (Stage.EXTRACTING, Stage.PACKAGING, Stage.UPLOADING)


class ExportJobQuerySet(models.QuerySet):
    def live(self) -> ExportJobQuerySet:
        """Attempts not ended: at most one per request, the one its status speaks of."""
        return self.filter(finished_at__isnull=True)

    def in_stage(self, *stages: str) -> ExportJobQuerySet:
        """Live attempts whose request is in one of these pipeline statuses."""
        return self.live().filter(request__status__in=stages)

    def stopped(self) -> ExportJobQuerySet:
        """Attempts stopped or rejected before delivery."""
        return self.filter(finished_at__isnull=False, delivered_at__isnull=True)

    def delivered(self) -> ExportJobQuerySet:
        """The attempt whose archive the point of contact can fetch (not yet deleted)."""
        return self.live().filter(delivered_at__isnull=False)


class ExportJob(models.Model):
    """One attempt at exporting a request: its staging folder, batches, archive and delivery."""

    request = models.ForeignKey(
        "requests_app.ExportRequest", on_delete=models.PROTECT, related_name="jobs"
    )
    attempt = models.PositiveIntegerField()
    error = models.TextField(blank=True, help_text="What went wrong, without PHI.")
    staging_dir = models.CharField(max_length=500)
    export_date = models.DateField()
    patient_count = models.PositiveIntegerField(null=True, blank=True)
    batch_size = models.PositiveIntegerField(default=250)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Set while a single-task stage runs."
    )
    source_wait_until = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The source asked the export to pause until then (e.g. its hourly allowance).",
    )
    stage_worker = models.CharField(
        max_length=200, blank=True, help_text="The worker that last took packaging or delivery."
    )
    stage_bytes_done = models.PositiveBigIntegerField(default=0)
    stage_bytes_total = models.PositiveBigIntegerField(default=0)
    reconciliation = models.JSONField(null=True, blank=True)
    archive_parts = models.JSONField(default=list, blank=True)
    manifest = models.JSONField(
        null=True,
        blank=True,
        help_text="The packaged tree's manifest: its path in staging, files, bytes and SHA-256.",
    )
    archive_password = EncryptedTextField(blank=True)
    shared_link_password = EncryptedTextField(
        blank=True, help_text="Protects the Box shared link; never the archive password."
    )
    delivery_receipt = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    run_started_at = models.DateTimeField(
        default=timezone.now,
        help_text="When the attempt was last started or retried: the live rate counts from here.",
    )
    extracted_at = models.DateTimeField(null=True, blank=True)
    packaged_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(
        null=True, blank=True, help_text="When the attempt was stopped, rejected or deleted."
    )

    objects = ExportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["request", "attempt"], name="one_job_per_attempt")
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of request {self.request_id}"

    @property
    def stage(self) -> str:
        """The request's status while the attempt lives; stopped or deleted once it ended."""
        if self.finished_at is not None:
            return Stage.DELETED if self.delivered_at is not None else Stage.STOPPED
        status = self.request.status
        return Stage(status) if status in LIVE_STAGES else Stage.STOPPED

    @property
    def stage_label(self) -> str:
        return Stage(self.stage).label

    @property
    def failed_stage(self) -> str:
        """The stage that failed, while the attempt is failed (the request keeps it)."""
        return self.request.failed_stage if self.stage == Stage.FAILED else ""

    @property
    def failed_stage_label(self) -> str:
        return Stage(self.failed_stage).label if self.failed_stage else ""

    @property
    def records_failed(self) -> int:
        """Records the reconciliation lists as failed (seen in the source, not exported)."""
        return sum(line["failed"] for line in (self.reconciliation or {}).get("lines", []))


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class ExtractBatch(models.Model):
    """A slice of the practice's patients, extracted by one task on any worker."""

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    patient_ids = models.JSONField(help_text="The source's patient ids, in order.")
    ccdas = models.BooleanField(
        default=False,
        help_text="Part of the final pass that fetches the source's own C-CDAs (a call per "
        "patient), run once every other batch is done.",
    )
    status = models.CharField(
        max_length=10, choices=BatchStatus.choices, default=BatchStatus.PENDING
    )
    patients_done = models.PositiveIntegerField(default=0)
    files = models.PositiveIntegerField(default=0)
    bytes = models.PositiveBigIntegerField(default=0)
    records_failed = models.PositiveIntegerField(default=0)
    runs = models.PositiveIntegerField(default=0, help_text="How many times a worker took it.")
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="batch_number_per_job")
        ]

    def __str__(self) -> str:
        return f"batch {self.number} of job {self.job_id}"


class SmartKeyRing(models.Model):
    """The portal's SMART Backend Services key ring: one for the portal, as its JWKS URL is
    one. Encrypted at rest like every secret (``rotate_encryption_keys`` re-encrypts it);
    only its public keys are ever shown or published."""

    key_ring = EncryptedTextField(help_text="The key ring's JSON, private keys included.")
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return "the portal's SMART signing keys"
