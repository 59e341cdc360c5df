"""``@dataclass`` and ``@dataclass(frozen=True)`` without generating code at import time.

The standard decorator writes each class's ``__init__``, ``__repr__``, ``__eq__``
(and for a frozen class ``__hash__``, ``__setattr__`` and ``__delattr__``) as
source text and compiles it: about 0.8 ms per frozen class on the machines
this was measured on. `migrator plan` imports some sixty of them, so that alone
was a tenth of its start-up budget (see the README's benchmarks).

Here the standard decorator still does everything that is not code generation
(it collects the fields, with their defaults and ``field(default_factory=...)``,
and sets ``__dataclass_fields__`` and ``__match_args__``, so ``dataclasses.fields``,
``replace`` and ``asdict`` work unchanged), and the methods are shared functions
that read a per-class description of the fields. They behave as the generated
ones do for the forms this project uses, which ``tests/unit/test_dataclass.py``
checks against the standard decorator:

* keyword or positional construction, defaults and default factories, and the
  same ``TypeError`` for a missing, repeated or unknown argument;
* ``repr`` as ``Name(a=1, b='x')``, leaving out ``field(repr=False)`` fields;
* ``==`` between instances of exactly the same class, comparing the fields as a
  tuple; a frozen class hashes that tuple, a mutable one is unhashable (either
  keeps a ``__hash__`` it defines itself);
* assigning or deleting an attribute of a frozen instance raises
  ``dataclasses.FrozenInstanceError``.

Anything else (``init=False`` fields, ``InitVar``, ``__post_init__``, ``order``,
``kw_only``, ``slots``, ``field(compare=False)``, a class that writes its own
``__init__``, ``__repr__`` or ``__eq__``) is refused when the class is
defined, so a future use cannot silently behave differently: use the standard
decorator for such a class.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")
_MISSING: Any = dataclasses.MISSING

# per class: ((name, default, default_factory), ...) in field order
_SPEC = "__migrator_fields__"
# per class: the names ``repr`` shows (a field may say ``repr=False``)
_SHOWN = "__migrator_repr__"
# per class: {name: position} of the fields
_PLACES = "__migrator_places__"


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    spec = getattr(cls, _SPEC)
    if kwargs:  # checked in the interpreter's order: keywords first, in the order given
        places = getattr(cls, _PLACES)
        for name in kwargs:
            place = places.get(name)
            if place is None:
                raise TypeError(f"{cls.__qualname__}.__init__() got an unexpected keyword "
                                f"argument '{name}'")
            if place < len(args):
                raise TypeError(f"{cls.__qualname__}.__init__() got multiple values for "
                                f"argument '{name}'")
    if len(args) > len(spec):
        raise TypeError(_too_many(cls, spec, len(args)))
    put = object.__setattr__
    for index, (name, default, factory) in enumerate(spec):
        if index < len(args):
            value = args[index]
        elif name in kwargs:
            value = kwargs.pop(name)
        elif default is not _MISSING:
            value = default
        elif factory is not _MISSING:
            value = factory()
        else:
            raise TypeError(_missing(cls, [n for n, d, f in spec[index:]
                                           if n not in kwargs and d is _MISSING
                                           and f is _MISSING]))
        put(self, name, value)


# The two messages below are worded as CPython words them for a generated __init__.

def _too_many(cls: type, spec: tuple[tuple[str, Any, Any], ...], given: int) -> str:
    most = len(spec) + 1  # self counts, as in the interpreter's message
    least = 1 + sum(1 for _, d, f in spec if d is _MISSING and f is _MISSING)
    takes = f"from {least} to {most}" if least < most else str(most)
    plural = "s" if least < most or most != 1 else ""
    return (f"{cls.__qualname__}.__init__() takes {takes} positional argument{plural} "
            f"but {given + 1} were given")


def _missing(cls: type, names: list[str]) -> str:
    quoted = [f"'{name}'" for name in names]
    listed = (quoted[0] if len(quoted) == 1 else " and ".join(quoted) if len(quoted) == 2
              else ", ".join(quoted[:-1]) + ", and " + quoted[-1])
    return (f"{cls.__qualname__}.__init__() missing {len(names)} required positional "
            f"argument{'s' if len(names) > 1 else ''}: {listed}")


def _values(self: Any) -> tuple[Any, ...]:
    return tuple([getattr(self, name) for name, _, _ in getattr(type(self), _SPEC)])


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(type(self), _SHOWN))
    return f"{type(self).__qualname__}({fields})"


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(_values(self))


def _frozen_setattr(self: Any, name: str, value: Any) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot assign to field '{name}'")


def _frozen_delattr(self: Any, name: str) -> None:
    raise dataclasses.FrozenInstanceError(f"cannot delete field '{name}'")


def _refuse(cls: type, why: str) -> None:
    raise TypeError(f"{cls.__qualname__}: migrator.dataclass does not support {why}; use "
                    "the standard dataclasses.dataclass for this class")


def _make(cls: type[_T], frozen: bool) -> type[_T]:
    own = cls.__dict__
    for name in ("__init__", "__repr__", "__eq__", "__setattr__", "__delattr__",
                 "__post_init__"):
        if name in own:
            _refuse(cls, f"a class that defines {name}")
    undocumented = not cls.__doc__
    if undocumented:  # else the standard decorator derives one with inspect.signature: slow
        cls.__doc__ = cls.__name__
    made: Any = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    spec = []
    for field in dataclasses.fields(made):
        if not (field.init and field.compare and field.hash is None and not field.kw_only):
            _refuse(cls, f"the options of field {field.name!r}")
        spec.append((field.name, field.default, field.default_factory))
    pseudo = set(made.__dataclass_fields__) - {name for name, _, _ in spec}
    if any("InitVar" in str(made.__dataclass_fields__[name].type) for name in pseudo):
        _refuse(cls, "InitVar pseudo-fields")  # ClassVar ones are not fields: fine
    if undocumented:
        made.__doc__ = f"{cls.__name__}({', '.join(name for name, _, _ in spec)})"
    shown = tuple(f.name for f in dataclasses.fields(made) if f.repr)
    places = {name: index for index, (name, _, _) in enumerate(spec)}
    methods: dict[str, Any] = {_SPEC: tuple(spec), _SHOWN: shown, _PLACES: places,
                               "__init__": _init,
                               "__repr__": _repr, "__eq__": _eq}
    if frozen:
        methods.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
    if "__hash__" not in own:  # as the standard decorator: a class's own __hash__ is kept
        methods["__hash__"] = _hash if frozen else None
    for name, value in methods.items():
        setattr(made, name, value)
    result: type[_T] = made
    return result


@overload
def dataclass(cls: type[_T], /) -> type[_T]: ...


@overload
def dataclass(*, frozen: bool = False) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: type[_T] | None = None, /, *,
              frozen: bool = False) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """As ``dataclasses.dataclass`` with its default options or ``frozen=True``."""
    if cls is not None:
        return _make(cls, frozen)
    return lambda inner: _make(inner, frozen)
