"""The C2C points market (CTC交易, SPEC §6): listings, buy orders, escrowed trades, guide price."""
