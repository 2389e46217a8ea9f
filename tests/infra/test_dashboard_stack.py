"""The dashboard stack: web/dist in a private bucket behind CloudFront, with a config.json made at deploy time."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.infra.conftest import CdkApp

ROLE = "dashboard"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"


@pytest.fixture(scope="module")
def site(cdk_app: CdkApp) -> Any:
    return cdk_app.stacks[ROLE].site  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def deployments(cdk_app: CdkApp) -> dict[str, dict[str, Any]]:
    found = cdk_app.resources(ROLE, "Custom::CDKBucketDeployment")
    return {("assets" if "DeployAssets" in k else "page"): v["Properties"] for k, v in found.items()}


def test_the_site_bucket_is_private_encrypted_and_logged(cdk_app: CdkApp, site: Any) -> None:
    bucket = cdk_app.resource(ROLE, site.bucket)["Properties"]
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"
    }
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": cdk_app.logical_id(ROLE, site.logs)}, "LogFilePrefix": "s3/",
    }


def test_cloudfront_reads_the_bucket_through_origin_access_control_only(cdk_app: CdkApp, site: Any) -> None:
    policy = next(
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in cdk_app.resources(ROLE, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": cdk_app.logical_id(ROLE, site.bucket)}
    )
    allowed = [s for s in policy if s["Effect"] == "Allow"]
    reads = [s for s in allowed if "s3:GetObject" in cdk_app.as_list(s["Action"])]
    assert [s["Principal"] for s in reads] == [{"Service": "cloudfront.amazonaws.com"}]
    assert "AWS:SourceArn" in reads[0]["Condition"]["StringEquals"]
    # the only other grant: CDK's auto-delete handler empties the bucket when the stack is deleted
    others = [s["Principal"] for s in allowed if s not in reads]
    assert others == [{"AWS": {"Fn::GetAtt": ["CustomS3AutoDeleteObjectsCustomResourceProviderRole3B1BD092", "Arn"]}}]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_the_distribution_serves_https_caches_assets_and_never_the_page_or_its_config(
    cdk_app: CdkApp, site: Any
) -> None:
    config = cdk_app.resource(ROLE, site.distribution)["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    assert config["DefaultCacheBehavior"]["CachePolicyId"] == CACHING_OPTIMIZED
    never = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    assert set(never) == {"/config.json", "/index.html"}
    assert all(b["CachePolicyId"] == CACHING_DISABLED and b["ViewerProtocolPolicy"] == "redirect-to-https"
               for b in never.values())
    assert config["Logging"]["Prefix"] == "cloudfront/"
    logs = cdk_app.logical_id(ROLE, site.logs)
    assert cdk_app.render(config["Logging"]["Bucket"]) == f"${{{logs}.RegionalDomainName}}"


def test_every_response_carries_the_security_headers(cdk_app: CdkApp) -> None:
    (policy,) = cdk_app.resources(ROLE, "AWS::CloudFront::ResponseHeadersPolicy").values()
    headers = policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert "connect-src 'self' https://*.amazonaws.com wss://*.amazonaws.com" in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 365 * 24 * 3600


def test_hashed_assets_deploy_first_and_are_cached_for_good(cdk_app: CdkApp, deployments: dict[str, Any]) -> None:
    assets, page = deployments["assets"], deployments["page"]
    assert assets["DestinationBucketKeyPrefix"] == "assets/"
    assert assets["Prune"] is True
    assert assets["SystemMetadata"] == {"cache-control": "public, max-age=31536000, immutable"}
    # the page goes to the root without pruning (which would remove assets/) and is invalidated with its config
    assert "DestinationBucketKeyPrefix" not in page and page["Prune"] is False
    assert page["SystemMetadata"] == {"cache-control": "no-cache"}
    assert page["DistributionPaths"] == ["/index.html", "/config.json"]
    (page_id,) = [k for k in cdk_app.resources(ROLE, "Custom::CDKBucketDeployment") if "DeployPage" in k]
    (assets_id,) = [k for k in cdk_app.resources(ROLE, "Custom::CDKBucketDeployment") if "DeployAssets" in k]
    assert assets_id in cdk_app.json(ROLE)["Resources"][page_id]["DependsOn"]


def test_config_json_is_made_at_deploy_time_from_the_platforms_urls(
    cdk_app: CdkApp, deployments: dict[str, Any]
) -> None:
    """The build holds no URL: config.json is a CloudFormation-resolved document next to it."""
    page = deployments["page"]
    markers = next(m for m in page["SourceMarkers"] if m)
    key = page["SourceObjectKeys"][page["SourceMarkers"].index(markers)].removesuffix(".zip")
    document = (cdk_app.outdir / f"asset.{key}" / "config.json").read_text()
    values = {marker: cdk_app.resolve(value) for marker, value in markers.items()}
    resolved = re.sub(r"<<marker:0xbaba:\d+>>", lambda m: values[m.group(0)], document)
    api, live, data = cdk_app.api.api, cdk_app.stacks["live"].live, cdk_app.data  # type: ignore[attr-defined]
    rest_api = cdk_app.logical_id("api", api.rest_api)
    assert f'"api_url":"https://${{{rest_api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/' in resolved
    assert f'"ws_url":"wss://${{{cdk_app.logical_id("live", live.api)}}}.execute-api.' in resolved
    assert '"region":"${AWS::Region}"' in resolved
    assert f'"client_id":"${{{cdk_app.logical_id("data", data.identity.dashboard_client)}}}"' in resolved


def test_the_dashboard_url_is_an_output(cdk_app: CdkApp, site: Any) -> None:
    outputs = cdk_app.json(ROLE)["Outputs"]
    domain = f"${{{cdk_app.logical_id(ROLE, site.distribution)}.DomainName}}"
    assert cdk_app.render(outputs["DashboardUrl"]["Value"]) == f"https://{domain}/"


def test_the_dashboard_is_not_deployed_locally() -> None:
    """The embedded AWS cannot run BucketDeployment's handler (it shells out to the AWS CLI of a layer at
    /opt/awscli) nor the Node.js auto-delete handler (no AWS SDK in its local executor); `make up` serves web/dist
    itself."""
    from scripts.local_platform import STACKS

    assert "tasklane-dev-dashboard" not in STACKS
    assert "tasklane-dev-live" in STACKS
