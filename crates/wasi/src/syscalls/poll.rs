//! `poll_oneoff`: wait for clocks and descriptors.
//!
//! Clock subscriptions on the realtime and monotonic clocks (relative or
//! absolute) become deadlines on the host's monotonic clock. Descriptor
//! subscriptions are ready at once when Kiln can tell without waiting
//! (files, in-memory streams, and writes to any standard stream, which are
//! blocking writes); the host's stdin is polled for real. The call returns
//! as soon as something is ready: every descriptor ready then, or else
//! every clock whose deadline has passed. A subscription that cannot be
//! waited on (bad descriptor, unsupported clock) is reported at once as an
//! event carrying its errno, as POSIX `poll` reports `POLLNVAL`.

use crate::abi::{EVENT_SIZE, SUBSCRIPTION_SIZE, clock, eventrwflags, eventtype, subclockflags};
use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::memory::GuestMemory;
use crate::table::Descriptor;
use rustix::event::{PollFd, PollFlags};
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

/// An event to report: `(userdata, errno, type, nbytes, flags)`.
struct Event {
    userdata: u64,
    error: u16,
    kind: u8,
    nbytes: u64,
    flags: u16,
}

impl Event {
    fn failed(userdata: u64, kind: u8, e: Errno) -> Event {
        Event {
            userdata,
            error: e.raw(),
            kind,
            nbytes: 0,
            flags: 0,
        }
    }

    fn write(&self, mem: &mut GuestMemory<'_>, ptr: u32) -> WasiResult<()> {
        let mut b = [0u8; EVENT_SIZE as usize];
        b[0..8].copy_from_slice(&self.userdata.to_le_bytes());
        b[8..10].copy_from_slice(&self.error.to_le_bytes());
        b[10] = self.kind;
        b[16..24].copy_from_slice(&self.nbytes.to_le_bytes());
        b[24..26].copy_from_slice(&self.flags.to_le_bytes());
        mem.write_bytes(ptr, &b)
    }
}

/// A descriptor subscription waiting on the host.
struct HostWait<'a> {
    userdata: u64,
    kind: u8,
    fd: BorrowedFd<'a>,
}

/// When a clock subscription fires, as an instant of the host's monotonic
/// clock.
fn deadline(mem: &GuestMemory<'_>, sub: u32, start: Instant) -> WasiResult<Instant> {
    let id = mem.read_u32(sub + 16)?;
    let timeout = mem.read_u64(sub + 24)?;
    let flags = mem.read_u16(sub + 40)?;
    let absolute = flags & subclockflags::ABSTIME != 0;
    let wait = match (id, absolute) {
        (clock::REALTIME | clock::MONOTONIC, false) => timeout,
        // An absolute time on either clock: how far ahead of that clock's
        // present it is.
        (clock::REALTIME | clock::MONOTONIC, true) => {
            timeout.saturating_sub(super::clock::now(id)?)
        }
        _ => return Err(Errno::Inval),
    };
    // Far-future deadlines saturate rather than overflow `Instant`.
    Ok(start
        .checked_add(Duration::from_nanos(wait))
        .unwrap_or(start + Duration::from_secs(u32::MAX as u64)))
}

impl WasiCtx {
    pub(crate) fn poll_oneoff(
        &mut self,
        mem: &mut GuestMemory<'_>,
        subs: u32,
        out: u32,
        nsubs: u32,
        nevents: u32,
    ) -> WasiResult<()> {
        if nsubs == 0 {
            return Err(Errno::Inval);
        }
        // Check both arrays up front: failing after waiting would lose events.
        mem.slice(
            subs,
            nsubs.checked_mul(SUBSCRIPTION_SIZE).ok_or(Errno::Fault)?,
        )?;
        mem.slice(out, nsubs.checked_mul(EVENT_SIZE).ok_or(Errno::Fault)?)?;
        mem.slice(nevents, 4)?;

        let start = Instant::now();
        let mut ready = Vec::new();
        let mut clocks: Vec<(u64, Instant)> = Vec::new();
        let mut waits: Vec<HostWait<'_>> = Vec::new();
        for i in 0..nsubs {
            let sub = subs + i * SUBSCRIPTION_SIZE;
            let userdata = mem.read_u64(sub)?;
            let kind = mem.read_u8(sub + 8)?;
            match kind {
                eventtype::CLOCK => match deadline(mem, sub, start) {
                    Ok(at) => clocks.push((userdata, at)),
                    Err(e) => ready.push(Event::failed(userdata, kind, e)),
                },
                eventtype::FD_READ | eventtype::FD_WRITE => {
                    let fd = mem.read_u32(sub + 16)?;
                    match self.fds.get(fd) {
                        Err(e) => ready.push(Event::failed(userdata, kind, e)),
                        Ok(desc) => match readiness(desc, kind) {
                            Readiness::Now(nbytes) => ready.push(Event {
                                userdata,
                                error: 0,
                                kind,
                                nbytes,
                                flags: 0,
                            }),
                            Readiness::Host(fd) => waits.push(HostWait { userdata, kind, fd }),
                            Readiness::Never(e) => ready.push(Event::failed(userdata, kind, e)),
                        },
                    }
                }
                _ => return Err(Errno::Inval),
            }
        }

        let first_deadline = clocks.iter().map(|(_, at)| *at).min();
        if !ready.is_empty() {
            // Report host descriptors that happen to be ready too.
            ready.extend(wait_host(&waits, Some(start))?);
        }
        // Every subscription is ready, a clock or a host wait, so with
        // nothing ready there is a clock or a host descriptor to wait for.
        while ready.is_empty() {
            ready.extend(wait_host(&waits, first_deadline)?);
            if let (true, Some(until)) = (ready.is_empty(), first_deadline) {
                // `poll` and `sleep` may wake a little early; the guest
                // must not see a clock fire before its time.
                while let Some(left) = until
                    .checked_duration_since(Instant::now())
                    .filter(|d| !d.is_zero())
                {
                    std::thread::sleep(left);
                }
                let now = Instant::now();
                ready.extend(
                    clocks
                        .iter()
                        .filter(|(_, at)| *at <= now)
                        .map(|&(userdata, _)| Event {
                            userdata,
                            error: 0,
                            kind: eventtype::CLOCK,
                            nbytes: 0,
                            flags: 0,
                        }),
                );
            }
        }

        for (i, event) in ready.iter().enumerate() {
            event.write(mem, out + i as u32 * EVENT_SIZE)?;
        }
        mem.write_u32(nevents, ready.len() as u32)
    }
}

enum Readiness<'a> {
    /// Ready now, with this many bytes available to read.
    Now(u64),
    /// Ask the host.
    Host(BorrowedFd<'a>),
    /// Can never become ready.
    Never(Errno),
}

fn readiness(desc: &Descriptor, kind: u8) -> Readiness<'_> {
    let reading = kind == eventtype::FD_READ;
    match desc {
        Descriptor::Stdin(s) if reading => match s.ready_bytes() {
            Some(n) => Readiness::Now(n),
            None => s.host_fd().map_or(Readiness::Now(0), Readiness::Host),
        },
        // Writes to standard streams block until done: always ready.
        Descriptor::Output(_) if !reading => Readiness::Now(0),
        Descriptor::File(f) => {
            // Regular files never block; report what a read would get.
            let nbytes = if reading {
                let len = f.file.metadata().map_or(0, |m| m.len());
                let pos =
                    rustix::fs::seek(&f.file, rustix::fs::SeekFrom::Current(0)).unwrap_or(len);
                len.saturating_sub(pos)
            } else {
                0
            };
            Readiness::Now(nbytes)
        }
        _ => Readiness::Never(Errno::Badf),
    }
}

/// Polls the host descriptors until one is ready or `until` passes (`None`:
/// no limit), and returns their events.
fn wait_host(waits: &[HostWait<'_>], until: Option<Instant>) -> WasiResult<Vec<Event>> {
    if waits.is_empty() {
        return Ok(Vec::new());
    }
    let mut pollfds: Vec<PollFd<'_>> = waits
        .iter()
        .map(|w| {
            PollFd::from_borrowed_fd(
                w.fd,
                if w.kind == eventtype::FD_READ {
                    PollFlags::IN
                } else {
                    PollFlags::OUT
                },
            )
        })
        .collect();
    loop {
        let timeout = until.map(|t| {
            let left = t.saturating_duration_since(Instant::now());
            rustix::event::Timespec {
                tv_sec: left.as_secs() as i64,
                tv_nsec: left.subsec_nanos() as _,
            }
        });
        match rustix::event::poll(&mut pollfds, timeout.as_ref()) {
            Ok(_) => break,
            // A signal for the host process: keep waiting for the guest.
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let mut events = Vec::new();
    for (w, p) in waits.iter().zip(&pollfds) {
        let r = p.revents();
        if r.is_empty() {
            continue;
        }
        let event = if r.contains(PollFlags::NVAL) {
            Event::failed(w.userdata, w.kind, Errno::Badf)
        } else {
            let flags = if r.contains(PollFlags::HUP) {
                eventrwflags::HANGUP
            } else {
                0
            };
            // How much is readable is not known without reading; one byte
            // is the promise `poll` makes.
            let nbytes = if w.kind == eventtype::FD_READ && r.contains(PollFlags::IN) {
                1
            } else {
                0
            };
            Event {
                userdata: w.userdata,
                error: 0,
                kind: w.kind,
                nbytes,
                flags,
            }
        };
        events.push(event);
    }
    Ok(events)
}
