"""What the tests share: message builders, mail-program drivers, fixtures."""
