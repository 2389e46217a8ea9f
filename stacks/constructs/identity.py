"""Sign-in for people: a Cognito user pool whose users each belong to one tenant (`custom:tenant`)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from stacks.config import EnvironmentConfig


class Identity(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: EnvironmentConfig) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = cognito.UserPool(
            self,
            "Users",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            # The tenant is set by an administrator and can never be changed by its user.
            custom_attributes={"tenant": cognito.StringAttribute(min_len=1, max_len=63, mutable=False)},
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_digits=True, require_lowercase=True, require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=config.removal_policy,
            # A production pool can only be deleted after this is turned off (its users cannot be restored).
            deletion_protection=config.production,
        )
        self.dashboard_client = self.user_pool.add_client(
            "Dashboard",
            # People sign in with SRP (the password itself never travels); ADMIN_USER_PASSWORD_AUTH needs IAM
            # credentials of the platform's account, so only its own tooling and tests can use it. No
            # USER_PASSWORD_AUTH: nothing on the internet can send a password in clear to the pool.
            auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
            # Sign-in is by those flows only: no OAuth (CDK's default enables the implicit grant to example.com).
            disable_o_auth=True,
            generate_secret=False,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            prevent_user_existence_errors=True,
        )
