package anon

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Offset is how a value is shifted: not at all, by a keyed random amount, or by a
// fixed amount.
type Offset struct {
	Mode  OffsetMode
	Fixed int64
}

// OffsetMode says how an Offset is chosen.
type OffsetMode uint8

const (
	OffsetNone  OffsetMode = iota // keep the value
	OffsetKeyed                   // a random amount derived from the key (the same in every run)
	OffsetFixed                   // Offset.Fixed
)

// PortMethod says how ports outside the preserved ranges are changed.
type PortMethod uint8

const (
	PortPermute PortMethod = iota // a keyed permutation of the anonymized ports
	PortOffset                    // a rotation of the anonymized ports by Config.PortOffset
	PortKeep                      // ports unchanged
)

// Config holds the anonymization options. DefaultConfig is what ranonymize does with
// no configuration file, adapted to Panoptes' records.
type Config struct {
	Net, Host   bool // anonymize the network part / the host part of IP addresses
	NetLen4     int  // length of the IPv4 network part (RANON_NETWORK_ADDRESS_LENGTH)
	NetLen6     int  // length of the IPv6 network part
	MAC         bool // anonymize MAC addresses
	MACVendor   bool // keep the vendor (OUI) part of MAC addresses
	MACSpecial  bool // keep broadcast and multicast MAC addresses
	Ports       PortMethod
	PortOffset  Offset
	KeepWK      bool // keep well-known ports (0-1023)
	KeepReg     bool // keep registered ports (1024-49151)
	KeepPrivate bool // keep private ports (49152-65535)
	WellKnownHi uint16
	Time        Offset // nanoseconds added to every time
	TCPSeq      Offset // added to TCP base sequence numbers
	RecordSeq   Offset // added to record sequence numbers
	TTL, ToS    Offset // added to TTLs and ToS bytes
	SrcID       bool   // anonymize the source id (as an IPv4 address)
	AS          bool   // anonymize AS numbers
	KeepLabels  bool   // keep free-form labels (default: removed, they may name hosts)
	Seed        string // RANON_SEED: derive the key from this when no key file is given
}

// DefaultConfig anonymizes addresses, ports above 1023, times, TCP sequence numbers,
// MAC station parts and AS numbers, and removes labels.
func DefaultConfig() Config {
	return Config{Net: true, Host: true, NetLen4: 24, NetLen6: 64, MAC: true, MACVendor: true, MACSpecial: true,
		Ports: PortPermute, KeepWK: true, WellKnownHi: 1023, Time: Offset{Mode: OffsetKeyed},
		TCPSeq: Offset{Mode: OffsetKeyed}, RecordSeq: Offset{Mode: OffsetNone}, AS: true}
}

// ConfigError is a bad line in a configuration file.
type ConfigError struct {
	File string
	Line int
	Msg  string
}

func (e *ConfigError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// notApplicable are Argus directives accepted for compatibility that have nothing to
// act on in Panoptes records; ParseConfig reports each in its warnings.
var notApplicable = map[string]string{
	"RANON_PRESERVE_IP_ID":                 "records carry no IP identifiers",
	"RANON_PRESERVE_ICMPMAPPED_TTL":        "records carry no ICMP-mapped TTLs",
	"RANON_PRESERVE_BROADCAST_ADDRESS":     "Crypto-PAn is a bijection; host parts 0 and 255 are not kept",
	"RANON_PRESERVE_MULTICAST_ADDRESS":     "Crypto-PAn is a bijection; multicast addresses are not kept",
	"RANON_SPECIFY_NET_TRANSLATION":        "translations are not supported",
	"RANON_SPECIFY_HOST_TRANSLATION":       "translations are not supported",
	"RANON_PRESERVE_NET_ADDRESS_HIERARCHY": "Crypto-PAn preserves every prefix length",
}

// ParseConfig reads a ranonymize.conf-style file: NAME=value lines, "#" comments,
// values optionally quoted, "" meaning "leave the default". It starts from
// DefaultConfig. Unknown directives and bad values are errors naming the line;
// directives that do not apply are returned as warnings.
func ParseConfig(r io.Reader, name string) (Config, []string, error) {
	c := DefaultConfig()
	var warnings []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		bad := func(format string, args ...any) error {
			return &ConfigError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)}
		}
		key, val, ok := strings.Cut(s, "=")
		if !ok {
			return c, nil, bad("expected NAME=value, found %q", clip(s))
		}
		key = strings.TrimSpace(key)
		val = strings.ReplaceAll(strings.TrimSpace(val), `"`, "") // as ranonymize: quotes are dropped
		if i := strings.Index(val, " #"); i >= 0 {
			val = strings.TrimSpace(val[:i])
		}
		if why, ok := notApplicable[key]; ok {
			warnings = append(warnings, fmt.Sprintf("%s:%d: %s has no effect: %s", name, line, key, why))
			continue
		}
		if val == "" {
			continue
		}
		var err error
		switch key {
		case "RANON_SEED":
			c.Seed = val
		case "RANON_NET_ANONYMIZATION":
			c.Net, err = method(val)
		case "RANON_HOST_ANONYMIZATION":
			c.Host, err = method(val)
		case "RANON_NETWORK_ADDRESS_LENGTH":
			n, perr := strconv.Atoi(val)
			if perr != nil || n < 0 || n > 32 {
				return c, nil, bad("%s: bad length %q (want 0 to 32)", key, clip(val))
			}
			c.NetLen4 = n
		case "RANON_ETHERNET_ANONYMIZATION":
			c.MAC, err = method(val)
		case "RANON_PRESERVE_ETHERNET_VENDOR":
			c.MACVendor, err = yesNo(val)
		case "RANON_PRESERVE_ETHERNET_BROADCAST", "RANON_PRESERVE_ETHERNET_MULTICAST":
			c.MACSpecial, err = yesNo(val)
		case "RANON_AS_ANONYMIZATION":
			c.AS, err = method(val)
		case "RANON_PRESERVE_WELLKNOWN_PORT_NUMS":
			c.KeepWK, err = yesNo(val)
		case "RANON_PRESERVE_REGISTERED_PORT_NUMS":
			c.KeepReg, err = yesNo(val)
		case "RANON_PRESERVE_PRIVATE_PORT_NUMS":
			c.KeepPrivate, err = yesNo(val)
		case "RANON_PORT_METHOD":
			err = c.portMethod(val)
		case "RANON_TIME_SEC_OFFSET", "RANON_TIME_USEC_OFFSET":
			err = c.timeOffset(key, val)
		case "RANON_SEQNUM_OFFSET":
			c.TCPSeq, err = parseOffset(val)
		case "RANON_TRANSREFNUM_OFFSET":
			c.RecordSeq, err = parseOffset(val)
		case "RANON_PRESERVE_IP_TTL":
			c.TTL, err = parseOffset(val)
		case "RANON_PRESERVE_IP_TOS":
			c.ToS, err = parseOffset(val)
		// Panoptes' own directives.
		case "RANON_SRCID_ANONYMIZATION":
			c.SrcID, err = method(val)
		case "RANON_PRESERVE_LABELS":
			c.KeepLabels, err = yesNo(val)
		default:
			return c, nil, bad("unknown directive %s", clip(key))
		}
		if err != nil {
			return c, nil, bad("%s: %v", key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return c, nil, &ConfigError{File: name, Line: line + 1, Msg: err.Error()}
	}
	return c, warnings, nil
}

// method parses an anonymization method. Argus's sequential and random pools are
// replaced by Crypto-PAn and keyed permutations, which need no state shared between
// files; "no" turns anonymization off.
func method(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "no", "none":
		return false, nil
	case "yes", "sequential", "random", "specific", "cryptopan", "prefix":
		return true, nil
	}
	return false, fmt.Errorf("bad method %q (want sequential, random, cryptopan or no)", clip(v))
}

func yesNo(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes", "y", "true", "1":
		return true, nil
	case "no", "n", "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("bad value %q (want yes or no)", clip(v))
}

// parseOffset parses "no"/"none", "random"/"fixed:random" (keyed), "fixed:N" or "N".
func parseOffset(v string) (Offset, error) {
	l := strings.ToLower(v)
	switch l {
	case "no", "none", "0":
		return Offset{}, nil
	case "random", "fixed:random", "offset:random":
		return Offset{Mode: OffsetKeyed}, nil
	}
	l = strings.TrimPrefix(strings.TrimPrefix(l, "fixed:"), "offset:")
	n, err := strconv.ParseInt(l, 10, 64)
	if err != nil {
		return Offset{}, fmt.Errorf("bad offset %q (want no, random, fixed:random or fixed:N)", clip(v))
	}
	return Offset{Mode: OffsetFixed, Fixed: n}, nil
}

func (c *Config) portMethod(v string) error {
	switch l := strings.ToLower(v); {
	case l == "no" || l == "none":
		c.Ports = PortKeep
	case l == "random":
		c.Ports = PortPermute
	case strings.HasPrefix(l, "offset:") || strings.HasPrefix(l, "fixed:"):
		o, err := parseOffset(l)
		if err != nil {
			return err
		}
		c.Ports, c.PortOffset = PortOffset, o
	default:
		return fmt.Errorf("bad port method %q (want random, offset:random, offset:N or no)", clip(v))
	}
	return nil
}

// timeOffset sets the seconds or microseconds part of the time offset. "random" for
// either makes the whole offset keyed.
func (c *Config) timeOffset(key, v string) error {
	o, err := parseOffset(v)
	if err != nil {
		return err
	}
	switch o.Mode {
	case OffsetKeyed:
		c.Time = o
		return nil
	case OffsetNone:
		if c.Time.Mode == OffsetKeyed {
			c.Time = Offset{Mode: OffsetFixed}
		}
		return nil
	}
	unit := time.Second
	if key == "RANON_TIME_USEC_OFFSET" {
		unit = time.Microsecond
	}
	if c.Time.Mode != OffsetFixed {
		c.Time = Offset{Mode: OffsetFixed}
	}
	c.Time.Fixed += o.Fixed * int64(unit)
	return nil
}

// clip cuts a configuration value an error repeats to its first 40 bytes and "...": a
// line may be 64 KB, the error stays one short line.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
