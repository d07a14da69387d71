//! Who may talk to an executor: a shared-secret challenge-response run on a fresh connection
//! before the first ORC message, so that only a controller that holds the secret can make the
//! executor run code, and the controller knows it reached an executor that holds it too.
//!
//! ```text
//!  executor                                              controller
//!  ── hello: an ORC-shaped frame, 32 + 32 bytes ───────►  (u64 LE size 64, u64 opcode
//!     AUTH_OPCODE, u64 0, u64 AUTH_VERSION, nonce_e)      an unaware ORC controller reads it
//!                                                         as one frame with an unknown opcode
//!                                                         and fails, instead of allocating
//!                                                         what a random size field says)
//!  ◄── answer: "jslbauth", nonce_c, proof_c ───────────
//!      verify proof_c
//!  ── verdict: 1 byte (1 accepted, 0 refused) ─────────►
//!  ── proof_e (only after an accepted verdict) ────────►  verify proof_e
//!
//!  proof_c = HMAC-SHA256(secret, "jitslab controller" ‖ nonce_e ‖ nonce_c)
//!  proof_e = HMAC-SHA256(secret, "jitslab executor"   ‖ nonce_e ‖ nonce_c)
//! ```
//! Each side's proof covers a nonce the other side just drew from the kernel, so a recorded
//! transcript replayed against either side fails; the role labels keep one side's proof from
//! being reflected back as the other's. Proofs are compared in constant time (`hmac`'s
//! `verify_slice`). The executor refuses before it proves anything of its own, and the verdict
//! byte lets a refused controller say so instead of failing later in the ORC handshake.
//!
//! Nothing here encrypts the connection: after the handshake, ORC's messages travel in clear
//! and unauthenticated, as before (README, "Who may connect to an executor").
//!
//! Concurrency: plain functions over one connection; no shared state.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::sys;

/// The opcode of the executor's hello frame: "jslb", far above ORC's last opcode.
pub const AUTH_OPCODE: u64 = u32::from_le_bytes(*b"jslb") as u64;
/// The handshake's version, in the hello frame's tag field.
pub const AUTH_VERSION: u64 = 1;
/// What the controller's answer starts with.
const ANSWER_MAGIC: &[u8; 8] = b"jslbauth";
const NONCE_BYTES: usize = 32;
const PROOF_BYTES: usize = 32;
const HEADER_BYTES: usize = 32;
const HELLO_BYTES: usize = HEADER_BYTES + NONCE_BYTES;
/// The shortest secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;
/// The longest secret file read, in bytes.
const MAX_SECRET_BYTES: u64 = 4096;

const CONTROLLER_LABEL: &[u8] = b"jitslab controller";
const EXECUTOR_LABEL: &[u8] = b"jitslab executor";

/// A shared secret, read from a file only its owner can read.
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Secret {
    /// The secret in `bytes` (tests and callers that hold it already).
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, String> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the secret is {} bytes, fewer than {MIN_SECRET_BYTES}; make one with \
                 `head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE`",
                bytes.len()
            ));
        }
        Ok(Secret(bytes.to_vec()))
    }

    /// Reads the secret in `path`: the file's bytes, without one trailing newline. Refused
    /// unless the file is a regular file owned by this process's user that no one else may
    /// read or write (mode 0600 or stricter): anyone who can read it can run code in the
    /// executor. The checks are made on the opened file, not on the name.
    pub fn load(path: &Path) -> Result<Secret, String> {
        let shown = path.display();
        let mut file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| format!("secret file {shown}: {e}"))?;
        let meta = file.metadata().map_err(|e| format!("secret file {shown}: {e}"))?;
        if !meta.file_type().is_file() {
            return Err(format!("secret file {shown} is not a regular file"));
        }
        if meta.uid() != sys::euid() {
            return Err(format!(
                "secret file {shown} is owned by uid {}, not by this user (uid {}); refused",
                meta.uid(),
                sys::euid()
            ));
        }
        let mode = meta.mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "secret file {shown} has mode {mode:04o}: others may read or change it; \
                 `chmod 600 {shown}`"
            ));
        }
        if meta.len() > MAX_SECRET_BYTES {
            return Err(format!("secret file {shown} is {} bytes, more than {MAX_SECRET_BYTES}", meta.len()));
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| format!("secret file {shown}: {e}"))?;
        if bytes.last() == Some(&b'\n') {
            bytes.pop();
        }
        Secret::from_bytes(&bytes).map_err(|e| format!("secret file {shown}: {e}"))
    }

    fn proof(&self, label: &[u8], nonce_e: &[u8], nonce_c: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(label);
        mac.update(nonce_e);
        mac.update(nonce_c);
        mac
    }
}

/// Which end of the connection this process is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Executor,
    Controller,
}

fn nonce() -> Result<[u8; NONCE_BYTES], String> {
    let mut n = [0; NONCE_BYTES];
    sys::random_bytes(&mut n).map_err(|e| format!("authentication: {e}"))?;
    Ok(n)
}

/// Reads exactly `buf.len()` bytes; an early end names `what` was being read.
fn read_all(conn: &mut impl Read, buf: &mut [u8], what: &str, peer: &str) -> Result<(), String> {
    conn.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => {
            format!("the {peer} closed the connection during authentication (while reading its {what})")
        }
        _ => format!("authentication: reading the {peer}'s {what}: {e}"),
    })
}

fn write_all(conn: &mut impl Write, bytes: &[u8], what: &str, peer: &str) -> Result<(), String> {
    conn.write_all(bytes)
        .and_then(|()| conn.flush())
        .map_err(|e| format!("authentication: sending our {what} to the {peer}: {e}"))
}

/// Runs the handshake as `role` on `conn` with `secret`. `Ok` when both sides proved they hold
/// the secret; otherwise a one-line reason, and the caller must close the connection.
pub fn authenticate(conn: &mut (impl Read + Write), role: Role, secret: &Secret) -> Result<(), String> {
    match role {
        Role::Executor => as_executor(conn, secret),
        Role::Controller => as_controller(conn, secret),
    }
}

fn as_executor(conn: &mut (impl Read + Write), secret: &Secret) -> Result<(), String> {
    let peer = "controller";
    let nonce_e = nonce()?;
    let mut hello = Vec::with_capacity(HELLO_BYTES);
    for field in [HELLO_BYTES as u64, AUTH_OPCODE, 0, AUTH_VERSION] {
        hello.extend_from_slice(&field.to_le_bytes());
    }
    hello.extend_from_slice(&nonce_e);
    write_all(conn, &hello, "challenge", peer)?;

    let mut magic = [0; ANSWER_MAGIC.len()];
    read_all(conn, &mut magic, "answer", peer)?;
    if &magic != ANSWER_MAGIC {
        return Err("the controller did not authenticate (no secret given to it, or not a jitslab \
                    controller); refused"
            .into());
    }
    let mut nonce_c = [0; NONCE_BYTES];
    read_all(conn, &mut nonce_c, "nonce", peer)?;
    let mut proof_c = [0; PROOF_BYTES];
    read_all(conn, &mut proof_c, "proof", peer)?;
    if secret.proof(CONTROLLER_LABEL, &nonce_e, &nonce_c).verify_slice(&proof_c).is_err() {
        // Best effort: the refusal is the result whether or not the controller hears of it.
        let _ = write_all(conn, &[0], "verdict", peer);
        return Err("the controller's proof does not match this executor's secret; refused".into());
    }
    let mut reply = vec![1];
    reply.extend_from_slice(&secret.proof(EXECUTOR_LABEL, &nonce_e, &nonce_c).finalize().into_bytes());
    write_all(conn, &reply, "verdict and proof", peer)
}

fn as_controller(conn: &mut (impl Read + Write), secret: &Secret) -> Result<(), String> {
    let peer = "executor";
    let mut hello = [0; HELLO_BYTES];
    read_all(conn, &mut hello[..HEADER_BYTES], "challenge", peer)?;
    let field = |i: usize| u64::from_le_bytes(hello[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    if field(0) != HELLO_BYTES as u64 || field(1) != AUTH_OPCODE {
        return Err("the executor did not ask for authentication (it has no secret configured, \
                    or it is not jitslab-executor); not connecting with a secret to an executor \
                    that anyone may use"
            .into());
    }
    if field(3) != AUTH_VERSION {
        return Err(format!(
            "the executor speaks authentication version {}, this controller version {AUTH_VERSION}",
            field(3)
        ));
    }
    read_all(conn, &mut hello[HEADER_BYTES..], "challenge", peer)?;
    let nonce_e = &hello[HEADER_BYTES..];
    let nonce_c = nonce()?;
    let mut answer = Vec::with_capacity(ANSWER_MAGIC.len() + NONCE_BYTES + PROOF_BYTES);
    answer.extend_from_slice(ANSWER_MAGIC);
    answer.extend_from_slice(&nonce_c);
    answer.extend_from_slice(&secret.proof(CONTROLLER_LABEL, nonce_e, &nonce_c).finalize().into_bytes());
    write_all(conn, &answer, "answer", peer)?;

    let mut verdict = [0];
    read_all(conn, &mut verdict, "verdict", peer)?;
    if verdict[0] != 1 {
        return Err("the executor refused this secret (the controller's and the executor's \
                    secrets differ)"
            .into());
    }
    let mut proof_e = [0; PROOF_BYTES];
    read_all(conn, &mut proof_e, "proof", peer)?;
    secret.proof(EXECUTOR_LABEL, nonce_e, &nonce_c).verify_slice(&proof_e).map_err(|_| {
        "the executor's proof does not match this secret: it is not the executor we meant; refused".to_string()
    })
}

#[cfg(test)]
mod tests;
