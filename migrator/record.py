"""Typed, immutable records validated from YAML data, with error locations.

The inventory, the playbook schema and every check's and action's parameters
are records: classes with annotated fields, validated as a whole (every bad
field reported, each with its location as a path of keys and indexes, which
the loaders map back to a YAML line).

Why not pydantic (used before): what the migrator needs is small and fixed, a
whole validation framework is a large dependency to audit for it, and its
import and model building were the biggest single part of every command's
start-up. What is needed:

* field types ``str``, ``int``, ``float``, ``bool``, ``Path``, ``Any``,
  ``Literal[...]``, unions (``X | None``), ``list[X]``, ``dict[str, X]`` and
  nested records. Conversions are deliberately few: an int is accepted where a
  float is expected, a string where a ``Path`` is; nothing else is coerced (a
  quoted ``"22"`` is not a port, ``yes`` is not a number).
* constraints ``ge``, ``gt``, ``le``, ``lt``, ``min_length`` and ``pattern``
  (``re.fullmatch``: the whole string), a ``before`` hook that may normalise the raw value and a
  ``check`` hook that validates (and may return a replacement for) the
  converted one, and a record-level ``check_record`` for rules across fields.
  Hooks raise ``ValueError`` with a sentence for the operator.
* unknown keys are refused (a misspelt key must not be silently ignored).

A field's type is compiled on the record's first validation, not when the
class is created, so importing a module of records does no validation work.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple, Self, dataclass_transform

Loc = tuple[str | int, ...]


class Problem(NamedTuple):
    """One validation failure: where (keys and indexes from the top), what kind, why."""

    loc: Loc
    kind: Literal["missing", "unknown", "type", "value"]
    message: str


class RecordError(ValueError):
    """A record did not validate; ``problems`` lists every failure found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(
            f"{'.'.join(str(p) for p in problem.loc) or '(top level)'}: {problem.message}"
            for problem in problems
        ))


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_INVALID: Any = object()


class FieldSpec:
    """How one field is validated; made by ``field()``, read when the record is compiled."""

    __slots__ = (
        "before",
        "check",
        "default",
        "factory",
        "ge",
        "gt",
        "le",
        "lt",
        "min_length",
        "pattern",
    )

    def __init__(self, default: Any, factory: Callable[[], Any] | None, ge: float | None,
                 gt: float | None, le: float | None, lt: float | None,
                 min_length: int | None, pattern: str | None,
                 before: Callable[[Any], Any] | None, check: Callable[[Any], Any] | None) -> None:
        self.default = default
        self.factory = factory
        self.ge, self.gt, self.le, self.lt = ge, gt, le, lt
        self.min_length = min_length
        self.pattern = pattern
        self.before = before
        self.check = check


def field(
    *,
    default: Any = MISSING,
    factory: Callable[[], Any] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    min_length: int | None = None,
    pattern: str | None = None,
    before: Callable[[Any], Any] | None = None,
    check: Callable[[Any], Any] | None = None,
) -> Any:
    """Declare a field's default and rules (see the module docstring)."""
    return FieldSpec(default, factory, ge, gt, le, lt, min_length, pattern, before, check)


Converter = Callable[[Any, Loc, list[Problem]], Any]


class _Field:
    __slots__ = ("convert", "name", "regex", "spec")

    def __init__(self, name: str, convert: Converter, spec: FieldSpec) -> None:
        self.name = name
        self.convert = convert
        self.spec = spec
        self.regex = re.compile(spec.pattern) if spec.pattern is not None else None

    def default(self) -> Any:
        if self.spec.factory is not None:
            return self.spec.factory()
        return self.spec.default

    @property
    def required(self) -> bool:
        return self.spec.default is MISSING and self.spec.factory is None


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Record:
    """Base class: annotate fields (optionally ``= field(...)`` or a plain default).

    ``Cls(**values)`` and ``Cls.validate(mapping)`` both validate and raise
    ``RecordError``; ``replace(**changes)`` returns a validated copy. Names
    starting with ``_`` are private attributes, not fields: settable, and not
    part of equality.
    """

    _compiled: ClassVar[dict[str, _Field] | None] = None

    def __init__(self, **values: Any) -> None:
        problems: list[Problem] = []
        converted = _validate_fields(type(self), values, (), problems)
        if problems:
            raise RecordError(problems)
        self._fill(converted)

    @classmethod
    def validate(cls, data: Any) -> Self:
        """A record from a mapping (as YAML or JSON gives), or ``RecordError``."""
        problems: list[Problem] = []
        record = _convert_record(cls, data, (), problems)
        if problems:
            raise RecordError(problems)
        return record  # type: ignore[no-any-return]

    @classmethod
    def field_names(cls) -> list[str]:
        return list(_fields_of(cls))

    def check_record(self) -> None:
        """Rules across fields, run once every field is valid; raise ValueError."""

    def replace(self, **changes: Any) -> Self:
        values = {name: getattr(self, name) for name in _fields_of(type(self))}
        values.update(changes)
        copy = type(self)(**values)
        for name, value in self.__dict__.items():
            if name.startswith("_"):
                object.__setattr__(copy, name, value)
        return copy

    def dump(self) -> dict[str, Any]:
        """Plain JSON-able data (paths as strings, records as mappings)."""
        return {name: _dump(getattr(self, name)) for name in _fields_of(type(self))}

    def _fill(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            raise AttributeError(f"{type(self).__name__} is immutable; use replace()")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _fields_of(type(self)))

    def __hash__(self) -> int:
        return hash((type(self), *(getattr(self, n) for n in _fields_of(type(self)))))

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _fields_of(type(self)))
        return f"{type(self).__name__}({shown})"


def _dump(value: Any) -> Any:
    if isinstance(value, Record):
        return value.dump()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return value


# --- compiling a record's fields ---------------------------------------------------------


def _fields_of(cls: type[Record]) -> dict[str, _Field]:
    compiled = cls.__dict__.get("_compiled")
    if compiled is None:
        compiled = _compile(cls)
        cls._compiled = compiled
    return compiled


def _compile(cls: type[Record]) -> dict[str, _Field]:
    hints = typing.get_type_hints(cls)
    fields: dict[str, _Field] = {}
    for name, hint in hints.items():  # base classes' fields first
        if name.startswith("_") or typing.get_origin(hint) is ClassVar:
            continue
        declared = getattr(cls, name, MISSING)
        spec = declared if isinstance(declared, FieldSpec) else field(default=declared)
        if isinstance(spec.default, list | dict | set):
            raise TypeError(f"{cls.__name__}.{name}: use field(factory=...) for a mutable default")
        fields[name] = _Field(name, _converter(hint), spec)
    return fields


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint is type(None):
        return "null"
    if origin is Literal:
        return " or ".join(repr(a).lower() if isinstance(a, bool) else repr(a)
                           for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if origin is list:
        return "a list"
    if origin is dict:
        return "a mapping"
    if isinstance(hint, type) and issubclass(hint, Record):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            Path: "a path"}.get(hint, getattr(hint, "__name__", str(hint)))


def _type_error(value: Any, hint: Any, loc: Loc, problems: list[Problem]) -> Any:
    if value is None:
        shown = "null"
    elif isinstance(value, bool):  # as YAML writes it
        shown = f"boolean {str(value).lower()}"
    else:
        shown = f"{type(value).__name__} {value!r}"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    problems.append(Problem(loc, "type", f"expected {_describe(hint)}, got {shown}"))
    return _INVALID


def _converter(hint: Any) -> Converter:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return lambda value, _loc, _problems: value
    if isinstance(hint, type) and issubclass(hint, Record):
        record_type = hint
        return lambda value, loc, problems: _convert_record(record_type, value, loc, problems)
    if origin is Literal:
        allowed = args

        def literal(value: Any, loc: Loc, problems: list[Problem]) -> Any:
            # `is`/type checks: 0 == False in Python, but a 0 is not `false` here.
            for option in allowed:
                if type(value) is type(option) and value == option:
                    return value
            return _type_error(value, hint, loc, problems)

        return literal
    if origin in (typing.Union, types.UnionType):
        options = [_converter(a) for a in args]

        def union(value: Any, loc: Loc, problems: list[Problem]) -> Any:
            for option in options:
                attempt: list[Problem] = []
                converted = option(value, loc, attempt)
                if not attempt:
                    return converted
                if any(p.kind != "type" or p.loc != loc for p in attempt):
                    problems.extend(attempt)  # the right shape, with a bad value inside
                    return _INVALID
            return _type_error(value, hint, loc, problems)

        return union
    if origin is list:
        item = _converter(args[0]) if args else _converter(Any)

        def sequence(value: Any, loc: Loc, problems: list[Problem]) -> Any:
            if not isinstance(value, list):
                return _type_error(value, hint, loc, problems)
            out = [item(v, (*loc, i), problems) for i, v in enumerate(value)]
            return _INVALID if _INVALID in out else out

        return sequence
    if origin is dict:
        key = _converter(args[0]) if args else _converter(Any)
        val = _converter(args[1]) if args else _converter(Any)

        def mapping(value: Any, loc: Loc, problems: list[Problem]) -> Any:
            if not isinstance(value, Mapping):
                return _type_error(value, hint, loc, problems)
            out: dict[Any, Any] = {}
            ok = True
            for k, v in value.items():
                converted_key = key(k, (*loc, str(k)), problems)
                converted = val(v, (*loc, str(k)), problems)
                ok = ok and converted_key is not _INVALID and converted is not _INVALID
                out[converted_key] = converted
            return out if ok else _INVALID

        return mapping
    if hint is bool:
        return lambda v, loc, p: v if isinstance(v, bool) else _type_error(v, hint, loc, p)
    if hint is int:
        return lambda v, loc, p: (v if isinstance(v, int) and not isinstance(v, bool)
                                  else _type_error(v, hint, loc, p))
    if hint is float:
        return lambda v, loc, p: (float(v) if isinstance(v, int | float)
                                  and not isinstance(v, bool) else _type_error(v, hint, loc, p))
    if hint is str:
        return lambda v, loc, p: v if isinstance(v, str) else _type_error(v, hint, loc, p)
    if hint is Path:
        return lambda v, loc, p: (Path(v) if isinstance(v, str | Path)
                                  else _type_error(v, hint, loc, p))
    if hint is type(None):
        return lambda v, loc, p: None if v is None else _type_error(v, hint, loc, p)
    raise TypeError(f"record fields cannot be of type {hint!r}")


# --- validating ----------------------------------------------------------------------------


def _convert_record(cls: type[Record], value: Any, loc: Loc, problems: list[Problem]) -> Any:
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        return _type_error(value, cls, loc, problems)
    before = len(problems)
    converted = _validate_fields(cls, value, loc, problems)
    if len(problems) > before:
        return _INVALID
    record = object.__new__(cls)
    record._fill(converted)
    try:
        record.check_record()
    except ValueError as exc:
        return _hook_failed(exc, loc, problems)
    return record


def _hook_failed(exc: ValueError, loc: Loc, problems: list[Problem]) -> Any:
    """Record what a hook raised at ``loc`` (a nested record's problems keep their own)."""
    if isinstance(exc, RecordError):
        problems.extend(Problem((*loc, *p.loc), p.kind, p.message) for p in exc.problems)
    else:
        problems.append(Problem(loc, "value", str(exc)))
    return _INVALID


def _validate_fields(
    cls: type[Record], values: Mapping[Any, Any], loc: Loc, problems: list[Problem]
) -> dict[str, Any]:
    fields = _fields_of(cls)
    for key in values:
        if key not in fields:
            problems.append(Problem((*loc, str(key)), "unknown", "unknown field"))
    out: dict[str, Any] = {}
    for name, spec in fields.items():
        where = (*loc, name)
        if name not in values:
            if spec.required:
                problems.append(Problem(where, "missing", "this field is required"))
            else:
                out[name] = spec.default()
            continue
        value = _validate_value(spec, values[name], where, problems)
        if value is not _INVALID:
            out[name] = value
    return out


def _validate_value(spec: _Field, value: Any, loc: Loc, problems: list[Problem]) -> Any:
    rules = spec.spec
    try:
        if rules.before is not None:
            value = rules.before(value)
        before = len(problems)
        value = spec.convert(value, loc, problems)
        if len(problems) > before or value is _INVALID:
            return _INVALID
        if value is None:
            return None
        broken = _constraint(spec, value)
        if broken is not None:
            problems.append(Problem(loc, "value", broken))
            return _INVALID
        if rules.check is not None:
            value = rules.check(value)
    except ValueError as exc:
        return _hook_failed(exc, loc, problems)
    return value


def _constraint(spec: _Field, value: Any) -> str | None:
    rules = spec.spec
    if isinstance(value, int | float) and not isinstance(value, bool):
        if rules.ge is not None and not value >= rules.ge:
            return f"should be greater than or equal to {rules.ge:g}"
        if rules.gt is not None and not value > rules.gt:
            return f"should be greater than {rules.gt:g}"
        if rules.le is not None and not value <= rules.le:
            return f"should be less than or equal to {rules.le:g}"
        if rules.lt is not None and not value < rules.lt:
            return f"should be less than {rules.lt:g}"
    if (rules.min_length is not None and isinstance(value, str | list | dict)
            and len(value) < rules.min_length):
        unit = "character" if isinstance(value, str) else "item"
        return f"should have at least {rules.min_length} {unit}{'s' * (rules.min_length != 1)}"
    if spec.regex is not None and isinstance(value, str) and not spec.regex.fullmatch(value):
        return f"should match the pattern {rules.pattern}"
    return None
