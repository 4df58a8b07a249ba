//! burngan's one integration-test binary (so Burn links once): end-to-end runs through the
//! real CLI, the CLI's handling of bad input (and the bad-input catalogue of
//! `docs/reliability.md`), image runs (data, resume, sample, export), cross-backend agreement,
//! the theory lab's claims, the benchmark's reports, the embedding example, the config schema
//! document, and runs that share a machine or blow up.

mod augment;
mod bad_input;
mod bench;
mod cli;
mod config_doc;
mod cross_backend;
mod embedding;
mod end_to_end;
mod eval;
mod fuzz_regressions;
mod golden;
mod gradient_check;
mod images;
mod lab;
mod penalties;
mod recipes;
mod reliability;
mod residual;
mod stacked;
mod support;
mod toy_protocols;
mod train_eval;
