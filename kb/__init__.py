"""The built-in knowledge base of kbrun: YAML data only, read through importlib.resources."""
