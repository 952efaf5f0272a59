//! Call log queries (V3).
