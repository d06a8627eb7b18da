"""Grape's validation of declared parameters, as GitLab runs it before an endpoint's body.

``Request``'s helpers (``flag``, ``integer``, ...) stop at the first bad parameter and accept
any letter case; an endpoint that declares its parameters through ``Declared`` gets Grape's
rules instead:

* every invalid parameter is reported, in declaration order, once, joined by ``", "``
  (``Grape::Exceptions::ValidationErrors``);
* ``""`` is nil for every type but String (``PrimitiveCoercer#treat_as_nil?``);
* Boolean is dry-types' ``Params::Bool``: only its listed spellings;
* Integer is dry-types' ``Params::Integer``, that is Ruby's ``Integer(s, 10)``;
* a ``values:`` validator runs after a failed coercion too and adds its own message;
* GitLab's ``CommaSeparatedToIntegerArray`` is ``split(',').map(&:strip).map(&:to_i)``, which
  never fails.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from bridge.testing.sim.http import ApiError
from bridge.testing.sim.pagination import Params, paging_errors, ruby_integer, ruby_to_i

__all__ = ["Declared", "present", "ruby_integer", "ruby_split", "ruby_strip", "ruby_to_i"]

# dry-types Params::Bool (BOOLEAN_MAP): exactly these spellings, nothing case-folded.
BOOL_TRUE = frozenset(
    ["1", "on", "On", "ON", "t", "true", "True", "TRUE", "T", "y", "yes", "Yes", "YES", "Y"]
)
BOOL_FALSE = frozenset(
    ["0", "off", "Off", "OFF", "f", "false", "False", "FALSE", "F", "n", "no", "No", "NO", "N"]
)

# ActiveSupport's String#blank?: /\A[[:space:]]*\z/, Unicode White_Space under Onigmo.
_BLANK = re.compile("[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*")
_RUBY_STRIP = " \t\n\v\f\r\x00"  # String#strip: ASCII whitespace and NUL


def ruby_split(text: str, sep: str) -> list[str]:
    """Ruby's ``text.split(sep)`` with a string separator: trailing empty fields are dropped."""
    parts = text.split(sep)
    while parts and not parts[-1]:
        parts.pop()
    return parts


def ruby_strip(text: str) -> str:
    """Ruby's ``String#strip``: ASCII whitespace and NUL at both ends."""
    return text.strip(_RUBY_STRIP)


def present(text: str | None) -> bool:
    """ActiveSupport's ``present?`` for a string parameter: not nil and not all whitespace."""
    return text is not None and _BLANK.fullmatch(text) is None


class Declared:
    """One endpoint's declared parameters, checked in the order the endpoint reads them.

    Each reader returns the coerced value (or the default when the parameter is invalid) and
    records the error; ``check`` then raises the single 400 that Grape would answer.
    """

    def __init__(self, params: Params) -> None:
        self._params = params
        self._errors: list[str] = []

    def _fail(self, name: str, message: str) -> None:
        self._errors.append(f"{name} {message}")

    def string(self, name: str) -> str | None:
        """``type: String``: kept as sent, ``""`` included; an array is invalid."""
        value = self._params.get(name)
        if isinstance(value, list):
            self._fail(name, "is invalid")
            return None
        return value

    def boolean(self, name: str, *, default: bool = False) -> bool:
        """``type: Boolean``: ``""`` counts as absent; other spellings are invalid."""
        value = self._params.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, str) and value in BOOL_TRUE:
            return True
        if isinstance(value, str) and value in BOOL_FALSE:
            return False
        self._fail(name, "is invalid")
        return default

    def integer(self, name: str, *, values: Collection[int] | None = None) -> int | None:
        """``type: Integer`` (optionally ``values:``); ``""`` counts as absent."""
        value = self._params.get(name)
        if value is None or value == "":
            return None
        number = ruby_integer(value) if isinstance(value, str) else None
        if number is None:
            self._fail(name, "is invalid")
        if values is not None and number not in values:
            self._fail(name, "does not have a valid value")
            return None
        return number

    def integer_array(self, name: str, *, comma_separated: bool) -> list[int]:
        """``type: Array[Integer]``; ``comma_separated`` adds ``CommaSeparatedToIntegerArray``.

        With it, ``name=1,2`` and ``name[]=1,2`` both work and every field is ``to_i``'d, so
        ``abc`` is 0 and nothing is invalid. Without it, only ``name[]=`` of integers is valid.
        """
        value = self._params.get(name)
        if value is None:
            return []
        items = [value] if isinstance(value, str) else value
        if comma_separated:
            return [ruby_to_i(ruby_strip(part)) for item in items for part in ruby_split(item, ",")]
        numbers = [ruby_integer(item) for item in items]
        if isinstance(value, str) or None in numbers:
            self._fail(name, "is invalid")
            return []
        return [n for n in numbers if n is not None]

    def pagination(self, *, zero_per_page_refused: bool) -> None:
        """``use :pagination`` (``page``, ``per_page``); the values are read when paginating."""
        self._errors += paging_errors(self._params, zero_per_page_refused=zero_per_page_refused)

    @property
    def errors(self) -> list[str]:
        """The messages so far, each once, in the order found."""
        return list(dict.fromkeys(self._errors))

    def check(self) -> None:
        """Raise Grape's 400 ``{"error": "<a>, <b>"}`` if any parameter was invalid."""
        if self._errors:
            raise ApiError(400, {"error": ", ".join(self.errors)})
