//! Subcommands of the `zgvault` binary: one module each, with `Args` and `run`.

#[cfg(feature = "rag")]
pub(crate) mod ask;
pub(crate) mod custody;
pub(crate) mod manage;
pub(crate) mod root;
pub(crate) mod seal;
pub(crate) mod session;
pub(crate) mod storage;

use std::process::ExitCode;

/// Exit code when the key nodes or the registry refuse access (0 ok, 1 error, 2 usage).
pub(crate) const EXIT_ACCESS_DENIED: u8 = 3;

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
            let denied = err.chain().any(|cause| {
                matches!(
                    cause.downcast_ref::<zgvault_client::Error>(),
                    Some(zgvault_client::Error::AccessDenied { .. })
                        | Some(zgvault_client::Error::KeyRequestRefused {
                            code: zgvault_proto::wire::ErrorCode::AccessDenied,
                            ..
                        })
                )
            });
            if denied {
                ExitCode::from(EXIT_ACCESS_DENIED)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
