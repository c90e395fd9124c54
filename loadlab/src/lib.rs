//! crest-loadlab (being built).
