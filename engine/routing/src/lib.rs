//! Pure routing policy (being written).
