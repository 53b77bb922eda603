"""``cached_property`` without the lock: for objects made and read by one check.

Python 3.11's ``functools.cached_property`` takes one lock per property (for every instance of
the class) around each first computation; a check computes ~35 of them per message, and the lock
was most of what each cost (bench/README.md). Like it, this stores the value in the instance's
``__dict__``, where later reads find it without calling the descriptor. Two threads reading the
same new attribute at once may both compute it: use it only where each object belongs to one
check (a message, its readings, its fit model, the check's context).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")


class cached_property(Generic[T]):  # noqa: N801  (a drop-in for functools.cached_property)
    def __init__(self, func: Callable[[Any], T]) -> None:
        self.func = func
        self.attrname = ""
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.attrname = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_property[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object | None, owner: type | None = None) -> T | cached_property[T]:
        if instance is None:
            return self
        value = instance.__dict__[self.attrname] = self.func(instance)
        return value
