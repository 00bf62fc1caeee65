package anon

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadKey reads a key file: 64 hex digits (white space around them ignored) or 32 raw
// bytes.
func LoadKey(path string) ([KeySize]byte, error) {
	var k [KeySize]byte
	b, err := os.ReadFile(path)
	if err != nil {
		return k, err
	}
	if len(b) == KeySize {
		copy(k[:], b)
		return k, nil
	}
	s := strings.TrimSpace(string(b))
	if len(s) != 2*KeySize {
		return k, fmt.Errorf("%s: a key is %d hex digits or %d bytes, this file has %d bytes", path, 2*KeySize, KeySize, len(b))
	}
	if _, err := hex.Decode(k[:], []byte(s)); err != nil {
		return k, fmt.Errorf("%s: key is not hex: %v", path, err)
	}
	return k, nil
}

// LoadOrCreateKey reads the key file at path, or, if there is none, makes a random key
// and saves it there (mode 0600, as hex) and reports created = true.
func LoadOrCreateKey(path string) (k [KeySize]byte, created bool, err error) {
	k, err = LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	if _, err := rand.Read(k[:]); err != nil {
		return k, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return k, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return k, false, err
	}
	_, err = fmt.Fprintln(f, hex.EncodeToString(k[:]))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return k, false, err
	}
	return k, true, nil
}

// KeyFromSeed derives a key from ranonymize.conf's RANON_SEED, so that a configuration
// file alone gives repeatable results.
func KeyFromSeed(seed string) [KeySize]byte {
	a := sha256.Sum256([]byte("panoptes anon seed 1 " + seed))
	b := sha256.Sum256(append([]byte("panoptes anon seed 2 "), a[:]...))
	var k [KeySize]byte
	copy(k[:16], a[:16])
	copy(k[16:], b[:16])
	return k
}
