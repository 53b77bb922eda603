"""The sendmail entry: argv, the path every mail takes, the resident checker."""
