"""Tests through the real commands, queue, msmtp and notmuch."""
