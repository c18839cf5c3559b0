"""Validation's shortcuts give what the general path gives, row for row and type for type.

Ids are stripped only when a byte at the edge of some value could be whitespace, a day
column of one day is that day repeated, and the source column is repeated in Arrow; each
is checked here against the per-row operation it stands in for.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from guap_pipeline import load_config
from guap_pipeline.ingest import columns, validation
from guap_pipeline.ingest.columns import constant_text, local_days
from guap_pipeline.ingest.readers import ROW, iter_landing_file
from guap_pipeline.ingest.validation import validate_predictions
from tests.pipeline_data import predictions_for, write_config

TEXTS = {
    "plain": ["a-1", "b-2", "c"],
    "a leading space": [" a-1", "b-2"],
    "a trailing space": ["a-1", "b-2 "],
    "tabs and newlines": ["a", "\tb", "c\n"],
    "a leading unicode space": ["\u00a0a", "b"],
    "a trailing unicode space": ["a", "é", "b\u3000"],
    "empty and missing": ["", None, "x"],
    "control bytes": ["a\x1f", "\x1cb", "c\x7f"],
}


def as_read(values: list[str | None]) -> pd.Series:
    """Text as a Parquet file's text column comes out of ``to_pandas``."""
    return pa.table({"v": pa.array(values, pa.string())}).to_pandas()["v"]


@pytest.mark.parametrize("name", TEXTS)
def test_stripped_text_equals_a_strip_of_every_value(name: str) -> None:
    values = as_read(TEXTS[name])
    want = values.astype("string").str.strip()
    pd.testing.assert_series_equal(columns._stripped(values), want)
    pd.testing.assert_series_equal(columns._stripped(values.iloc[1:]), want.iloc[1:])


@pytest.mark.parametrize("second", [[" b", "c"], ["b", "c"]])
def test_stripped_text_of_several_chunks_and_of_numbers(second: list[str]) -> None:
    chunks = pa.chunked_array(
        [pa.array(["a"], pa.large_string()), pa.array(second, pa.large_string())]
    )
    for values in (pd.Series(pd.arrays.ArrowStringArray(chunks)), pd.Series([1, 22, 333])):
        want = values.astype("string").str.strip()
        pd.testing.assert_series_equal(columns._stripped(values), want)


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_local_days_of_one_day_and_of_several_days_equal_formatted_dates(timezone: str) -> None:
    one_day = pd.Series(pd.date_range("2026-03-02 06:00", periods=5, freq="h", tz="UTC"))
    several = pd.concat([one_day, pd.Series([pd.NaT, pd.Timestamp("2026-03-04", tz="UTC")])])
    # Days on which New York's clocks change: 23 and 25 local hours, around midnight.
    spring = pd.Series(
        pd.date_range("2026-03-08 04:30", "2026-03-09 04:30", freq="30min", tz="UTC")
    )
    autumn = pd.Series(
        pd.date_range("2026-11-01 03:30", "2026-11-02 05:30", freq="30min", tz="UTC")
    )
    for stamps in (one_day, several.reset_index(drop=True), spring, autumn):
        got = local_days(stamps, timezone)
        want = stamps.dt.tz_convert(timezone).dt.strftime("%Y-%m-%d").astype(got.dtype)
        pd.testing.assert_series_equal(got, want)
        assert got.dtype == pd.StringDtype("pyarrow")
        assert pa.array(got.array).type == pa.large_string()


def test_constant_text_is_the_column_a_scalar_assignment_gives() -> None:
    want = pd.DataFrame(index=range(4)).assign(source="landing/a file.csv")["source"]
    got = pd.Series(constant_text("landing/a file.csv", 4))
    pd.testing.assert_series_equal(got, want, check_names=False)
    assert pa.array(got.array).equals(pa.array(want.array))


def slices(tmp_path: Path) -> list[pd.DataFrame]:
    """Raw slices of a predictions file over two days, with padded ids and versions in
    some slices only, a missing and an empty version, and a row that fails."""
    frame = pd.concat(
        [predictions_for("2026-10-02", 8, seed=1), predictions_for("2026-10-03", 8, seed=2)],
        ignore_index=True,
    )
    frame["prediction_id"] = frame["prediction_id"].astype(object)
    frame.loc[9, "prediction_id"] = " padded-id\t"
    frame["model_version"] = frame["model_version"].astype(object)
    frame.loc[10, "model_version"] = None
    frame.loc[11, "model_version"] = " v2 "
    frame.loc[12, "model_version"] = ""
    frame.loc[13, "score"] = 2.0  # outside [0, 1]: quarantined
    path = tmp_path / "predictions.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return list(iter_landing_file(path, batch_rows=5, timestamp="predicted_at"))


def test_validated_slices_are_the_same_through_the_general_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(write_config(tmp_path))
    raw = slices(tmp_path)
    fast = [validate_predictions(part, config, source="p.parquet") for part in raw]
    monkeypatch.setattr(columns, "_plain_edges", lambda text: False)
    general = [validate_predictions(part, config, source="p.parquet") for part in raw]
    for (good, bad), (want_good, want_bad) in zip(fast, general, strict=True):
        table = pa.Table.from_pandas(good, preserve_index=False)
        assert table.equals(pa.Table.from_pandas(want_good, preserve_index=False), True)
        pd.testing.assert_frame_equal(bad, want_bad)
    days = np.concatenate([good["date"].unique() for good, _ in fast])
    assert set(days) == {"2026-10-02", "2026-10-03"}
    assert " padded-id\t" not in set(pd.concat([g["prediction_id"] for g, _ in fast]))
    assert sum(len(bad) for _, bad in fast) == 1


@pytest.mark.parametrize(
    "values",
    [
        pd.Series([1, -22, 333, 10_000_000_000], dtype="int64"),
        pd.Series([7, 8], dtype="uint16"),
        pd.Series([1.0, np.nan, -2.5, 1e20]),
    ],
)
def test_numbers_as_text_skip_the_scan_and_equal_a_strip(values: pd.Series) -> None:
    """Integer ids (and ids read as floats) become text unscanned: a strip changes none."""
    pd.testing.assert_series_equal(columns._stripped(values), values.astype("string").str.strip())


def test_long_days_are_found_as_a_per_row_length_finds_them() -> None:
    stamps = pd.Series(pd.to_datetime(["2026-10-02", None, "2026-10-03"], utc=True))
    for days in (
        columns.local_days(stamps, "UTC"),
        pd.Series(["12026-01-01", None, "2026-01-01", "-001-01-01", ""], dtype="string"),
    ):
        want = (days.str.len() > 10).fillna(False).to_numpy(dtype=bool)
        np.testing.assert_array_equal(validation._longer_than(days, 10), want)


def test_a_clean_slice_skips_what_the_general_path_gives_for_no_rows(tmp_path: Path) -> None:
    """A slice without a bad row takes its first zero rows and no records, which is what
    selecting its bad rows and making their records gives."""
    config = load_config(write_config(tmp_path))
    for part in slices(tmp_path):
        none = np.zeros(len(part), dtype=bool)
        pd.testing.assert_frame_equal(part.iloc[:0], part.loc[none])
        assert validation._records(part.loc[none]) == []
        bad = validate_predictions(part, config, source="p")[1]
        if len(bad):  # the general path, on the slice's bad rows
            assert list(bad["record"]) == validation._records(part[part[ROW].isin(bad["row"])])
