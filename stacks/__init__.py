"""The CDK app's stacks, split by lifecycle, and the constructs they compose."""
