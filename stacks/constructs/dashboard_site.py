"""The web dashboard: web/dist in a private S3 bucket behind CloudFront, with its runtime config.json.

The build holds no URL. BucketDeployment uploads it together with a config.json made at deploy time from the
API's and the WebSocket API's URLs and the Cognito app client (CloudFormation resolves them), and invalidates
the two files that change between deployments (index.html, config.json: never cached); the hashed assets
under assets/ are cached for a year.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Annotations, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from stacks.config import EnvironmentConfig

ROOT = Path(__file__).resolve().parents[2]
WEB_DIST = ROOT / "web" / "dist"
PLACEHOLDER = ROOT / "build" / "dashboard-placeholder"
# What the page may reach: itself, and exactly this deployment's API, WebSocket API and Cognito endpoint
# (connect-src, filled in by content_security_policy).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self' {connect}; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


def host_of(url: str) -> str:
    """The host of an https:// or wss:// URL, also when the URL is a CloudFormation token."""
    return Fn.select(2, Fn.split("/", url))


def content_security_policy(scope: Construct, api_url: str, ws_url: str) -> str:
    stack = Stack.of(scope)
    cognito = f"https://cognito-idp.{stack.region}.{stack.url_suffix}"
    connect = f"https://{host_of(api_url)} wss://{host_of(ws_url)} {cognito}"
    return CONTENT_SECURITY_POLICY.format(connect=connect)


def dashboard_dist(scope: Construct) -> Path:
    """web/dist when built (make web); otherwise a placeholder page, with a synth warning, so that synthesizing
    and testing the stacks never needs Node. `make deploy` builds web/dist first."""
    if (WEB_DIST / "index.html").exists():
        return WEB_DIST
    Annotations.of(scope).add_warning_v2(
        "tasklane:dashboard-not-built", "web/dist is not built: the dashboard asset is a placeholder (run make web)"
    )
    PLACEHOLDER.mkdir(parents=True, exist_ok=True)
    (PLACEHOLDER / "index.html").write_text(
        "<!doctype html><title>Tasklane</title><p>The dashboard was not built: run <code>make web</code>.</p>\n"
    )
    return PLACEHOLDER


class DashboardSite(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        api_url: str,
        ws_url: str,
        user_pool_id: str,
        user_pool_client_id: str,
        web_acl_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.logs = s3.Bucket(
            self,
            "Logs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            # CloudFront's standard logs are written with object ACLs.
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(90))],
            removal_policy=config.removal_policy,
            auto_delete_objects=config.removal_policy is RemovalPolicy.DESTROY,
        )
        self.bucket = s3.Bucket(
            self,
            "Site",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            server_access_logs_bucket=self.logs,
            server_access_logs_prefix="s3/",
            # The site is rebuilt from source on every deployment: nothing in it is worth retaining.
            removal_policy=RemovalPolicy.DESTROY,
            auto_delete_objects=True,
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy(self, api_url, ws_url), override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365), include_subdomains=True, override=True
                ),
            ),
        )
        origin = origins.S3BucketOrigin.with_origin_access_control(self.bucket)
        never_cached = cloudfront.BehaviorOptions(
            origin=origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            response_headers_policy=headers,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"Tasklane dashboard ({config.name})",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=headers,
                compress=True,
            ),
            # The runtime configuration and the page that names the current assets are read fresh every time.
            additional_behaviors={"/config.json": never_cached, "/index.html": never_cached},
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=self.logs,
            log_file_prefix="cloudfront/",
            web_acl_id=web_acl_arn,  # a CLOUDFRONT-scope web ACL, from us-east-1 (stacks/edge_stack.py)
        )
        self.runtime_config = {
            "environment": config.name,
            "api_url": api_url,
            "ws_url": ws_url,
            # SRP sign-in needs the pool's id, not only its app client's.
            "cognito": {
                "region": Stack.of(self).region, "user_pool_id": user_pool_id, "client_id": user_pool_client_id,
            },
        }
        dist = dashboard_dist(self)
        # Vite's hashed assets first, cached for good; then the page and its config, never cached, so a new page
        # only ever names assets already there. Each deployment prunes only its own files.
        assets = None
        if (dist / "assets").is_dir():
            assets = s3deploy.BucketDeployment(
                self,
                "DeployAssets",
                sources=[s3deploy.Source.asset(str(dist / "assets"))],
                destination_bucket=self.bucket,
                destination_key_prefix="assets/",
                cache_control=[s3deploy.CacheControl.from_string("public, max-age=31536000, immutable")],
                memory_limit=512,
            )
        self.deployment = s3deploy.BucketDeployment(
            self,
            "DeployPage",
            sources=[
                s3deploy.Source.asset(str(dist), exclude=["assets", "assets/*"]),
                s3deploy.Source.json_data("config.json", self.runtime_config),
            ],
            destination_bucket=self.bucket,
            prune=False,
            cache_control=[s3deploy.CacheControl.no_cache()],
            distribution=self.distribution,
            distribution_paths=["/index.html", "/config.json"],
            memory_limit=512,
        )
        if assets is not None:
            self.deployment.node.add_dependency(assets)

    @property
    def url(self) -> str:
        return f"https://{self.distribution.distribution_domain_name}/"
