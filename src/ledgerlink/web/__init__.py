"""Templates and static files of the built-in web messenger."""
