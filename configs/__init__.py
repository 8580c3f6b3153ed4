"""Config files: `get_config(arg)` in each suite file; `base` holds every default."""
