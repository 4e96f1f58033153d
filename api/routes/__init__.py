"""One router per entity; api/api.py mounts them. Another feature adds its own module and one add_router line."""
