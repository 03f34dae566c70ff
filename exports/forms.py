"""Forms for the pipeline's controls. They check what a person typed; services check the rest."""

from __future__ import annotations

from django import forms

from exports.sources.demo import MAX_PATIENTS, MIN_PATIENTS


class DemoSourceForm(forms.Form):
    patients = forms.IntegerField(
        label="Patients", min_value=MIN_PATIENTS, max_value=MAX_PATIENTS, initial=50
    )
    seed = forms.IntegerField(
        label="Seed", min_value=0, max_value=2**31 - 1, initial=1,
        help_text="The same seed always makes the same practice.",
    )  # fmt: skip


#: A secret typed into a refused form comes back in that POST's answer (never in a URL), so
#: one bad field does not clear the others.
SECRET = forms.PasswordInput(render_value=True)


class DrChronoSourceForm(forms.Form):
    """OAuth credentials from the practice's DrChrono API application. Stored encrypted; the
    secrets are never shown again."""

    client_id = forms.CharField(label="Client id", max_length=200)
    client_secret = forms.CharField(label="Client secret", max_length=500, widget=SECRET)
    access_token = forms.CharField(label="Access token", max_length=2000, widget=SECRET)
    refresh_token = forms.CharField(label="Refresh token", max_length=2000, widget=SECRET)
    expires_at = forms.DateTimeField(
        label="Access token expires at",
        help_text="As DrChrono gave it (YYYY-MM-DD HH:MM, UTC). The portal refreshes it.",
    )
    source_ccda = forms.BooleanField(
        label="Fetch DrChrono's own C-CDAs",
        required=False,
        initial=True,
        help_text="One API call per patient, after every list; else our generated C-CDA.",
    )


class FhirBulkSourceForm(forms.Form):
    """Any certified EHR's FHIR R4 Bulk Data server. The portal signs with its own key, whose
    public JWKS the EHR registers under the client id: nothing secret is typed here."""

    base_url = forms.URLField(
        label="FHIR base URL",
        max_length=500,
        assume_scheme="https",
        help_text="The server's R4 base, e.g. https://ehr.example/fhir/r4. The token endpoint "
        "is read from its .well-known/smart-configuration.",
    )
    client_id = forms.CharField(
        label="Client id",
        max_length=200,
        help_text="The id the EHR gave when it registered the portal's public keys (JWKS URL).",
    )
    group_id = forms.CharField(
        label="Group id",
        max_length=64,
        required=False,
        help_text="The practice's patients as a FHIR Group. Empty: a system-level export of "
        "everything the client may read.",
    )
    since = forms.DateTimeField(
        label="Changes since",
        required=False,
        help_text="Optional (YYYY-MM-DD HH:MM, UTC): only records created or changed since then "
        "(Bulk Data's _since), e.g. to catch up after an earlier full export. Empty: everything.",
    )


class ApproveDeliveryForm(forms.Form):
    acknowledge_failures = forms.BooleanField(
        label="I have read the reconciliation; deliver without the records it lists as failed.",
        required=False,
    )
