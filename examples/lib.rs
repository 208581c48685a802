//! Examples of appserver: see the `[[example]]` entries of this crate's manifest.
