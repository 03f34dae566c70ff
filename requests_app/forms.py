"""Forms for the request pages. They check what a person typed; services check the rest."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import QuerySet

from .catalog import EXPORTABLE_CATEGORIES, EXPORTABLE_CODES
from .list_columns import SORT_CHOICES
from .models import ExportRequest, Practice, Status
from .selectors import account_managers, data_team_members, open_requests_for
from .services import EDITABLE_FIELDS
from .text_rules import REASON_MAX_LENGTH, multi_line_text, single_line_text
from .timeline import TimelineState

MAX_FEE = Decimal("100000")


def fee_field(**kwargs) -> forms.DecimalField:
    """A fee: never negative, never absurd (the model holds the same bounds)."""
    return forms.DecimalField(
        max_digits=10,
        decimal_places=2,
        validators=[MinValueValidator(0), MaxValueValidator(MAX_FEE)],
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "max": str(MAX_FEE)}),
        **kwargs,
    )


class RequestFilterForm(forms.Form):
    """The filters above a request list. Every field is optional; an empty form lists all."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        validators=[single_line_text],
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Practice, EHR id, EXP-000123, contact's name or email",
            }
        ),
    )
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), ("open", "Open"), *Status.choices]
    )
    practice = forms.ModelChoiceField(
        required=False, queryset=Practice.objects.none(), empty_label="Any practice"
    )
    timeline = forms.ChoiceField(
        label="Timeline",
        required=False,
        choices=[("", "Any timeline"), *((state.value, state.label) for state in TimelineState)],
    )

    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[("", "Promised date (nearest first)"), *SORT_CHOICES],
    )

    def __init__(self, *args, practices: QuerySet[Practice], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["practice"].queryset = practices


class RequestDetailsForm(forms.ModelForm):
    """What a request asks for: who to talk to, what to export (all by default), the fee."""

    categories = forms.MultipleChoiceField(
        label="Categories to export",
        choices=EXPORTABLE_CATEGORIES,
        initial=list(EXPORTABLE_CODES),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose one or more of the exportable categories."},
    )
    fee_amount = fee_field(label="Quoted fee", required=False)

    class Meta:
        model = ExportRequest
        fields = list(EDITABLE_FIELDS)
        widgets = {"custom_requirements": forms.Textarea(attrs={"rows": 3})}
        help_texts = {
            "poc_email": "The archive's access link goes here.",
            "custom_requirements": "Anything beyond the standard deliverable. An admin may "
            "extend the timeline for it.",
        }


class FileRequestForm(RequestDetailsForm):
    """Filing a request: which practice, and its details."""

    # Shown only once a second open request for the practice was noticed (see ``clean``).
    file_anyway = forms.BooleanField(
        label="File another request for this practice anyway",
        required=False,
        widget=forms.HiddenInput,
    )

    class Meta(RequestDetailsForm.Meta):
        fields = ["practice", *EDITABLE_FIELDS]

    def __init__(self, *args, practices: QuerySet[Practice], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        active = practices.filter(active=True)
        self.fields["practice"].queryset = active
        self.fields["practice"].empty_label = None if active.count() == 1 else "Choose a practice"
        self.open_requests: list[ExportRequest] = []

    def clean(self):
        """A second open request for a practice is allowed, but only deliberately: the first
        time, the form names the open ones and asks."""
        cleaned = super().clean()
        practice = cleaned.get("practice")
        if practice is None or cleaned.get("file_anyway"):
            return cleaned
        self.open_requests = list(open_requests_for(practice))
        if self.open_requests:
            self.fields["file_anyway"].widget = forms.CheckboxInput()
            self.add_error(
                "file_anyway",
                f"{practice.name} already has an open request (above). Tick this box to file "
                "another one anyway.",
            )
        return cleaned


def person_name(user) -> str:
    return user.get_full_name() or user.get_username()


class PracticeForm(forms.ModelForm):
    """A practice; only an admin chooses (or changes) its account manager."""

    class Meta:
        model = Practice
        fields = ["name", "ehr_practice_id", "active", "account_manager"]
        help_texts = {"active": "Only active practices can get new requests."}

    def __init__(self, *args, may_choose_manager: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if may_choose_manager:
            self.fields["account_manager"].queryset = account_managers()
            self.fields["account_manager"].label_from_instance = person_name
        else:
            del self.fields["account_manager"]


class NoteForm(forms.Form):
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=REASON_MAX_LENGTH,
        validators=[multi_line_text],
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AssignOwnerForm(NoteForm):
    owner = forms.ModelChoiceField(
        label="Owner (data team)",
        queryset=data_team_members(),
        empty_label="Choose a data-team member",
    )
    field_order = ["owner", "note"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].label_from_instance = person_name


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=REASON_MAX_LENGTH,
        validators=[multi_line_text],
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give a reason."},
    )


class NoInputForm(forms.Form):
    """An action that needs nothing but the button."""


class SignedAddendumForm(forms.Form):
    signed_addendum = forms.FileField(
        label="Signed addendum (PDF, at most 10 MB)",
        widget=forms.ClearableFileInput(attrs={"accept": "application/pdf"}),
    )


class FeeForm(forms.Form):
    amount = fee_field(label="Amount collected")
    currency = forms.ChoiceField(choices=ExportRequest._meta.get_field("fee_currency").choices)
    invoice_reference = forms.CharField(max_length=64, validators=[single_line_text])


class ExtensionForm(forms.Form):
    days = forms.IntegerField(label="Extra days", min_value=1, max_value=365)
    reason = forms.CharField(
        label="Reason (the custom requirement that needs more time)",
        max_length=REASON_MAX_LENGTH,
        validators=[multi_line_text],
        widget=forms.Textarea(attrs={"rows": 2}),
    )
