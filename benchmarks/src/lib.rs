//! Benchmarks of appserver beside its peers; see `BENCHMARKS.md`. The binaries in
//! `src/bin` are the peers' servers for `load.sh`.
