//! The shared-secret handshake an executor and its controller run on a fresh connection, before
//! handing it to ORC's transport (the protocol: `src/protocol/auth.rs`).
//!
//! Concurrency: each call works on its own connection; calls on different connections may run
//! at once.

use std::ffi::{c_char, c_int, CStr};
use std::fs::File;
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::path::Path;

use super::{fail, guard, Failure, JitslabStatus, JitslabStatus::*};
use crate::protocol::auth::{authenticate, Role, Secret};

/// `jitslab_authenticate` as the executor: it accepted the connection.
pub const JITSLAB_AUTH_EXECUTOR: u32 = 0;
/// `jitslab_authenticate` as the controller: it connected to the executor.
pub const JITSLAB_AUTH_CONTROLLER: u32 = 1;

/// Runs the shared-secret handshake on the connected stream socket (or pipe pair end) `fd`, as
/// `role` (`JITSLAB_AUTH_EXECUTOR` or `JITSLAB_AUTH_CONTROLLER`), with the secret in the file
/// `secret_file`, before any ORC message: each side proves with HMAC-SHA256 over nonces that
/// both sides draw afresh that it holds the secret. The file is refused unless it is a regular
/// file owned by this user with no access for others (mode 0600 or stricter), with at least 16
/// bytes (one trailing newline is not part of the secret).
///
/// `JITSLAB_OK`: the peer proved it holds the secret; hand `fd` to ORC's transport. Otherwise
/// `JITSLAB_ERR_AUTHENTICATION` (the peer did not prove it, or closed the connection),
/// `JITSLAB_ERR_INVALID_ARGUMENT` (the secret file or the role is unusable) or
/// `JITSLAB_ERR_NULL_ARGUMENT`, with a one-line reason in `jitslab_last_error`; close `fd`
/// then, and run nothing. `fd` stays the caller's either way. The call blocks until the
/// handshake ends (the executor waits for its controller's answer as long as it takes).
///
/// # Safety
/// `fd` must be an open descriptor this call may read and write; `secret_file` null or a C
/// string.
#[no_mangle]
pub unsafe extern "C" fn jitslab_authenticate(fd: c_int, role: u32, secret_file: *const c_char) -> JitslabStatus {
    guard(|| {
        let role = match role {
            JITSLAB_AUTH_EXECUTOR => Role::Executor,
            JITSLAB_AUTH_CONTROLLER => Role::Controller,
            _ => {
                return fail(
                    JITSLAB_ERR_INVALID_ARGUMENT,
                    format!("jitslab_authenticate: role {role} is not a JITSLAB_AUTH_ value"),
                )
            }
        };
        if fd < 0 {
            return fail(JITSLAB_ERR_INVALID_ARGUMENT, format!("jitslab_authenticate: fd {fd} is not a descriptor"));
        }
        // SAFETY: the caller's promise: null or a C string.
        let secret = load(unsafe { secret_file.as_ref() }, "jitslab_authenticate")?;
        // SAFETY: the caller's promise: an open descriptor. ManuallyDrop: the caller keeps it.
        let mut conn = ManuallyDrop::new(unsafe { File::from_raw_fd(fd) });
        authenticate(&mut *conn, role, &secret).map_err(|e| (JITSLAB_ERR_AUTHENTICATION, e))
    })
}

/// Checks that `secret_file` holds a secret `jitslab_authenticate` would accept (the same
/// checks), so a program can refuse a bad file at startup rather than at its first connection.
/// `JITSLAB_OK`, or `JITSLAB_ERR_INVALID_ARGUMENT` / `JITSLAB_ERR_NULL_ARGUMENT` with the
/// reason in `jitslab_last_error`.
///
/// # Safety
/// `secret_file` must be null or a C string.
#[no_mangle]
pub unsafe extern "C" fn jitslab_secret_file_check(secret_file: *const c_char) -> JitslabStatus {
    guard(|| {
        // SAFETY: the caller's promise.
        load(unsafe { secret_file.as_ref() }, "jitslab_secret_file_check").map(drop)
    })
}

/// Loads the secret named by the C string at `path`.
fn load(path: Option<&c_char>, func: &str) -> Result<Secret, Failure> {
    let Some(path) = path else {
        return fail(JITSLAB_ERR_NULL_ARGUMENT, format!("{func}: secret_file is null"));
    };
    // SAFETY: `path` is the first byte of a C string (the callers' promise).
    let path = unsafe { CStr::from_ptr(path) }.to_string_lossy().into_owned();
    Secret::load(Path::new(&path)).map_err(|e| (JITSLAB_ERR_INVALID_ARGUMENT, e))
}
