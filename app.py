#!/usr/bin/env python3
"""CDK entry point: `cdk synth|deploy -c env=dev|prod [-c task_package=DIR[,DIR]]`."""

import sys

from aws_cdk import App

from stacks.app_builder import build_app
from tasklane.task_packages import TaskPackageError

app = App()
try:
    build_app(app)
except TaskPackageError as exc:
    # One line, before anything is deployed, rather than a failure at the first task.
    sys.exit(f"cannot deploy: {exc}")
app.synth()
