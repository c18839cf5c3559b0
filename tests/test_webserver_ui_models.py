"""The Dagster UI of a code location with two models (``models:``): headless Chromium
sees both models' asset groups, in the catalog and in each group's lineage graph."""

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from assets_defs.factory import build_definitions
from tests.test_several_models import MODELS, write_configs
from tests.test_webserver_ui import (
    CHROMIUM,
    UI,
    graphql,
    render,
    start_webserver,
    wait_until_loaded,
)

pytestmark = [
    pytest.mark.slow,  # a Dagster webserver driven by Chromium
    pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium)"),
]
GROUPS = ("landing", "daily", "series")


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    root = tmp_path_factory.mktemp("ui_models")
    config = write_configs(root)
    (root / "dagster_home").mkdir()
    (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with ExitStack() as stack:
        env = stack.enter_context(pytest.MonkeyPatch.context())
        env.setenv("DAGSTER_HOME", str(root / "dagster_home"))
        env.setenv("GUAP_CONFIG", str(config))
        url, server, log = start_webserver(root, stack)
        wait_until_loaded(url, server, log)
        yield UI(url, root, 0, "sqlite")


def rendered(ui: UI, page: str, marker: str) -> str:
    """The page's text once it shows ``marker``: on a loaded machine Chromium's time
    budget can end before the UI has fetched its data, so try up to three times."""
    for _ in range(3):
        text = render(ui, page)
        if marker in text:
            break
    return text


def groups(config: Path) -> dict[str, set[str]]:
    """The asset names of each group, as the definitions declare them."""
    graph = build_definitions(config).resolve_asset_graph()
    found: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        found.setdefault(graph.get(key).group_name, set()).add(key.to_user_string())
    return found


def test_catalog_shows_both_models_asset_groups(ui: UI) -> None:
    declared = groups(ui.root / "together.yaml")
    assert set(declared) == {f"{model}_{group}" for model in MODELS for group in GROUPS}
    text = rendered(ui, "assets", "churn_landing")
    for group, assets in declared.items():
        assert group in text, group
        for asset in assets:
            assert asset.replace("/", " / ") in text, asset  # the catalog spaces the prefix

    data = graphql(ui.url, "{ assetNodes { assetKey { path } groupName } }")
    served = {"/".join(n["assetKey"]["path"]): n["groupName"] for n in data["assetNodes"]}
    assert served == {asset: group for group, assets in declared.items() for asset in assets}


@pytest.mark.parametrize("model", list(MODELS))
def test_each_models_daily_group_draws_its_lineage(ui: UI, model: str) -> None:
    text = rendered(ui, f"locations/guap/asset-groups/{model}_daily", "partitions")
    assert "Lineage" in text
    for asset in ("validated_predictions", "outcome_labels", "daily_quadrant_profit"):
        assert asset in text
    other = next(name for name in MODELS if name != model)
    assert f"{other}_daily" not in text
