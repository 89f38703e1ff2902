"""The `kbrun` command line: a thin skin that parses options, calls the engine, renders results."""
