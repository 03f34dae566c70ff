"""What an admin chooses when creating or rotating the portal's SMART signing key."""

from __future__ import annotations

from django import forms

from exports.sources.fhir_bulk.keys import ES384, RS384


class SigningKeyForm(forms.Form):
    algorithm = forms.ChoiceField(
        label="Algorithm",
        choices=[(ES384, "ES384 (elliptic curve P-384)"), (RS384, "RS384 (RSA 3072)")],
        initial=ES384,
        help_text="SMART Backend Services servers accept both; ES384 keys are smaller.",
    )
