//! Subcommands of the `zgvault` binary: one module each, with `Args` and `run`.

pub(crate) mod root;
pub(crate) mod seal;
pub(crate) mod storage;

use std::process::ExitCode;

/// Print an error chain the way a user can act on it, and pick the exit code.
pub(crate) fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            // Our library errors already quote their source; print each text only once.
            let mut shown = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown.push_str(&text);
                }
            }
            ExitCode::FAILURE
        }
    }
}
