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

impl Default for RecvBatch {
    fn default() -> RecvBatch {
        RecvBatch::new()
    }
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

fn to_c(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: all-zero sockaddr_storage is valid; we fill the family-specific view below.
    let mut st: libc::sockaddr_storage = unsafe { zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let s =
                unsafe { &mut *(&mut st as *mut libc::sockaddr_storage as *mut libc::sockaddr_in) };
            s.sin_family = libc::AF_INET as libc::sa_family_t;
            s.sin_port = a.port().to_be();
            s.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            (st, size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let s = unsafe {
                &mut *(&mut st as *mut libc::sockaddr_storage as *mut libc::sockaddr_in6)
            };
            s.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            s.sin6_port = a.port().to_be();
            s.sin6_addr.s6_addr = a.ip().octets();
            s.sin6_flowinfo = a.flowinfo();
            s.sin6_scope_id = a.scope_id();
            (st, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// Non-blocking `sendmmsg` of up to [`BATCH`] datagrams, each to its own address. Returns how
/// many the kernel took (the rest are dropped by the caller, as a full socket buffer would).
pub fn send_batch(fd: RawFd, msgs: &[(&[u8], SocketAddr)]) -> usize {
    let n = msgs.len().min(BATCH);
    if n == 0 {
        return 0;
    }
    // SAFETY: plain C structs, all-zero is a valid initial state for each.
    let mut names: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    for (i, (data, to)) in msgs[..n].iter().enumerate() {
        let (name, len) = to_c(to);
        names[i] = name;
        iov[i].iov_base = data.as_ptr() as *mut libc::c_void;
        iov[i].iov_len = data.len();
        hdrs[i].msg_hdr.msg_name =
            &mut names[i] as *mut libc::sockaddr_storage as *mut libc::c_void;
        hdrs[i].msg_hdr.msg_namelen = len;
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: headers point at live buffers/addresses for the whole call; the kernel only reads
    // the payloads (iov_base is *mut only by the C signature).
    let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
    if r < 0 {
        0
    } else {
        r as usize
    }
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

    #[test]
    fn send_batch_reaches_each_address() {
        let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let c = std::net::UdpSocket::bind("[::1]:0");
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let to_a = a.local_addr().unwrap();
        let sent = send_batch(tx.as_raw_fd(), &[(b"one", to_a), (b"two", to_a)]);
        assert_eq!(sent, 2);
        let mut buf = [0u8; 16];
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one");
        let n = a.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"two");
        if let (Ok(c), Ok(tx6)) = (c, std::net::UdpSocket::bind("[::1]:0")) {
            assert_eq!(
                send_batch(tx6.as_raw_fd(), &[(b"six", c.local_addr().unwrap())]),
                1
            );
            let n = c.recv(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"six");
        }
    }
}
