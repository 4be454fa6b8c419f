"""Domain events: an outbox written in the same transaction as the change, and the merchants'
webhook endpoints that receive them, signed, with a delivery log."""
