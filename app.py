#!/usr/bin/env python3
"""CDK entry point: `cdk synth|deploy -c env=dev|prod`."""

from aws_cdk import App

from stacks.app_builder import build_app

app = App()
build_app(app)
app.synth()
