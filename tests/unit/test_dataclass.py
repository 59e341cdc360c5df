"""migrator.dataclass behaves as the standard decorator for every form it accepts."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from migrator.dataclass import dataclass

pytestmark = pytest.mark.unit

# a field: (kind, default) with kind "required", "default" or "factory"
FIELD = st.one_of(
    st.tuples(st.just("required"), st.none()),
    st.tuples(st.just("default"), st.one_of(st.integers(), st.text(max_size=3), st.none())),
    st.tuples(st.just("factory"), st.sampled_from([list, dict, tuple])),
)


def _build(decorate: Any, fields: list[tuple[str, Any]], hidden: set[int]) -> Any:
    """The same class body, decorated by ``decorate``: a required field may not follow
    one with a default, as in any dataclass, so required ones come first."""
    ordered = sorted(enumerate(fields), key=lambda item: item[1][0] != "required")
    namespace: dict[str, Any] = {"__annotations__": {}, "__qualname__": "Sample",
                                 "__module__": __name__}
    for index, (kind, default) in ordered:
        name = f"f{index}"
        namespace["__annotations__"][name] = "Any"
        repr_shown = index not in hidden
        if kind == "default":
            namespace[name] = dataclasses.field(default=default, repr=repr_shown)
        elif kind == "factory":
            namespace[name] = dataclasses.field(default_factory=default, repr=repr_shown)
        elif not repr_shown:
            namespace[name] = dataclasses.field(repr=False)
    return decorate(type("Sample", (), namespace))


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "ok", call()
    except TypeError as exc:
        return "TypeError", str(exc)


@settings(max_examples=300, deadline=None)
@given(
    fields=st.lists(FIELD, max_size=5),
    hidden=st.sets(st.integers(0, 4)),
    frozen=st.booleans(),
    positional=st.integers(0, 6),
    keywords=st.sets(st.integers(0, 6)),
    values=st.lists(st.integers(), min_size=7, max_size=7),
)
def test_construction_repr_equality_hash_and_freezing_match_the_standard_decorator(
    fields: list[tuple[str, Any]], hidden: set[int], frozen: bool, positional: int,
    keywords: set[int], values: list[int],
) -> None:
    ours = _build(dataclass(frozen=frozen), fields, hidden)
    theirs = _build(dataclasses.dataclass(frozen=frozen), fields, hidden)
    names = [f.name for f in dataclasses.fields(theirs)]
    assert [f.name for f in dataclasses.fields(ours)] == names
    assert ours.__match_args__ == theirs.__match_args__
    # argument names beyond the fields are unknown keywords; overlapping ones repeat
    args = values[:positional]
    kwargs = {(names[i] if i < len(names) else f"x{i}"): values[i] for i in keywords}
    made, expected = _outcome(lambda: ours(*args, **kwargs)), _outcome(
        lambda: theirs(*args, **kwargs))
    assert made[0] == expected[0]
    if made[0] == "TypeError":
        assert made[1] == expected[1]
        return
    mine, other = made[1], expected[1]
    assert repr(mine) == repr(other)
    assert dataclasses.asdict(mine) == dataclasses.asdict(other)
    again = ours(*args, **kwargs)
    assert (mine == again) is (other == theirs(*args, **kwargs)) is True
    assert mine != other  # different classes never compare equal, as with the standard one
    if frozen:
        assert _outcome(lambda: hash(mine))[0] == _outcome(lambda: hash(other))[0]
        if _outcome(lambda: hash(other))[0] == "ok":
            assert hash(mine) == hash(again)
        for target in (mine, other):
            with pytest.raises(dataclasses.FrozenInstanceError):
                target.f0 = 1
            with pytest.raises(dataclasses.FrozenInstanceError):
                del target.anything
    else:
        assert ours.__hash__ is None and theirs.__hash__ is None
    if names:
        changed = dataclasses.replace(mine, **{names[0]: "changed"})
        assert getattr(changed, names[0]) == "changed" and type(changed) is ours


def test_default_factories_give_each_instance_its_own_value() -> None:
    @dataclass
    class Box:
        items: list[int] = dataclasses.field(default_factory=list)

    first, second = Box(), Box()
    first.items.append(1)
    assert second.items == [] and Box([1]) == first


def test_a_frozen_class_keeps_its_own_hash_and_class_variables_are_not_fields() -> None:
    @dataclass(frozen=True)
    class Named:
        counter: ClassVar[int] = 0
        name: str
        note: str = ""

        def __hash__(self) -> int:
            return hash(self.name)

    assert [f.name for f in dataclasses.fields(Named)] == ["name", "note"]
    assert hash(Named("a", "x")) == hash("a") and Named("a") != Named("a", "x")


@pytest.mark.parametrize("body", [
    "def __post_init__(self): pass",
    "def __init__(self): pass",
    "def __eq__(self, other): return True",
    "x: int = dataclasses.field(default=0, compare=False)",
    "x: int = dataclasses.field(default=0, init=False)",
    "x: dataclasses.InitVar[int] = 0",
])
def test_forms_it_does_not_reproduce_are_refused_when_the_class_is_defined(body: str) -> None:
    source = f"class Odd:\n    y: int = 0\n    {body}\n"
    namespace: dict[str, Any] = {"dataclasses": dataclasses}
    # compiled without this module's `from __future__ import annotations`, so the
    # InitVar annotation is an object the standard decorator recognises
    exec(compile(source, "<test>", "exec", dont_inherit=True), namespace)
    with pytest.raises(TypeError, match=r"use the standard dataclasses\.dataclass"):
        dataclass(namespace["Odd"])
