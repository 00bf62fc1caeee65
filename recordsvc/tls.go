package recordsvc

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// ServerTLS builds the server side of TLS from PEM files: the server's certificate and
// key, and, if clientCA is not empty, the CA bundle that client certificates must chain
// to (clients without one are refused).
func ServerTLS(certFile, keyFile, clientCA string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCA != "" {
		pool, err := loadPool(clientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca %s: %w", clientCA, err)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientTLS builds the client side of TLS: caFile (empty: the system's roots) verifies
// the server; certFile and keyFile, if given, are the client's certificate.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := loadPool(caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca %s: %w", caFile, err)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("a client certificate needs both --tls-cert and --tls-key")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert %s / --tls-key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no PEM certificates in the file")
	}
	return pool, nil
}

// TLSServers says which of the servers given to -S are reached over TLS: those written
// tls://HOST:PORT; when none is written so, every one when tlsFlags (a --tls-ca,
// --tls-cert or --tls-key was given), else none. The result answers for each address
// as given, prefix included.
func TLSServers(servers []string, tlsFlags bool) func(server string) bool {
	anyPrefixed := slices.ContainsFunc(servers, func(s string) bool { return strings.HasPrefix(s, "tls://") })
	return func(server string) bool {
		if anyPrefixed {
			return strings.HasPrefix(server, "tls://")
		}
		return tlsFlags
	}
}
