//! `sock_accept`, `sock_recv`, `sock_send`, `sock_shutdown`.
//!
//! Preview1 has no way to create a socket; a host can only hand one over
//! as a preopened descriptor, and Kiln hands over none. So every open
//! descriptor is not a socket (`ENOTSOCK`) and every other number is not a
//! descriptor (`EBADF`), exactly what these functions must answer for them.

use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};

impl WasiCtx {
    pub(crate) fn not_a_socket(&self, fd: u32) -> WasiResult<()> {
        self.fds.get(fd)?;
        Err(Errno::Notsock)
    }
}
