//go:build unix

package lambdart

import (
	"net"
	"syscall"
)

// peerClosed reports whether the runtime has closed its end of c (a FIN
// or a reset arrived), with one non-blocking MSG_PEEK read that takes no
// data. net/http's server learnt this from its background read while a
// poll waited; this asks once, just before an invocation is handed over.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var b [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			if err == syscall.EINTR {
				continue
			}
			closed = err == nil && n == 0 || err != nil && err != syscall.EAGAIN
			return true // answered: do not wait for readability
		}
	})
	return closed
}
