package fleet

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Target is a parsed nats:// URL of the fleet: the brokers, the credentials, and the
// sites (names or glob patterns; one site for a query service).
type Target struct {
	Servers []string // nats://HOST:PORT or tls://HOST:PORT, one per broker
	Sites   []string // site names or patterns (path.Match syntax: *, ?, [...])

	user, password, token string
	nkeyFile, credsFile   string
	caFile, cert, key     string
	tls                   bool
	shown                 string // the URL with the password or token blanked, for messages
}

// String returns the URL with its password or token blanked.
func (t Target) String() string { return t.shown }

// Compiled at first use, not at the start of every command of the binary.
var siteName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`) })

// IsURL reports whether s is a fleet address (-R nats://..., tls://...).
func IsURL(s string) bool {
	return strings.HasPrefix(s, "nats://") || strings.HasPrefix(s, "tls://")
}

// ParseURL parses
//
//	nats://[USER:PASSWORD@|TOKEN@]HOST:PORT[,HOST:PORT...][/SITES][?nkey=FILE&creds=FILE&ca=FILE&cert=FILE&key=FILE]
//
// (tls:// for TLS to the brokers; ca= also implies TLS). SITES is a comma-separated
// list of site names and patterns; with none, defaultSite (if not empty) is used.
func ParseURL(s, defaultSite string) (Target, error) {
	var t Target
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || scheme != "nats" && scheme != "tls" {
		return t, fmt.Errorf("%q: want nats://HOST:PORT[/SITE] (or tls://)", s)
	}
	t.tls = scheme == "tls"
	rest, rawQuery, _ := strings.Cut(rest, "?")
	hosts, sites, _ := strings.Cut(rest, "/")
	shownAuth := ""
	if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
		auth := hosts[:at]
		hosts = hosts[at+1:]
		if u, p, ok := strings.Cut(auth, ":"); ok {
			var err error
			if t.user, err = url.PathUnescape(u); err == nil {
				t.password, err = url.PathUnescape(p)
			}
			if err != nil {
				return t, fmt.Errorf("nats://%s: bad user or password escape", hosts)
			}
			shownAuth = u + ":***@"
		} else {
			t.token, _ = url.PathUnescape(auth)
			shownAuth = "***@"
		}
	}
	if hosts == "" {
		return t, fmt.Errorf("%s://%s%s: no broker address (want HOST:PORT)", scheme, shownAuth, hosts)
	}
	for _, h := range strings.Split(hosts, ",") {
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			return t, fmt.Errorf("%s://%s%s: broker %q: want HOST:PORT", scheme, shownAuth, hosts, h)
		}
		t.Servers = append(t.Servers, scheme+"://"+h)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return t, fmt.Errorf("%s://%s%s: bad query %q: %v", scheme, shownAuth, hosts, rawQuery, err)
	}
	for k := range q {
		switch k {
		case "nkey", "creds", "ca", "cert", "key":
		default:
			return t, fmt.Errorf("%s://%s%s: unknown parameter %q (want nkey, creds, ca, cert, key)", scheme, shownAuth, hosts, k)
		}
	}
	t.nkeyFile, t.credsFile = q.Get("nkey"), q.Get("creds")
	t.caFile, t.cert, t.key = q.Get("ca"), q.Get("cert"), q.Get("key")
	if (t.cert == "") != (t.key == "") {
		return t, fmt.Errorf("%s://%s%s: cert= and key= go together", scheme, shownAuth, hosts)
	}
	if t.caFile != "" || t.cert != "" {
		t.tls = true
	}
	if sites != "" {
		t.Sites = strings.Split(sites, ",")
	} else if defaultSite != "" {
		t.Sites = []string{defaultSite}
	}
	for _, p := range t.Sites {
		if _, err := path.Match(p, ""); err != nil || p == "" || strings.ContainsAny(p, ".> \t") {
			return t, fmt.Errorf("%s://%s%s/%s: bad site %q (a name of letters, digits, - and _, or a pattern with * ? [...])", scheme, shownAuth, hosts, sites, p)
		}
	}
	t.shown = scheme + "://" + shownAuth + hosts
	if sites != "" {
		t.shown += "/" + sites
	}
	return t, nil
}

// isPattern reports whether a site is a pattern rather than a name.
func isPattern(site string) bool { return strings.ContainsAny(site, "*?[") }

// ErrRefused is matched by the error of a connection the broker refused for want of
// credentials (or for wrong ones).
var ErrRefused = errors.New("the broker refused the credentials")

// connect connects to t's brokers with its credentials and TLS settings.
func connect(t Target, name string, reconnect bool, logf func(string, ...any)) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.Timeout(5 * time.Second)}
	if reconnect {
		opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					logf("NATS %s: disconnected (%v); reconnecting", t, err)
				}
			}),
			nats.ReconnectHandler(func(*nats.Conn) { logf("NATS %s: reconnected", t) }))
	} else {
		opts = append(opts, nats.NoReconnect())
	}
	switch {
	case t.user != "":
		opts = append(opts, nats.UserInfo(t.user, t.password))
	case t.token != "":
		opts = append(opts, nats.Token(t.token))
	}
	if t.nkeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(t.nkeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: nkey=%s: %w", t, t.nkeyFile, err)
		}
		opts = append(opts, o)
	}
	if t.credsFile != "" {
		opts = append(opts, nats.UserCredentials(t.credsFile))
	}
	if t.tls {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.caFile != "" {
			pem, err := os.ReadFile(t.caFile)
			if err != nil {
				return nil, fmt.Errorf("%s: ca=%w", t, err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s: ca=%s: no PEM certificate in it", t, t.caFile)
			}
		}
		if t.cert != "" {
			c, err := tls.LoadX509KeyPair(t.cert, t.key)
			if err != nil {
				return nil, fmt.Errorf("%s: cert=%s key=%s: %w", t, t.cert, t.key, err)
			}
			cfg.Certificates = []tls.Certificate{c}
		}
		opts = append(opts, nats.Secure(cfg))
	}
	nc, err := nats.Connect(strings.Join(t.Servers, ","), opts...)
	if err != nil {
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || strings.Contains(strings.ToLower(err.Error()), "authorization") {
			return nil, fmt.Errorf("%s: %w (%v)", t, ErrRefused, err)
		}
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	return nc, nil
}
