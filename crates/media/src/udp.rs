//! Batched UDP receive (Linux `recvmmsg`): one syscall drains up to [`BATCH`] datagrams, and a
//! short batch proves the queue empty, which lets the caller skip the extra `recv` that would
//! only return `EWOULDBLOCK` (the profile of the relay is all kernel time, so syscalls are what
//! count).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

pub const BATCH: usize = 16;
pub const BUF_LEN: usize = 2048;

/// Receive buffers for one batch; one per worker thread is enough (no `.await` while in use).
pub struct RecvBatch {
    pub bufs: Box<[[u8; BUF_LEN]; BATCH]>,
    pub lens: [usize; BATCH],
    pub from: [Option<SocketAddr>; BATCH],
}

impl RecvBatch {
    pub fn new() -> RecvBatch {
        RecvBatch {
            bufs: Box::new([[0u8; BUF_LEN]; BATCH]),
            lens: [0; BATCH],
            from: [None; BATCH],
        }
    }
}

fn to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match s.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in, which it is large enough for.
            let a = unsafe { &*(s as *const libc::sockaddr_storage as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Non-blocking `recvmmsg`. Returns how many datagrams were stored (≥ 1) or the OS error
/// (`WouldBlock` when none was queued). Truncated datagrams come back with length 0.
pub fn recv_batch(fd: RawFd, b: &mut RecvBatch) -> io::Result<usize> {
    // SAFETY: plain C structs, all-zero is a valid initial state for each.
    let mut names: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    for i in 0..BATCH {
        iov[i].iov_base = b.bufs[i].as_mut_ptr() as *mut libc::c_void;
        iov[i].iov_len = BUF_LEN;
        hdrs[i].msg_hdr.msg_name =
            &mut names[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
        hdrs[i].msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: every header points at live buffers of the stated sizes for the whole call.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    for i in 0..n {
        let truncated = hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
        b.lens[i] = if truncated {
            0
        } else {
            (hdrs[i].msg_len as usize).min(BUF_LEN)
        };
        b.from[i] = to_std(&names[i]);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn drains_queue_in_one_call_and_reports_empty() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut b = RecvBatch::new();
        assert_eq!(
            recv_batch(rx.as_raw_fd(), &mut b).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        for i in 0..5u8 {
            tx.send_to(&[i; 10], rx.local_addr().unwrap()).unwrap();
        }
        tx.send_to(&[9u8; BUF_LEN + 10], rx.local_addr().unwrap())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let n = recv_batch(rx.as_raw_fd(), &mut b).unwrap();
        assert_eq!(n, 6);
        for i in 0..5 {
            assert_eq!(b.lens[i], 10);
            assert_eq!(b.bufs[i][0], i as u8);
            assert_eq!(b.from[i], Some(tx.local_addr().unwrap()));
        }
        assert_eq!(b.lens[5], 0, "oversized datagram is flagged, not half-read");
    }
}
