"""Runtime: interpreter, scopes, events, the Program API and the built-in commands."""
