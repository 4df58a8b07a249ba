//! The `burngan` binary: runs the command line and turns a failure into its exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    match burngan_cli::run(std::env::args_os()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message().trim_end());
            ExitCode::from(failure.exit_code())
        }
    }
}
