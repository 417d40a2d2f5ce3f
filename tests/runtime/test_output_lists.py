"""Lists of scalars (embeddings: thousands of floats) are checked and encoded in one pass; what the
item-by-item path accepted, coerced or refused stays the same."""

from __future__ import annotations

import enum
import pathlib

import pytest

from cogkit.runtime.predictor import OutputEncoder, OutputError, check_output
from cogkit.schema.signature import type_from_annotation


def spec(tp: object):
    return type_from_annotation(tp, "output", allow_output=True)


def test_vectors_pass_unchanged_and_tuples_become_lists() -> None:
    vectors = [[0.5, -1.25, 3], [0.0, 2.0, 1e-30]]
    assert check_output(vectors, spec(list[list[float]])) == vectors
    assert check_output((1.0, 2), spec(list[float])) == [1.0, 2]
    assert OutputEncoder().encode(((1.5, None, "a", True),)) == [[1.5, None, "a", True]]


@pytest.mark.parametrize(
    ("value", "annotation", "message"),
    [
        ([[1.0, "x"]], list[list[float]], "output[0][1]: expected float, got str"),
        ([1.0, True], list[float], "output[1]: expected float, got bool"),
        ([1, True], list[int], "output[1]: expected int, got bool"),
        ([1, None], list[int], "output[1]: expected int, got None"),
        (["a", 3], list[str], "output[1]: expected str, got int"),
    ],
)
def test_a_wrong_item_is_still_named(value: list, annotation: object, message: str) -> None:
    with pytest.raises(OutputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_output(value, spec(annotation))


def test_coercions_of_the_item_path_still_apply() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    assert check_output([2.0, 3], spec(list[int])) == [2, 3]  # integral floats become ints
    assert check_output(["a.txt"], spec(list[pathlib.Path])) == [pathlib.Path("a.txt")]
    assert OutputEncoder().encode([Level.HIGH, 1]) == [3, 1]  # an int subclass takes the item path
