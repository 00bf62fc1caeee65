package doctor

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// readRSS reads the RSS hash function, input transform and key with ETHTOOL_GRSSH
// (what `ethtool -x` prints). The ethtool library doctor uses reads only the
// indirection table, so this one ioctl is done here.
func readRSS(name string) (*RSS, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	// struct ethtool_rxfh: cmd, rss_context, indir_size, key_size (u32), hfunc,
	// input_xfrm, rsvd8[2] (u8), rsvd32 (u32), then indir_size u32s and key_size bytes.
	const hdr = 24
	head := make([]byte, hdr)
	*(*uint32)(unsafe.Pointer(&head[0])) = unix.ETHTOOL_GRSSH
	if err := ethtoolIoctl(fd, name, head); err != nil {
		return nil, err
	}
	indir := *(*uint32)(unsafe.Pointer(&head[8]))
	keySize := *(*uint32)(unsafe.Pointer(&head[12]))
	if indir > 1<<16 || keySize > 1<<10 {
		return nil, fmt.Errorf("implausible RSS sizes: indirection %d, key %d", indir, keySize)
	}
	buf := make([]byte, hdr+int(indir)*4+int(keySize))
	copy(buf, head)
	if err := ethtoolIoctl(fd, name, buf); err != nil {
		return nil, err
	}
	r := &RSS{HFunc: buf[16], InputXfrm: buf[17], IndirSize: int(indir)}
	r.Key = append([]byte(nil), buf[hdr+int(indir)*4:]...)
	return r, nil
}

// ifreq is struct ifreq with the ethtool command pointer in its union.
type ifreq struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

func ethtoolIoctl(fd int, name string, data []byte) error {
	var ifr ifreq
	if len(name) >= unix.IFNAMSIZ {
		return fmt.Errorf("interface name %q too long", name)
	}
	copy(ifr.name[:], name)
	ifr.data = uintptr(unsafe.Pointer(&data[0]))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(data)
	if errno != 0 {
		return errno
	}
	return nil
}
