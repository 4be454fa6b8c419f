"""JSON API under /api/v1: one module per part of the business, thin over the services."""
