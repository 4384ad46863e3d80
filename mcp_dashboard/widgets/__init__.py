"""The dashboard's widgets, one module per screen area."""
