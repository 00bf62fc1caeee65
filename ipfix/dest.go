package ipfix

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// ParseDestination splits an export destination, "HOST:PORT" or "udp://HOST:PORT" for
// UDP and "tcp://HOST:PORT" for TCP, into a network and an address for net.Dial.
func ParseDestination(dest string) (network, addr string, err error) {
	network, addr = "udp", dest
	if i := strings.Index(dest, "://"); i >= 0 {
		network, addr = dest[:i], dest[i+3:]
	}
	if network != "udp" && network != "tcp" {
		return "", "", fmt.Errorf("%q: transport %q (want udp:// or tcp://)", dest, network)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", "", fmt.Errorf("%q: want HOST:PORT", dest)
	}
	return network, addr, nil
}

// Dial connects to a destination ParseDestination accepts (5 s timeout for TCP).
func Dial(network, addr string) (net.Conn, error) {
	return net.DialTimeout(network, addr, 5*time.Second)
}
