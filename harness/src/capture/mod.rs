//! Packet captures (being written).
