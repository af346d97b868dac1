"""The operator's API, behind admin credentials."""
