"""Tests of one piece in process."""
