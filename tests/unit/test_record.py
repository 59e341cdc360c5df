"""Records: typed, immutable, validated as a whole with error locations (pure, no I/O)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from migrator.record import Problem, Record, RecordError, field

pytestmark = pytest.mark.unit


def _even(value: int) -> int:
    if value % 2:
        raise ValueError(f"{value} is odd")
    return value


class Inner(Record):
    name: str = field(min_length=1)
    size: int | None = field(default=None, ge=1, le=10)


class Outer(Record):
    title: str
    inner: Inner
    items: list[Inner] = field(factory=list)
    table: dict[str, Inner] = field(factory=dict)
    mode: Literal["a", "b"] = "a"
    path: Path | Literal[False] | None = None
    ratio: float = field(default=1.0, gt=0)
    even: int = field(default=0, check=_even)
    words: list[str] | None = field(default=None, before=lambda v: [v] if isinstance(v, str)
                                    else v)
    anything: Any = None

    def check_record(self) -> None:
        if self.title == "forbidden":
            raise ValueError("this title is not allowed")


def problems(data: Any) -> list[Problem]:
    with pytest.raises(RecordError) as caught:
        Outer.validate(data)
    return caught.value.problems


def test_valid_data_becomes_typed_fields_with_defaults() -> None:
    record = Outer.validate({"title": "t", "inner": {"name": "n", "size": 3},
                             "items": [{"name": "i"}], "path": "/x", "ratio": 2,
                             "words": "one"})
    assert record.inner == Inner(name="n", size=3)
    assert record.items == [Inner(name="i")]
    assert record.path == Path("/x")
    assert record.ratio == 2.0 and isinstance(record.ratio, float)
    assert record.words == ["one"]
    assert (record.mode, record.table, record.even, record.anything) == ("a", {}, 0, None)


def test_every_problem_is_reported_with_its_location() -> None:
    found = problems({"inner": {"name": "", "size": 11, "color": "red"},
                      "items": [{"name": "ok"}, {"size": 2}], "mode": "c", "even": 3})
    by_loc = {p.loc: p for p in found}
    assert by_loc[("title",)].kind == "missing"
    assert by_loc[("inner", "name")].message == "should have at least 1 character"
    assert by_loc[("inner", "size")].message == "should be less than or equal to 10"
    assert by_loc[("inner", "color")].kind == "unknown"
    assert by_loc[("items", 1, "name")].kind == "missing"
    assert by_loc[("mode",)].message == "expected 'a' or 'b', got str 'c'"
    assert by_loc[("even",)].message == "3 is odd"
    assert len(found) == 7


def test_no_coercion_beyond_int_to_float_and_str_to_path() -> None:
    found = problems({"title": 5, "inner": {"name": "n", "size": "3"}, "ratio": "2",
                      "path": True})
    messages = {p.loc: p.message for p in found}
    assert messages[("title",)] == "expected a string, got int 5"
    assert messages[("inner", "size")] == "expected an integer or null, got str '3'"
    assert messages[("ratio",)] == "expected a number, got str '2'"
    assert messages[("path",)] == "expected a path or false or null, got boolean true"


def test_a_bool_is_not_an_integer_and_zero_is_not_false() -> None:
    assert problems({"title": "t", "inner": {"name": "n", "size": True}})[0].loc == (
        "inner", "size")
    assert problems({"title": "t", "inner": {"name": "n"}, "path": 0})[0].loc == ("path",)


def test_record_rules_run_after_the_fields_and_point_at_the_record() -> None:
    found = problems({"title": "forbidden", "inner": {"name": "n"}})
    assert found == [Problem((), "value", "this title is not allowed")]


def test_an_error_inside_a_nested_constructor_keeps_its_location() -> None:
    class Holder(Record):
        inner: Inner = field(before=lambda v: Inner(name=v) if isinstance(v, str) else v)

    with pytest.raises(RecordError) as caught:
        Holder.validate({"inner": ""})
    assert caught.value.problems[0].loc == ("inner", "name")


def test_records_are_immutable_and_replace_validates() -> None:
    record = Inner(name="n")
    with pytest.raises(AttributeError, match="immutable"):
        record.name = "m"  # type: ignore[misc]
    assert record.replace(size=2) == Inner(name="n", size=2)
    with pytest.raises(RecordError, match="size: should be greater than or equal to 1"):
        record.replace(size=0)


def test_private_attributes_are_settable_and_outside_equality() -> None:
    a, b = Inner(name="n"), Inner(name="n")
    a._note = "x"  # type: ignore[attr-defined]
    assert a == b and hash(a) == hash(b)


def test_dump_gives_plain_json_data() -> None:
    record = Outer.validate({"title": "t", "inner": {"name": "n"}, "path": "/p",
                             "table": {"k": {"name": "v"}}})
    dumped = record.dump()
    assert dumped["path"] == "/p"
    assert dumped["table"] == {"k": {"name": "v", "size": None}}
    assert Outer.validate(dumped) == record


def test_field_names_in_declaration_order_with_inherited_first() -> None:
    class Base(Record):
        a: int = 0

    class Child(Base):
        b: int = 0

    assert Child.field_names() == ["a", "b"]


def test_a_mutable_plain_default_is_refused_when_the_record_is_first_used() -> None:
    class Bad(Record):
        items: list[str] = []  # noqa: RUF012  (the mistake under test)

    with pytest.raises(TypeError, match="factory"):
        Bad.validate({})


def test_non_mapping_input_is_a_type_problem_at_the_top() -> None:
    with pytest.raises(RecordError) as caught:
        Inner.validate(["not", "a", "mapping"])
    assert caught.value.problems == [
        Problem((), "type", "expected a mapping, got list ['not', 'a', 'mapping']")]


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=4),
                           max_leaves=12)


@given(st.dictionaries(st.sampled_from(["name", "size", "other"]), json_values, max_size=3))
def test_validation_either_gives_a_valid_record_or_locates_every_problem(data: Any) -> None:
    try:
        record = Inner.validate(data)
    except RecordError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.loc and problem.loc[0] in ("name", "size", "other")
            assert problem.message
        return
    assert isinstance(record.name, str) and record.name
    assert record.size is None or (isinstance(record.size, int) and 1 <= record.size <= 10)
    assert "other" not in data
    assert Inner.validate(record.dump()) == record
