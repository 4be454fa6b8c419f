"""The operator CLI (`sharebuy`): thin Typer commands over the services."""
