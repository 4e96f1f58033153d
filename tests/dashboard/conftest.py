"""Fixtures for view tests. Clients logged in as each role (as_viewer, as_operator, as_admin), the private
cache, fast hashing and plain static storage come from tests/conftest.py."""

HX = {"HTTP_HX_REQUEST": "true"}
