"""What an admin confirms before ending a customer's access early."""

from __future__ import annotations

from django import forms

from requests_app.text_rules import REASON_MAX_LENGTH, multi_line_text


class EarlyDeletionForm(forms.Form):
    reason = forms.CharField(
        label="Why is the data deleted before access ends?",
        max_length=REASON_MAX_LENGTH,
        validators=[multi_line_text],
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give a reason: it is kept in the audit."},
    )
    confirm = forms.BooleanField(
        label=(
            "I understand that the point of contact loses access now and that the delivered "
            "files and every local copy are deleted for good."
        ),
        error_messages={"required": "Tick the box to confirm the deletion."},
    )
