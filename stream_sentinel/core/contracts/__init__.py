"""Contracts: the catalog, its schema files and JSON pointers, loaded and checked into an immutable registry."""
