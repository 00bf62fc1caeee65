package recordsvc

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// UnixPrefix marks a Unix socket address for -P and -S: unix:/run/panoptes/records.sock.
const UnixPrefix = "unix:"

// SocketGroup is the group given a -P Unix socket when it exists: its members (and the
// socket's owner) may read records; nobody else may connect.
const SocketGroup = "panoptes"

// socketMode lets the owner and SocketGroup connect (connecting needs write permission).
const socketMode = 0o660

// ListenAddress turns -P and --listen into an address for Listen: unix:PATH as given,
// or a port number on the --listen address.
func ListenAddress(port, listen string) (string, error) {
	if path, ok := strings.CutPrefix(port, UnixPrefix); ok {
		if !filepath.IsAbs(path) {
			return "", fmt.Errorf("-P %q: want unix:/ABSOLUTE/PATH", port)
		}
		return port, nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return "", fmt.Errorf("-P %q: want a port number or unix:/PATH", port)
	}
	return net.JoinHostPort(listen, strconv.FormatUint(p, 10)), nil
}

// ExposureWarning says, for a server listening on addr with TLS config tc, whether
// other hosts may read its records without a client certificate: "" when addr is a
// Unix socket or loopback, or when clients need a certificate.
func ExposureWarning(addr net.Addr, tc *tls.Config) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok || ta.IP.IsLoopback() {
		return ""
	}
	if tc != nil && tc.ClientAuth == tls.RequireAndVerifyClientCert {
		return ""
	}
	what := "plain TCP"
	if tc != nil {
		what = "TLS without client certificates (--tls-client-ca)"
	}
	where := "on " + ta.IP.String()
	if ta.IP.IsUnspecified() {
		where = "on every address"
	}
	return fmt.Sprintf("-P %s is %s %s: any host that reaches it reads every record", addr, what, where)
}

// listen opens addr: TCP HOST:PORT, or unix:PATH.
func listen(addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, UnixPrefix); ok {
		return listenUnix(path)
	}
	return net.Listen("tcp", addr)
}

// listenUnix serves on a Unix socket at path of mode socketMode and group SocketGroup
// (when that group exists). The socket is made in a private directory beside path and
// renamed into place with its final mode, so no other user can connect in between. A
// stale socket at path (nobody accepts on it) is replaced; anything else there is
// refused, never removed.
func listenUnix(path string) (net.Listener, error) {
	if err := checkStale(path); err != nil {
		return nil, err
	}
	priv, err := os.MkdirTemp(filepath.Dir(path), ".panoptes-sock")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer os.RemoveAll(priv)
	tmp := filepath.Join(priv, "s")
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // it would unlink tmp, not path: unixListener.Close does it
	if err := setSocketAccess(tmp); err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fi, err := os.Lstat(tmp)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &unixListener{UnixListener: ul, path: path, fi: fi}, nil
}

// checkStale refuses a path that holds anything but a socket nobody serves on.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket (not replaced)", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: another process serves on it", path)
	}
	return nil
}

// setSocketAccess gives the socket socketMode and, when it exists, group SocketGroup.
func setSocketAccess(path string) error {
	if err := os.Chmod(path, socketMode); err != nil {
		return err
	}
	g, err := user.LookupGroup(SocketGroup)
	if err != nil {
		return nil // no such group: the process's own group
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return nil
	}
	if err := os.Chown(path, -1, gid); err != nil {
		return fmt.Errorf("giving the socket to group %s: %w", SocketGroup, err)
	}
	return nil
}

// unixListener is a Unix socket listener named by the path clients use, which it
// removes on Close unless another process has put its own socket there since.
type unixListener struct {
	*net.UnixListener
	path string
	fi   os.FileInfo
}

// unixAddr prints as -S takes it: unix:PATH.
type unixAddr string

func (a unixAddr) Network() string { return "unix" }
func (a unixAddr) String() string  { return UnixPrefix + string(a) }

func (l *unixListener) Addr() net.Addr { return unixAddr(l.path) }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	if fi, serr := os.Lstat(l.path); serr == nil && os.SameFile(fi, l.fi) {
		os.Remove(l.path)
	}
	return err
}

// dialNetwork splits a -S address into the network and address to dial.
func dialNetwork(addr string) (network, address string) {
	if path, ok := strings.CutPrefix(addr, UnixPrefix); ok {
		return "unix", path
	}
	return "tcp", addr
}

// peerName names a client in the log: its address, or on a Unix socket its user and
// process (SO_PEERCRED), which is what tells local clients apart.
func peerName(conn net.Conn) string {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return conn.RemoteAddr().String()
	}
	name := "unix"
	if raw, err := uc.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
				name = fmt.Sprintf("unix(uid %d, pid %d)", cred.Uid, cred.Pid)
			}
		})
	}
	return name
}
