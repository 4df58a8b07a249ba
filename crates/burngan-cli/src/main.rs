//! The `burngan` binary: re-executes itself once with glibc's malloc settings for training
//! ([`burngan_cli::malloc`]), makes its thread a compute thread with the wait policy of
//! `BURNGAN_WAIT_POLICY` ([`burngan_cli::join_compute_pool`]), runs the command line and turns
//! a failure into its exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    burngan_cli::malloc::reexec_with_malloc_tunables(&args);
    let policy = std::env::var_os(burngan_cli::wait::WAIT_POLICY_VAR);
    let policy = match burngan_cli::WaitPolicy::from_var(policy.as_deref()) {
        Ok(policy) => policy,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    burngan_cli::join_compute_pool(&args, policy);
    match burngan_cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", failure.message().trim_end());
            ExitCode::from(failure.exit_code())
        }
    }
}
