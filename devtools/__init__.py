"""Dev and test tooling: the local stack, the local cluster, its network and the test beacon.

Nothing in `drop` or `apps` imports this package (an import-linter contract keeps it so):
the services' images run without it, except the worker image, whose compose `beacon`
service runs `python -m devtools.devbeacon`.
"""
