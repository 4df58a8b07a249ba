//! burngan's one integration-test binary (so Burn links once): end-to-end runs through the
//! real CLI, the CLI's handling of bad input, image runs (data, resume, sample, export),
//! cross-backend agreement, the theory lab's claims and the benchmark's reports.

mod bench;
mod cli;
mod config_schema;
mod cross_backend;
mod embedding;
mod end_to_end;
mod eval;
mod images;
mod lab;
mod penalties;
mod support;
mod train_eval;
