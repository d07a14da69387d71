//! Making a manager (local, over a mapper; remote, over a transport to an executor) and
//! dropping it. The geometry is checked before the OS or the executor is asked for anything.
//!
//! Concurrency: construction and drop own the manager; nothing is shared yet, or any more.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Config, Counts, Error, ErrorKind, Inner, Manager, State};
use crate::backend::in_process::InProcess;
use crate::backend::native::FD_PATHS;
use crate::backend::{self, Backend, Kept, SharingPath};
use crate::mapper::remote::Transport;
use crate::mapper::{self, Mapper, MapperConfig, Placement};
use crate::slab::{Layout, Slab};
use crate::sys;

/// A geometry the slab's rules refuse ([`Layout::new`]) is the caller's invalid argument.
fn invalid(rule: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, rule)
}

impl Manager {
    /// Reserves the slab and sets up the mapper. Errors say which rule or OS call failed.
    pub fn new(config: &Config) -> Result<Manager, Error> {
        let page = sys::page_size();
        // Validate the geometry before touching the OS; the granule depends on the mapper, so
        // the layout is made again once the mapper is known.
        Layout::new(config.span, page, config.chunk, true).map_err(invalid)?;
        let mcfg = MapperConfig { span: config.span, placement: config.placement, choice: config.mapper, page };
        let (mapper, fallback) = mapper::create(&mcfg)?;
        if let (Some(why), true) = (&fallback, config.log_fallback) {
            eprintln!("jitslab: {why}");
        }
        Manager::with_mapper(config, mapper, fallback)
    }

    /// A local manager over a mapper made elsewhere (tests inject faulty mappers this way).
    pub(crate) fn with_mapper(
        config: &Config,
        mapper: Box<dyn Mapper>,
        fallback: Option<String>,
    ) -> Result<Manager, Error> {
        Manager::with_backend(config, mapper, Box::new(InProcess), fallback)
    }

    /// A manager over a mapper and a backend made elsewhere. On failure the backend is torn
    /// down (a remote one lets its executor go).
    fn with_backend(
        config: &Config,
        mapper: Box<dyn Mapper>,
        backend: Box<dyn Backend>,
        fallback: Option<String>,
    ) -> Result<Manager, Error> {
        let page = sys::page_size();
        let layout = match Layout::new(config.span, page, config.chunk, mapper.packs_subpage()) {
            Ok(layout) => layout.with_retain(config.retain_free),
            Err(e) => {
                // SAFETY: nothing was finalized: no action runs.
                unsafe { backend.teardown(Vec::new()) };
                return Err(invalid(e));
            }
        };
        let inner = Inner { slab: Slab::new(layout), allocs: HashMap::default(), counts: Counts::default() };
        Ok(Manager { inner: Mutex::new(inner), page, mapper, backend, fallback })
    }

    /// A manager whose slab lives in an executor process, reached through `transport`, with
    /// the protocol `config.protocol` chooses (auto: jitslab's native service when the executor
    /// publishes it, LLVM 19's shared-memory service otherwise). Stock: one `Reserve` and one
    /// `Initialize` (waited for) map the slab in both processes. Native: one `setup` (waited
    /// for; a second when the memfd cannot be taken, see `backend/native`).
    /// `config.placement` must be anywhere (the executor chooses the address) and
    /// `config.mapper` is not used.
    pub fn new_remote(config: &Config, transport: Box<dyn Transport>) -> Result<Manager, Error> {
        Manager::new_remote_with(config, transport, &FD_PATHS)
    }

    /// [`Manager::new_remote`], taking the native region's memfd only by `fd_paths` (tests
    /// leave paths out to exercise the others).
    pub(crate) fn new_remote_with(
        config: &Config,
        transport: Box<dyn Transport>,
        fd_paths: &[SharingPath],
    ) -> Result<Manager, Error> {
        if config.placement != Placement::Anywhere {
            return Err(Error::new(
                ErrorKind::Placement,
                "placement is not available out of process: the executor chooses the address itself",
            ));
        }
        // The geometry is checked before the executor is asked for anything.
        Layout::new(config.span, sys::page_size(), config.chunk, false).map_err(invalid)?;
        let (backend, view) = backend::connect_remote(transport, config.protocol, config.span, config.chunk, fd_paths)?;
        Manager::with_backend(config, view, backend, None)
    }
}

impl Drop for Manager {
    /// Hands what is still finalized to the backend, newest first: an in-process one runs the
    /// dealloc actions, as LLVM's mappers do when they are destroyed; a remote one lets its
    /// executor run them. The views are unmapped after this.
    fn drop(&mut self) {
        let g = self.inner.get_mut().unwrap_or_else(|p| p.into_inner());
        let mut left: Vec<(u64, Kept)> = g
            .allocs
            .drain()
            .filter_map(|(id, r)| match r.state {
                State::Finalized(kept) => Some((id, kept)),
                _ => None,
            })
            .collect();
        left.sort_unstable_by_key(|(id, _)| std::cmp::Reverse(*id));
        // SAFETY: the caller of `finalize` vouched for these addresses.
        unsafe { self.backend.teardown(left.into_iter().map(|(_, kept)| kept).collect()) };
    }
}
