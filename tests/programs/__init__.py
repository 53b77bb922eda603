"""Tests with the real mail programs (mutt, neomutt, aerc, git send-email) and tmux."""
