"""Search: the in-memory vector matrix and fused ranking."""
