"""jobctl: the operator's command line for Tasklane, and the HTTP client it is built on."""
