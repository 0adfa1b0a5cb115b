//! Writes the synthetic test head to the path given (for
//! `scripts/test_service.sh`, which runs the service with synthetic weights).

fn main() -> std::process::ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: synthetic_head PATH");
        return std::process::ExitCode::FAILURE;
    };
    match relaxvqa::testing::write_synthetic_head(std::path::Path::new(&path)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("synthetic_head: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
