"""The business value matrix: what each (true class, predicted class) decision is worth.

Sign convention, used everywhere in guap_pipeline: a value is money *earned* by one
prediction, so gains are positive and costs negative. Layout follows
``sklearn.metrics.confusion_matrix``: rows are the true class, columns the predicted
class, both in the declared class order. A binary problem with classes ``[0, 1]`` and
positive class ``1`` therefore reads ``[[TN, FP], [FN, TP]]``.

A cell is either a constant or *example-dependent*: ``constant + Σ rate_i × column_i``
of the row (fraud: FN costs ``-1 × amount``). Cells are data, never code to evaluate.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike, NDArray

from guap_pipeline.errors import ConfigError, InputError

QUADRANTS = ("tp", "fp", "fn", "tn")


def integer_codes(numbers: NDArray, classes: Sequence[Hashable]) -> NDArray[np.intp]:
    """Position of each number in the integer ``classes``, -1 where none (NaN included):
    a comparison per class, no hashing."""
    codes = np.full(len(numbers), -1, dtype=np.intp)
    for code, cls in enumerate(classes):
        codes[numbers == cls] = code
    return codes


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(float(value))


@dataclass(frozen=True)
class CellValue:
    """Value of one matrix cell: ``constant + Σ rate × row[column]``."""

    constant: float = 0.0
    rates: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, raw: object, field: str) -> CellValue:
        """Read a number, or a mapping ``{constant: c, <column>: rate, ...}``."""
        if _is_number(raw):
            return cls(constant=float(raw))  # type: ignore[arg-type]
        if not isinstance(raw, Mapping) or not raw:
            raise ConfigError(
                field,
                f"expected a number or a mapping like {{constant: -5, amount: 0.9}}, got {raw!r}",
            )
        constant = 0.0
        rates: list[tuple[str, float]] = []
        for key, rate in raw.items():
            if not isinstance(key, str) or not key:
                raise ConfigError(field, f"column names must be non-empty strings, got {key!r}")
            if not _is_number(rate):
                raise ConfigError(f"{field}.{key}", f"expected a finite number, got {rate!r}")
            if key == "constant":
                constant = float(rate)
            else:
                rates.append((key, float(rate)))
        return cls(constant=constant, rates=tuple(sorted(rates)))

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(column for column, _ in self.rates)


@dataclass(frozen=True)
class ValueMatrix:
    """K×K cell values, rows = true class, columns = predicted class, in ``classes`` order."""

    classes: tuple[Hashable, ...]
    cells: tuple[tuple[CellValue, ...], ...]

    def __post_init__(self) -> None:
        k = len(self.classes)
        if len(self.cells) != k or any(len(row) != k for row in self.cells):
            raise ConfigError("value_matrix", f"must be {k}×{k} for classes {list(self.classes)}")

    @classmethod
    def from_named(
        cls,
        named: Mapping[str, object],
        *,
        classes: Sequence[Hashable],
        positive_class: Hashable,
        field: str = "value_matrix",
    ) -> ValueMatrix:
        """Build a binary matrix from ``{tp, fp, fn, tn}``; all four are required."""
        if len(classes) != 2:
            raise ConfigError(
                field, f"named quadrants need exactly 2 classes, got {len(classes)}; use a K×K list"
            )
        unknown = sorted(set(named) - set(QUADRANTS))
        if unknown:
            raise ConfigError(field, f"unknown quadrant(s) {unknown}; expected tp, fp, fn, tn")
        missing = [q for q in QUADRANTS if q not in named]
        if missing:
            raise ConfigError(field, f"missing quadrant(s) {missing}; give all of tp, fp, fn, tn")
        pos = list(classes).index(positive_class)
        neg = 1 - pos
        grid: list[list[CellValue]] = [[CellValue(), CellValue()], [CellValue(), CellValue()]]
        for quadrant, (true, pred) in {
            "tp": (pos, pos),
            "fp": (neg, pos),
            "fn": (pos, neg),
            "tn": (neg, neg),
        }.items():
            grid[true][pred] = CellValue.parse(named[quadrant], f"{field}.{quadrant}")
        return cls(tuple(classes), tuple(tuple(row) for row in grid))

    @classmethod
    def from_nested(
        cls, rows: object, *, classes: Sequence[Hashable], field: str = "value_matrix"
    ) -> ValueMatrix:
        """Build from a K×K nested list in sklearn layout (rows true, columns predicted)."""
        k = len(classes)
        if (
            not isinstance(rows, Sequence)
            or isinstance(rows, str)
            or len(rows) != k
            or any(not isinstance(r, Sequence) or isinstance(r, str) or len(r) != k for r in rows)
        ):
            raise ConfigError(
                field,
                f"matrix form must be {k}×{k} (rows = true class, columns = predicted class, "
                f"classes {list(classes)}), got {rows!r}",
            )
        grid = tuple(
            tuple(CellValue.parse(cell, f"{field}[{i}][{j}]") for j, cell in enumerate(row))
            for i, row in enumerate(rows)
        )
        return cls(tuple(classes), grid)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def columns(self) -> tuple[str, ...]:
        """Data columns that example-dependent cells read, sorted."""
        return tuple(sorted({c for row in self.cells for cell in row for c in cell.columns}))

    def constants(self) -> NDArray[np.float64]:
        """K×K array of the cells' constant parts."""
        return np.array([[cell.constant for cell in row] for row in self.cells], dtype=np.float64)

    def rates(self) -> NDArray[np.float64]:
        """K×K×C array: rate of each data column (``self.columns`` order) in each cell."""
        index = {column: i for i, column in enumerate(self.columns)}
        out = np.zeros((self.n_classes, self.n_classes, len(index)), dtype=np.float64)
        for i, row in enumerate(self.cells):
            for j, cell in enumerate(row):
                for column, rate in cell.rates:
                    out[i, j, index[column]] = rate
        return out

    def _column_matrix(self, columns: Mapping[str, ArrayLike] | None, n: int) -> NDArray:
        """n×C float matrix of the data columns the cells read; clear error if one is missing.
        One column is its own data seen as n×1 (no copy)."""
        if not self.columns:
            return np.zeros((n, 0), dtype=np.float64)
        columns = columns or {}
        missing = [c for c in self.columns if c not in columns]
        if missing:
            raise InputError(f"value matrix reads column(s) {missing}, which the data lacks")
        arrays = []
        for column in self.columns:
            data = np.asarray(columns[column], dtype=np.float64)
            if data.shape != (n,):
                raise InputError(f"column '{column}' has shape {data.shape}, expected ({n},)")
            if not np.isfinite(data).all():
                raise InputError(f"column '{column}' has missing or non-finite values")
            arrays.append(data)
        return arrays[0][:, np.newaxis] if len(arrays) == 1 else np.column_stack(arrays)

    def row_values(
        self,
        true_codes: ArrayLike,
        pred_codes: ArrayLike,
        columns: Mapping[str, ArrayLike] | None = None,
    ) -> NDArray[np.float64]:
        """Value of each row's own (true, predicted) cell; codes index ``classes``."""
        t = np.asarray(true_codes, dtype=np.intp)
        p = np.asarray(pred_codes, dtype=np.intp)
        return self._values(t, p, self._column_matrix(columns, len(t)))

    def decision_values(
        self,
        true_codes: ArrayLike,
        decisions: Iterable[int],
        columns: Mapping[str, ArrayLike] | None = None,
    ) -> Iterator[NDArray[np.float64]]:
        """Value of each row were it predicted as each of ``decisions`` in turn (class
        codes): :meth:`row_values` of a constant decision, the data columns read once."""
        t = np.asarray(true_codes, dtype=np.intp)
        x = self._column_matrix(columns, len(t))
        for decision in decisions:
            yield self._values(t, decision, x)

    def _values(self, t: NDArray, p: NDArray | int, x: NDArray) -> NDArray[np.float64]:
        """Value of each row's (true, predicted) cell given its n×C data columns ``x``."""
        values = self.constants()[t, p]
        if x.shape[1]:
            values += _row_dot(self.rates(), t, p, x)
        return values

    def oracle_values(
        self, true_codes: ArrayLike, columns: Mapping[str, ArrayLike] | None = None
    ) -> NDArray[np.float64]:
        """Value of each row under the best decision for its true class (max over columns)."""
        best = np.full(len(np.asarray(true_codes)), -np.inf)
        for candidate in self.decision_values(true_codes, range(self.n_classes), columns):
            np.maximum(best, candidate, out=best)
        return best

    def as_table(self) -> list[list[str]]:
        """Human-readable K×K cells, e.g. ``'-5 + 0.9×amount'``, for reports and metadata."""

        def show(cell: CellValue) -> str:
            parts = [f"{rate:g}×{column}" for column, rate in cell.rates]
            if cell.constant or not parts:
                parts.insert(0, f"{cell.constant:g}")
            return " + ".join(parts)

        return [[show(cell) for cell in row] for row in self.cells]


def _row_dot(rates: NDArray, true: NDArray, pred: NDArray | int, x: NDArray) -> NDArray:
    """Σ over data columns of each row's cell rate × its value (``rates`` K×K×C, ``x`` n×C).

    With one column that is a product, computed as such: the same numbers as the general
    ``einsum``, without gathering an n×C matrix of rates first.
    """
    if x.shape[1] == 1:
        product = rates[:, :, 0][true, pred]
        product *= x[:, 0]
        return product
    return np.einsum("nc,nc->n", rates[true, pred], x)
