"""Input fields: strict JSON types, and user text that can never become structure.

User text ends up in commit messages (a line of its own there would be a forged trailer), in
logs and in queries. `Text` checks it with the one rule of `promotions.text` (the services check
it again for the UI and chat), and the schema states the same rule as a `pattern`, so clients
(and schemathesis) know what is accepted before they send it.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers
from rest_framework.fields import empty

from promotions.text import text_problem

# Category Cc (C0, DEL, C1) and the Unicode line and paragraph separators.
CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
# The same, less the line breaks and the tab free text may hold.
CONTROL_BUT_BREAKS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029"
# What str.strip() removes besides control characters: a value of only these is blank.
BLANKS = r" \xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
# Narrower forms: (pattern, what it asks for).
NAME = (r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z", "a name: letters, digits, '.', '_' and '-', starting with a letter or digit")
VERSION = (rf"^[^{CONTROL}{BLANKS}]+\Z", "a version: one word, no blanks")
COMMIT = (r"^[0-9a-fA-F]{7,64}\Z", "a commit hash: 7 to 64 hexadecimal digits")


def _text_pattern(*, multiline: bool, blank: bool) -> str:
    """Allowed characters; at least one, which when the field may not be blank is not a blank or
    a line break. (A field that may be blank is documented as `oneOf` this pattern or the empty
    string, so the pattern itself must not match the empty string.)"""
    refused = CONTROL_BUT_BREAKS if multiline else CONTROL
    if blank:
        return rf"^[^{refused}]+\Z"
    return rf"^[^{refused}]*[^{CONTROL}{BLANKS}][^{refused}]*\Z"


def _is_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udfff"


class Text(serializers.CharField):
    """A JSON string, never a number or a boolean coerced to one. Single-line (the default: names,
    versions, build ids) it holds no control character and no line break of any kind; free text
    (`multiline=True`: reasons, comments) may hold line breaks and tabs but no other control
    character. Either way the field is named in the 400. `form` narrows it further."""

    default_error_messages = {
        "invalid": "Not a valid string.",
        "unicode": "This field is not valid Unicode text (lone surrogate).",
    }

    def __init__(self, *, multiline: bool = False, form: tuple[str, str] | None = None, **kwargs: Any) -> None:
        self.multiline = multiline
        kwargs.setdefault("trim_whitespace", form is None)  # a narrower form allows no blanks anyway
        super().__init__(**kwargs)
        pattern, wanted = form or (_text_pattern(multiline=multiline, blank=self.allow_blank), "text, not blanks")
        # Redundant with the checks below and DRF's, but it is also what the schema shows.
        self.validators.insert(0, RegexValidator(pattern, message=f"This field must be {wanted}."))

    def run_validation(self, data: Any = empty) -> Any:
        # Checked on the value as sent, before trimming: the schema describes what is sent.
        if data is not empty and data is not None and not isinstance(data, str):
            self.fail("invalid")
        if isinstance(data, str):
            if problem := text_problem(data, multiline=self.multiline):
                raise serializers.ValidationError(f"This field {problem}.", code="control_characters")
            if any(map(_is_surrogate, data)):
                self.fail("unicode")
            if self.max_length is not None and len(data) > self.max_length:
                self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)


class Integer(serializers.IntegerField):
    """An integer written as one: no `1.0`, `1_000`, ` 1` or `true` (DRF's IntegerField takes them)."""

    _DIGITS = re.compile(r"-?[0-9]+")

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, str) and not self._DIGITS.fullmatch(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class Date(serializers.DateField):
    """A date written as YYYY-MM-DD (the schema's `format: date`); empty is not a date."""

    _FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

    def to_internal_value(self, value: Any) -> Any:
        if not isinstance(value, str) or not self._FORM.fullmatch(value):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)
