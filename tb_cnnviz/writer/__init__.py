"""The training side: the callback, the kinds it logs and how they become event files."""
