"""Restate-sdk services holding every durable handler of a drop."""
