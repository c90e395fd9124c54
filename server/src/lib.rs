//! crest-server (being built).
