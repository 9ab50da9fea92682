"""Tests of the engagement service."""
