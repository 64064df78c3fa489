"""The shipped example catalogue is valid, and every setting is documented."""

import re
from pathlib import Path

from promotions.catalogue.loader import catalog_load

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_catalogue_loads():
    catalog = catalog_load(ROOT / "deploy" / "catalogue.example.yaml")
    assert catalog.stage_names == ["staging", "production"]


def test_every_environment_variable_the_settings_read_is_documented():
    settings = (ROOT / "gitops_portal" / "settings.py").read_text()
    read = set(re.findall(r'env_\w+\(\s*"([A-Z_]+)"', settings))
    assert "DATABASE_URL" in read
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in read:
        assert f"{name}=" in example, f"{name} is not in .env.example"
        assert f"`{name}`" in readme, f"{name} is not in the README"


def test_the_rbac_manifests_are_valid_and_read_only():
    import kubernetes_validate
    import yaml

    for path in sorted((ROOT / "deploy" / "rbac").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(document, kubernetes_validate.latest_version(), strict=True)
            for rule in document.get("rules", []):
                assert set(rule["verbs"]) <= {"get", "list", "watch"}, path


def test_it_grants_read_access_to_every_kind_the_cluster_client_lists():
    import yaml

    from promotions.cluster.client import KINDS, OPERATOR_KINDS

    wanted = {(group, plural) for group, _version, plural, _operator in OPERATOR_KINDS.values()}
    wanted |= {("apps" if api == "apps" else "", plural) for plural, _ns, _all, api in KINDS.values()}
    for path in sorted((ROOT / "deploy" / "rbac").glob("*.yaml")):
        granted = {
            (group, resource)
            for document in yaml.safe_load_all(path.read_text())
            for rule in (document.get("rules") or [])
            for group in rule["apiGroups"]
            for resource in rule["resources"]
        }
        assert wanted <= granted, (path.name, sorted(wanted - granted))
