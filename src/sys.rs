//! Raw operating-system calls, and nothing else.
//!
//! Contract of this layer:
//! - every function is a thin wrapper over one system call (or one read of a `/proc` file);
//! - a failure comes back as [`OsError`], which names the call, its arguments and the errno
//!   text; nothing here panics or `unwrap`s an OS result;
//! - nothing here keeps state: callers own every mapping and descriptor they get back and
//!   count the calls they make (see `mapper::SysCounters`).
//!
//! Concurrency: the calls are as thread-safe as the kernel's; the layer adds no locks.

use crate::prot::Prot;
use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An OS call that failed: which call, on what, and the errno text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsError {
    /// The call and its arguments, e.g. `mprotect(0x7f0000000000, 0x1000, r-x)`.
    pub call: String,
    /// The raw errno value.
    pub errno: i32,
}

impl OsError {
    fn last(call: String) -> OsError {
        OsError { call, errno: io::Error::last_os_error().raw_os_error().unwrap_or(0) }
    }
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.call, io::Error::from_raw_os_error(self.errno))
    }
}

impl std::error::Error for OsError {}

pub type OsResult<T> = Result<T, OsError>;

/// The kernel's `PROT_*` bits for a protection (the edge where [`Prot`] meets the OS).
fn os_bits(p: Prot) -> libc::c_int {
    let bit = |on: bool, b: libc::c_int| if on { b } else { 0 };
    bit(p.readable(), libc::PROT_READ) | bit(p.writable(), libc::PROT_WRITE) | bit(p.executable(), libc::PROT_EXEC)
}

/// The system page size.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n <= 0 {
        4096
    } else {
        n as u64
    }
}

/// Reserves `len` bytes of inaccessible, uncommitted address space
/// (`PROT_NONE`, `MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE`).
///
/// With `at = Some(addr)` the kernel must use exactly that address (`MAP_FIXED_NOREPLACE`); if
/// anything is mapped there the call fails with `EEXIST` and nothing is replaced.
pub fn reserve(len: u64, at: Option<u64>) -> OsResult<u64> {
    let flags = libc::MAP_PRIVATE
        | libc::MAP_ANONYMOUS
        | libc::MAP_NORESERVE
        | if at.is_some() { libc::MAP_FIXED_NOREPLACE } else { 0 };
    let hint = at.unwrap_or(0) as *mut libc::c_void;
    // SAFETY: a fresh anonymous mapping; MAP_FIXED_NOREPLACE never replaces an existing one.
    let p = unsafe { libc::mmap(hint, len as usize, libc::PROT_NONE, flags, -1, 0) };
    let call = || match at {
        Some(a) => format!("mmap({a:#x}, {len:#x}, ---, MAP_FIXED_NOREPLACE|MAP_NORESERVE)"),
        None => format!("mmap(NULL, {len:#x}, ---, MAP_NORESERVE)"),
    };
    if p == libc::MAP_FAILED {
        return Err(OsError::last(call()));
    }
    let got = p as u64;
    if let Some(a) = at {
        // Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and treat it as a hint.
        if got != a {
            // SAFETY: we just created this mapping and nobody else knows of it.
            unsafe { libc::munmap(p, len as usize) };
            return Err(OsError { call: call(), errno: libc::EEXIST });
        }
    }
    Ok(got)
}

/// Maps `len` bytes of `fd` from offset 0, shared, with the given access. With `at`, the mapping
/// replaces whatever the caller had at that address (`MAP_FIXED`): the caller must own that range.
///
/// # Safety
/// With `at = Some(addr)`, `[addr, addr+len)` must be address space the caller owns and that
/// nothing else references, since its old contents are replaced.
pub unsafe fn map_shared(fd: &OwnedFd, len: u64, access: Prot, at: Option<u64>) -> OsResult<u64> {
    let flags = libc::MAP_SHARED | if at.is_some() { libc::MAP_FIXED } else { 0 };
    let hint = at.unwrap_or(0) as *mut libc::c_void;
    // SAFETY: the caller guarantees that a fixed target range is its own (see above).
    let p = unsafe { libc::mmap(hint, len as usize, os_bits(access), flags, fd.as_raw_fd(), 0) };
    if p == libc::MAP_FAILED {
        let at = at.map_or("NULL".to_string(), |a| format!("{a:#x}"));
        return Err(OsError::last(format!("mmap({at}, {len:#x}, {access}, MAP_SHARED, fd)")));
    }
    Ok(p as u64)
}

/// Unmaps `[addr, addr+len)`.
///
/// # Safety
/// Nothing may use the range afterwards.
pub unsafe fn unmap(addr: u64, len: u64) -> OsResult<()> {
    // SAFETY: the caller guarantees the range is no longer used.
    let r = unsafe { libc::munmap(addr as *mut libc::c_void, len as usize) };
    if r != 0 {
        return Err(OsError::last(format!("munmap({addr:#x}, {len:#x})")));
    }
    Ok(())
}

/// Changes the access of `[addr, addr+len)`.
///
/// # Safety
/// The range must be mapped and owned by the caller; no live reference may rely on the access
/// being taken away.
pub unsafe fn protect(addr: u64, len: u64, access: Prot) -> OsResult<()> {
    // SAFETY: the caller owns the range.
    let r = unsafe { libc::mprotect(addr as *mut libc::c_void, len as usize, os_bits(access)) };
    if r != 0 {
        return Err(OsError::last(format!("mprotect({addr:#x}, {len:#x}, {access})")));
    }
    Ok(())
}

/// Drops the pages of a private anonymous range: they read as zero afterwards
/// (`madvise(MADV_DONTNEED)`).
///
/// # Safety
/// The range must be owned by the caller and hold nothing anyone still needs.
pub unsafe fn discard(addr: u64, len: u64) -> OsResult<()> {
    // SAFETY: the caller owns the range and its contents are dead.
    let r = unsafe { libc::madvise(addr as *mut libc::c_void, len as usize, libc::MADV_DONTNEED) };
    if r != 0 {
        return Err(OsError::last(format!("madvise({addr:#x}, {len:#x}, MADV_DONTNEED)")));
    }
    Ok(())
}

/// Creates an anonymous memory file of `len` bytes (sparse: no page is allocated until touched).
/// It asks for an executable memfd (`MFD_EXEC`) where the kernel knows that flag, since kernels
/// with `vm.memfd_noexec` seal plain memfds against `PROT_EXEC`.
pub fn memfd(name: &CStr, len: u64) -> OsResult<OwnedFd> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let create = |flags: libc::c_uint| {
        // SAFETY: `name` is a valid C string; memfd_create has no other preconditions.
        unsafe { libc::memfd_create(name.as_ptr(), flags) }
    };
    let mut fd = create(libc::MFD_CLOEXEC | MFD_EXEC);
    if fd < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        fd = create(libc::MFD_CLOEXEC); // a kernel older than 6.3
    }
    if fd < 0 {
        return Err(OsError::last(format!("memfd_create({name:?})")));
    }
    // SAFETY: memfd_create returned a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ftruncate on a descriptor we own.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
        return Err(OsError::last(format!("ftruncate(memfd, {len:#x})")));
    }
    Ok(fd)
}

/// Frees the file pages backing `[offset, offset+len)` of `fd`; they read as zero afterwards in
/// every mapping (`fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)`).
///
/// # Safety
/// No live reference may point into a mapping of the range: its contents change underneath.
pub unsafe fn punch_hole(fd: &OwnedFd, offset: u64, len: u64) -> OsResult<()> {
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: fallocate on a descriptor we own; it cannot touch our address space directly.
    let r = unsafe { libc::fallocate(fd.as_raw_fd(), mode, offset as libc::off_t, len as libc::off_t) };
    if r != 0 {
        return Err(OsError::last(format!("fallocate(memfd, PUNCH_HOLE, {offset:#x}, {len:#x})")));
    }
    Ok(())
}

/// Creates a new POSIX shared-memory object of `len` bytes, read-write for its owner only
/// (`shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)`, then `ftruncate`). Fails with
/// `EEXIST` rather than open an object that already exists. On a failed `ftruncate` the name is
/// removed again.
pub fn shm_create_exclusive(name: &CStr, len: u64) -> OsResult<OwnedFd> {
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC;
    // SAFETY: `name` is a valid C string; shm_open has no other preconditions.
    let fd = unsafe { libc::shm_open(name.as_ptr(), flags, 0o600) };
    if fd < 0 {
        return Err(OsError::last(format!("shm_open({name:?}, O_CREAT|O_EXCL, 0600)")));
    }
    // SAFETY: shm_open returned a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: ftruncate on a descriptor we own.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
        let e = OsError::last(format!("ftruncate(shm {name:?}, {len:#x})"));
        let _ = shm_unlink(name);
        return Err(e);
    }
    Ok(fd)
}

/// Fills `buf` with random bytes from the kernel (`getrandom(2)`, blocking until the pool is
/// initialized).
pub fn random_bytes(buf: &mut [u8]) -> OsResult<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is a writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr() as *mut libc::c_void, rest.len(), 0) };
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(OsError::last(format!("getrandom({} bytes)", rest.len())));
        }
        done += n as usize;
    }
    Ok(())
}

/// A duplicate of descriptor `fd` of process `pid`, with close-on-exec
/// (`pidfd_open(pid)` then `pidfd_getfd`; Linux 5.6 or later). The kernel allows it when this
/// process may ptrace `pid` (the same user and, under Yama, its parent).
pub fn pidfd_getfd(pid: u32, fd: i32) -> OsResult<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; no memory is passed.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if pidfd < 0 {
        return Err(OsError::last(format!("pidfd_open({pid})")));
    }
    // SAFETY: pidfd_open returned a fresh descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd as i32) };
    // SAFETY: pidfd_getfd takes descriptors and flags; no memory is passed.
    let got = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if got < 0 {
        return Err(OsError::last(format!("pidfd_getfd(pid {pid}, fd {fd})")));
    }
    // SAFETY: pidfd_getfd returned a fresh descriptor (close-on-exec) that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(got as i32) })
}

/// Opens the file behind descriptor `fd` of process `pid` read-write through
/// `/proc/PID/fd/FD` (allowed under the same ptrace check as [`pidfd_getfd`]), close-on-exec.
pub fn open_proc_fd(pid: u32, fd: i32) -> OsResult<OwnedFd> {
    let path = format!("/proc/{pid}/fd/{fd}");
    let c = std::ffi::CString::new(path.clone()).map_err(|_| OsError { call: format!("open({path})"), errno: 0 })?;
    // SAFETY: `c` is a valid C string; open has no other preconditions.
    let got = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if got < 0 {
        return Err(OsError::last(format!("open({path}, O_RDWR)")));
    }
    // SAFETY: open returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(got) })
}

/// This process's id.
pub fn pid() -> u32 {
    std::process::id()
}

/// Opens an existing POSIX shared-memory object read-write (`shm_open(name, O_RDWR)`), with
/// close-on-exec, and returns it with its size.
pub fn shm_open_existing(name: &CStr) -> OsResult<(OwnedFd, u64)> {
    // SAFETY: `name` is a valid C string; shm_open has no other preconditions.
    let fd = unsafe { libc::shm_open(name.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC, 0) };
    if fd < 0 {
        return Err(OsError::last(format!("shm_open({name:?}, O_RDWR)")));
    }
    // SAFETY: shm_open returned a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let size = file_size(&fd).map_err(|e| OsError { call: format!("{} (shm {name:?})", e.call), errno: e.errno })?;
    Ok((fd, size))
}

/// The size in bytes of the file behind `fd` (`fstat`).
pub fn file_size(fd: &OwnedFd) -> OsResult<u64> {
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat on a descriptor we own, into a struct we own.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(OsError::last("fstat".to_string()));
    }
    Ok(st.st_size as u64)
}

/// Removes the name of a POSIX shared-memory object (`shm_unlink`); mappings and open
/// descriptors keep it alive.
pub fn shm_unlink(name: &CStr) -> OsResult<()> {
    // SAFETY: `name` is a valid C string.
    if unsafe { libc::shm_unlink(name.as_ptr()) } != 0 {
        return Err(OsError::last(format!("shm_unlink({name:?})")));
    }
    Ok(())
}

/// Replaces `[addr, addr+len)` with private anonymous read-write memory that takes no commit
/// charge (`MAP_FIXED | MAP_NORESERVE`): whatever was mapped there (e.g. a shared-memory view)
/// is let go, while the addresses stay valid for anyone still writing to them.
///
/// # Safety
/// The range must be owned by the caller; its old contents are lost.
pub unsafe fn replace_with_anonymous(addr: u64, len: u64) -> OsResult<()> {
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED;
    // SAFETY: the caller owns the range (see above).
    let p = unsafe {
        libc::mmap(addr as *mut libc::c_void, len as usize, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0)
    };
    if p == libc::MAP_FAILED {
        return Err(OsError::last(format!("mmap({addr:#x}, {len:#x}, rw-, MAP_FIXED|MAP_ANONYMOUS)")));
    }
    Ok(())
}

/// The mapped ranges of this process, `[start, end)`, in address order (from `/proc/self/maps`).
pub fn mapped_ranges() -> OsResult<Vec<(u64, u64)>> {
    let text = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| OsError { call: "read(/proc/self/maps)".into(), errno: e.raw_os_error().unwrap_or(0) })?;
    let mut out: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| {
            let range = l.split_whitespace().next()?;
            let (a, b) = range.split_once('-')?;
            Some((u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?))
        })
        .collect();
    out.sort_unstable();
    Ok(out)
}

/// The executable mapped ranges of this process, `[start, end)`, in the order the kernel lists
/// them (from `/proc/self/maps`).
pub fn executable_ranges() -> OsResult<Vec<(u64, u64)>> {
    let text = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| OsError { call: "read(/proc/self/maps)".into(), errno: e.raw_os_error().unwrap_or(0) })?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let (range, perms) = (words.next()?, words.next()?);
            if perms.as_bytes().get(2) != Some(&b'x') {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some((u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?))
        })
        .collect())
}

/// The executable segments of the objects loaded in this process (the program, its shared
/// libraries and what `dlopen` added), `[start, end)`, from the dynamic loader's own list
/// (`dl_iterate_phdr`): no system call and no text to parse, unlike [`executable_ranges`],
/// which reads `/proc/self/maps`. Only file-backed code, with the protection it was loaded
/// with.
pub fn loaded_code_ranges() -> Vec<(u64, u64)> {
    unsafe extern "C" fn each(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        out: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader hands each object's record to this callback, and `out` is the
        // vector below, borrowed for the call.
        let (info, out) = unsafe { (&*info, &mut *(out as *mut Vec<(u64, u64)>)) };
        if info.dlpi_phdr.is_null() {
            return 0;
        }
        // SAFETY: `dlpi_phdr` points at the object's `dlpi_phnum` program headers.
        let headers = unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) };
        for h in headers.iter().filter(|h| h.p_type == libc::PT_LOAD && h.p_flags & libc::PF_X != 0) {
            let start = info.dlpi_addr.wrapping_add(h.p_vaddr);
            out.push((start, start.wrapping_add(h.p_memsz)));
        }
        0
    }
    let mut out: Vec<(u64, u64)> = Vec::new();
    // SAFETY: the callback only reads the records it is given and writes to `out`.
    unsafe { libc::dl_iterate_phdr(Some(each), &mut out as *mut Vec<(u64, u64)> as *mut libc::c_void) };
    out
}

/// The lowest address a process may map (`vm.mmap_min_addr`); 64 KiB when it can't be read.
pub fn mmap_min_addr() -> u64 {
    std::fs::read_to_string("/proc/sys/vm/mmap_min_addr").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0x10000)
}

/// Makes instructions written to `[addr, addr+len)` visible to instruction fetch. x86-64 keeps
/// its caches coherent, so there it is nothing; elsewhere it is the compiler runtime's
/// `__clear_cache`.
pub fn flush_icache(addr: u64, len: u64) {
    #[cfg(not(any(target_arch = "x86_64", target_arch = "x86")))]
    {
        extern "C" {
            fn __clear_cache(start: *mut libc::c_char, end: *mut libc::c_char);
        }
        // SAFETY: __clear_cache only maintains caches for the range; it reads no memory.
        unsafe { __clear_cache(addr as *mut libc::c_char, (addr + len) as *mut libc::c_char) };
    }
    let _ = (addr, len);
}

/// How many pages of `[addr, addr+len)` are resident in memory (`mincore`).
pub fn resident_pages(addr: u64, len: u64) -> OsResult<u64> {
    let mut v = vec![0u8; len.div_ceil(page_size()) as usize];
    // SAFETY: `v` has one byte per page of the range; mincore only reads the page tables.
    let r = unsafe { libc::mincore(addr as *mut libc::c_void, len as usize, v.as_mut_ptr()) };
    if r != 0 {
        return Err(OsError::last(format!("mincore({addr:#x}, {len:#x})")));
    }
    Ok(v.iter().filter(|&&b| b & 1 != 0).count() as u64)
}

/// Address space owned by a mapper or by an executor-side region: unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    pub(crate) addr: u64,
    pub(crate) len: u64,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by this value and dropped with its owner, after nothing
        // hands out its addresses any more. A failure here cannot be reported; it leaves
        // address space behind, nothing worse.
        let _ = unsafe { unmap(self.addr, self.len) };
    }
}

/// This process's effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protections_become_the_kernels_bits() {
        assert_eq!(os_bits(Prot::NONE), libc::PROT_NONE);
        assert_eq!(os_bits(Prot::R), libc::PROT_READ);
        assert_eq!(os_bits(Prot::RW), libc::PROT_READ | libc::PROT_WRITE);
        assert_eq!(os_bits(Prot::RX), libc::PROT_READ | libc::PROT_EXEC);
    }
}
