"""Tasklane's domain: jobs, tasks, the task registry and the rules that move them between states.

Shared by the Lambda handlers (`lambdas/`) and the long-task worker (`workers/`).
"""
