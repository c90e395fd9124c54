//! crest-headroom (being built).
