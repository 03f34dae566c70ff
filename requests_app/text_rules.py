"""What people may type into the portal's text: bounded lengths, and no invisible characters
that change how text is shown to the next reader.

Refused: control characters (C0 and C1; a multi-line field keeps tab and line breaks) and the
bidirectional embedding, override and isolate characters (U+202A-U+202E, U+2066-U+2069),
which can make a practice's or a contact's name read as something else on screen. The
direction marks (U+200E, U+200F, U+061C) stay: right-to-left names need them.

Built from Django's own RegexValidator so migrations refer to Django, not to portal code.
"""

from __future__ import annotations

from django.core.validators import MaxLengthValidator, RegexValidator

_BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069"
_MESSAGE = "Remove the invisible control or text-direction characters (often pasted by accident)."

#: one-line text: a name, a phone number, an invoice reference
single_line_text = RegexValidator(
    f"[\x00-\x1f\x7f-\x9f{_BIDI_CONTROLS}]", _MESSAGE, code="control_characters", inverse_match=True
)
#: text that may run over several lines: requirements, reasons, notes
multi_line_text = RegexValidator(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_CONTROLS}]",
    _MESSAGE,
    code="control_characters",
    inverse_match=True,
)

# Lengths of the free-text fields, shared by the models and the forms.
REQUIREMENTS_MAX_LENGTH = 4000
REASON_MAX_LENGTH = 2000


def long_text(max_length: int) -> list:
    """The validators of a multi-line field: Django's TextField checks no length itself."""
    return [MaxLengthValidator(max_length), multi_line_text]
