//! crest-sim (being built).
