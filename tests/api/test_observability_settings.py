"""The settings of logs and metrics: defaults, and a clear refusal of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgergate.infrastructure.settings import SettingsError, load_settings


def settings(tmp_path: Path, **env: str) -> object:
    return load_settings({"LEDGERGATE_DATA_DIR": str(tmp_path), **env}, env_file=tmp_path / "none.env")


def test_the_access_log_is_on_payloads_off_and_metrics_need_an_admin_token_by_default(tmp_path: Path) -> None:
    loaded = settings(tmp_path)
    assert loaded.access_log is True and loaded.log_payloads is False  # type: ignore[attr-defined]
    assert loaded.metrics_token is None and loaded.metrics_label_limit == 500  # type: ignore[attr-defined]
    assert loaded.log_stream == "stdout"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("LEDGERGATE_METRICS_TOKEN", "short", "at least 16"),
        ("LEDGERGATE_METRICS_TOKEN", "has a space in it, really", "no spaces"),
        ("LEDGERGATE_ACCESS_LOG", "maybe", "true or false"),
        ("LEDGERGATE_LOG_STREAM", "file", "stdout or stderr"),
        ("LEDGERGATE_METRICS_MAX_LABEL_VALUES", "0", "between 1 and"),
    ],
)
def test_a_bad_observability_setting_is_refused_naming_it(tmp_path: Path, name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError, match=name) as refused:
        settings(tmp_path, **{name: value})
    assert says in str(refused.value)
    assert value not in str(refused.value) or name != "LEDGERGATE_METRICS_TOKEN"  # a token is never echoed
