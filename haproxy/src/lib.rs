//! crest-haproxy (being built).
