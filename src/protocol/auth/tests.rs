use std::io::{Cursor, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::thread;

use super::*;

fn secret(s: &str) -> Secret {
    Secret::from_bytes(s.as_bytes()).unwrap()
}

/// Runs the executor on one end of a socket pair and the controller on the other.
fn handshake(exec: &str, ctrl: &str) -> (Result<(), String>, Result<(), String>) {
    let (mut e, mut c) = UnixStream::pair().unwrap();
    let (exec, ctrl) = (secret(exec), secret(ctrl));
    let executor = thread::spawn(move || authenticate(&mut e, Role::Executor, &exec));
    let controller = authenticate(&mut c, Role::Controller, &ctrl);
    drop(c);
    (executor.join().unwrap(), controller)
}

/// A stream that replays canned input and records what is written to it.
struct Canned {
    input: Cursor<Vec<u8>>,
    output: Vec<u8>,
}
impl Read for Canned {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}
impl Write for Canned {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_same_secret_authenticates_both_sides() {
    let (e, c) = handshake("correct horse battery staple", "correct horse battery staple");
    assert_eq!(e, Ok(()));
    assert_eq!(c, Ok(()));
}

#[test]
fn a_wrong_secret_is_refused_on_both_sides() {
    let (e, c) = handshake("correct horse battery staple", "correct horse battery stapler");
    assert!(e.unwrap_err().contains("does not match this executor's secret"));
    assert!(c.unwrap_err().contains("the executor refused this secret"));
}

#[test]
fn a_controller_without_the_protocol_is_refused() {
    let (mut e, mut c) = UnixStream::pair().unwrap();
    let executor = thread::spawn(move || authenticate(&mut e, Role::Executor, &secret("0123456789abcdef")));
    // What an ORC controller that knows nothing of authentication would do: wait, then hang up.
    let mut hello = [0; HELLO_BYTES];
    c.read_exact(&mut hello).unwrap();
    assert_eq!(u64::from_le_bytes(hello[..8].try_into().unwrap()), HELLO_BYTES as u64);
    assert_eq!(u64::from_le_bytes(hello[8..16].try_into().unwrap()), AUTH_OPCODE);
    drop(c);
    assert!(executor.join().unwrap().unwrap_err().contains("closed the connection during authentication"));
}

#[test]
fn an_executor_without_a_secret_is_not_trusted() {
    // An executor with no secret starts with ORC's setup message (opcode 0).
    let mut setup = Vec::new();
    for field in [200u64, 0, 0, 0] {
        setup.extend_from_slice(&field.to_le_bytes());
    }
    let mut conn = Canned { input: Cursor::new(setup), output: Vec::new() };
    let err = authenticate(&mut conn, Role::Controller, &secret("0123456789abcdef")).unwrap_err();
    assert!(err.contains("did not ask for authentication"), "{err}");
    assert!(conn.output.is_empty(), "the controller answered an executor that asked nothing");
}

/// Every prefix of a good transcript, cut short, fails with a message naming what was missing,
/// on either side.
#[test]
fn a_truncated_handshake_fails_cleanly() {
    let s = "0123456789abcdef";
    // A real controller's answer to a real executor's hello, recorded.
    let (mut e, mut c) = UnixStream::pair().unwrap();
    let executor = thread::spawn(move || authenticate(&mut e, Role::Executor, &secret(s)));
    let mut hello = [0; HELLO_BYTES];
    c.read_exact(&mut hello).unwrap();
    let mut tap = Canned { input: Cursor::new(hello.to_vec()), output: Vec::new() };
    // The tap has no verdict to give, so the recorded controller stops after its answer.
    assert!(authenticate(&mut tap, Role::Controller, &secret(s)).unwrap_err().contains("verdict"));
    c.write_all(&tap.output).unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    assert_eq!(executor.join().unwrap(), Ok(()));

    for cut in 0..tap.output.len() {
        let mut conn = Canned { input: Cursor::new(tap.output[..cut].to_vec()), output: Vec::new() };
        let err = authenticate(&mut conn, Role::Executor, &secret(s)).unwrap_err();
        assert!(err.contains("closed the connection during authentication"), "cut at {cut}: {err}");
    }
    let mut from_executor = hello.to_vec();
    from_executor.extend_from_slice(&reply);
    for cut in 0..from_executor.len() {
        let mut conn = Canned { input: Cursor::new(from_executor[..cut].to_vec()), output: Vec::new() };
        let err = authenticate(&mut conn, Role::Controller, &secret(s)).unwrap_err();
        assert!(err.contains("closed the connection during authentication"), "cut at {cut}: {err}");
    }
}

/// A recorded good answer replayed to a new executor fails: the new executor's nonce differs.
/// A recorded executor reply replayed to a new controller fails: the controller's nonce differs.
#[test]
fn a_replayed_transcript_is_refused() {
    let s = "0123456789abcdef";
    let (mut e, mut c) = UnixStream::pair().unwrap();
    let executor = thread::spawn(move || authenticate(&mut e, Role::Executor, &secret(s)));
    let mut hello = [0; HELLO_BYTES];
    c.read_exact(&mut hello).unwrap();
    let mut tap = Canned { input: Cursor::new(hello.to_vec()), output: Vec::new() };
    let _ = authenticate(&mut tap, Role::Controller, &secret(s));
    c.write_all(&tap.output).unwrap();
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).unwrap();
    assert_eq!(executor.join().unwrap(), Ok(()), "the recorded exchange itself was good");

    let mut replay_to_executor = Canned { input: Cursor::new(tap.output.clone()), output: Vec::new() };
    let err = authenticate(&mut replay_to_executor, Role::Executor, &secret(s)).unwrap_err();
    assert!(err.contains("does not match"), "{err}");
    assert_eq!(replay_to_executor.output.last(), Some(&0), "the executor sent a refusal");
    assert_eq!(replay_to_executor.output.len(), HELLO_BYTES + 1, "the executor proved nothing after refusing");

    let mut transcript = hello.to_vec();
    transcript.extend_from_slice(&reply);
    let mut replay_to_controller = Canned { input: Cursor::new(transcript), output: Vec::new() };
    let err = authenticate(&mut replay_to_controller, Role::Controller, &secret(s)).unwrap_err();
    assert!(err.contains("executor's proof does not match"), "{err}");
}

#[test]
fn secret_files_must_be_private_and_long_enough() {
    let dir = std::env::temp_dir().join(format!("jitslab-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &str, mode: u32| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    };
    let good = write("good", "0123456789abcdef\n", 0o600);
    let loaded = Secret::load(&good).unwrap();
    assert_eq!(loaded.0, b"0123456789abcdef", "one trailing newline is not part of the secret");
    assert!(Secret::load(&write("readonly", "0123456789abcdef", 0o400)).is_ok());
    let err = Secret::load(&write("open", "0123456789abcdef", 0o644)).unwrap_err();
    assert!(err.contains("mode 0644") && err.contains("chmod 600"), "{err}");
    let err = Secret::load(&write("group", "0123456789abcdef", 0o620)).unwrap_err();
    assert!(err.contains("mode 0620"), "{err}");
    let err = Secret::load(&write("short", "tooshort", 0o600)).unwrap_err();
    assert!(err.contains("fewer than 16"), "{err}");
    let err = Secret::load(&dir.join("missing")).unwrap_err();
    assert!(err.contains("No such file"), "{err}");
    let link = dir.join("link");
    std::os::unix::fs::symlink(&good, &link).unwrap();
    assert!(Secret::load(&link).is_err(), "a symbolic link is not followed");
    std::fs::remove_dir_all(&dir).unwrap();
}
