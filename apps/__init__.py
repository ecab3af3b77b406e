"""The four thin apps: worker, api, sse, web."""
