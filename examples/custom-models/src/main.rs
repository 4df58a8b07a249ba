//! `custom-models`: runs the application and turns a failure into its exit code (2 for usage
//! errors, 1 for run failures).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match custom_models::run(&args, &mut std::io::stdout()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("custom-models: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
