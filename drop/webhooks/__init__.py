"""Webhooks following the Standard Webhooks specification: signing, the events a drop's
outcome feed turns into, where endpoints may point, and the stores of endpoints and
deliveries. Shared by the api (admin routes) and the worker (delivery)."""
