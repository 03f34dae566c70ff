from django import forms


class CodeForm(forms.Form):
    """The six-digit code an authenticator app shows."""

    code = forms.CharField(
        label="Code from your authenticator app",
        min_length=6,
        max_length=6,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "inputmode": "numeric",
                "pattern": "[0-9]{6}",
                "autofocus": True,
            }
        ),
    )

    def __init__(self, *args, **kwargs) -> None:
        # Codes are often pasted as "123 456": take the spaces out before the length check.
        if args and args[0] is not None and "code" in args[0]:
            data = args[0].copy()
            data["code"] = data["code"].replace(" ", "").strip()
            args = (data, *args[1:])
        super().__init__(*args, **kwargs)

    def clean_code(self) -> str:
        code = self.cleaned_data["code"]
        if not code.isdigit():
            raise forms.ValidationError("Enter the 6 digits your authenticator app shows.")
        return code
