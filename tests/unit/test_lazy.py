"""sendguard.lazy.cached_property: computed on first read, then read from the instance."""

from __future__ import annotations

from sendguard.lazy import cached_property


class Counted:
    def __init__(self) -> None:
        self.calls = 0

    @cached_property
    def value(self) -> list[int]:
        """A fresh list per instance."""
        self.calls += 1
        return [self.calls]


def test_a_value_is_computed_once_per_instance_and_kept_in_it():
    a, b = Counted(), Counted()
    assert a.value is a.value and a.calls == 1
    assert a.__dict__["value"] == [1]
    assert b.value == [1] and b.value is not a.value
    del a.value  # forgetting it computes it again, as with functools.cached_property
    assert a.value == [2]


def test_the_class_attribute_is_the_descriptor_with_its_docstring():
    assert isinstance(Counted.value, cached_property)
    assert Counted.value.__doc__ == "A fresh list per instance."
