package tools

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"panoptes/internal/cli"
	"panoptes/record"
	"panoptes/tools/anon"
)

const anonUsage = "-r FILE [-r FILE]... [-w OUT] [--key-file KEY] [-f ranonymize.conf] [--time-offset D] [--srcid] [read output options] [-- FILTER]"

// AnonMain is `panoptes anon`, Argus's ranonymize: records that pass the filter are
// anonymized (Crypto-PAn addresses, permuted ports, shifted times and sequence numbers,
// MAC station parts; see package anon) and written with -w, or printed.
//
// The key comes from --key-file (created with a random key if the file does not
// exist), else from RANON_SEED in the -f file, else from the user's default key file.
func AnonMain(args []string, stdin io.Reader, stdout, stderr io.Writer) (result error) {
	fs := cli.NewFlagSet("anon", anonUsage, stderr)
	var c common
	defer c.partialStatus(&result) // -R nats://: some sites did not answer
	c.register(fs)
	var keyFile, confFile, timeOffset string
	var srcid bool
	fs.StringVar(&keyFile, "key-file", "", "read the 32-byte anonymization key from `FILE` (64 hex digits); a missing file is created with a new random key")
	fs.StringVarP(&confFile, "config", "f", "", "ranonymize.conf-style `FILE` of RANON_* directives")
	fs.StringVar(&timeOffset, "time-offset", "", "add `D` to every time (a Go duration such as -8760h, or seconds); default: an offset derived from the key")
	fs.BoolVar(&srcid, "srcid", false, "anonymize source ids too (as IPv4 addresses, with Crypto-PAn)")
	flt, o, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	cfg := anon.DefaultConfig()
	if confFile != "" {
		f, err := os.Open(confFile)
		if err != nil {
			return &cli.UsageError{Err: err}
		}
		var warnings []string
		cfg, warnings, err = anon.ParseConfig(f, confFile)
		f.Close()
		if err != nil {
			return &cli.UsageError{Err: err}
		}
		for _, w := range warnings {
			fmt.Fprintf(stderr, "panoptes anon: warning: %s\n", w)
		}
	}
	if srcid {
		cfg.SrcID = true
	}
	if timeOffset != "" {
		d, err := parseOffsetFlag(timeOffset)
		if err != nil {
			return err
		}
		cfg.Time = anon.Offset{Mode: anon.OffsetFixed, Fixed: d}
	}
	key, err := anonKey(keyFile, cfg.Seed, stderr)
	if err != nil {
		return err
	}
	an, err := anon.New(key, cfg)
	if err != nil {
		return err
	}
	out, err := newSink(&c, o, stdout)
	if err != nil {
		return err
	}
	return copyRecords("anon", &c, flt, out, func(r *record.Record) error { an.Record(r); return nil }, stdin, stderr)
}

// parseOffsetFlag parses --time-offset: a Go duration or a number of seconds.
func parseOffsetFlag(s string) (int64, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return int64(d), nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && f > -1e10 && f < 1e10 {
		return int64(f * 1e9), nil
	}
	return 0, cli.Usagef("--time-offset %q: want a duration (-8760h, 90m) or seconds", s)
}

// anonKey finds the key: --key-file (made if missing), RANON_SEED, or the user's
// default key file (made if missing). Making a key is said on stderr: the user must
// keep it to anonymize other files the same way.
func anonKey(keyFile, seed string, stderr io.Writer) ([anon.KeySize]byte, error) {
	if keyFile == "" && seed != "" {
		return anon.KeyFromSeed(seed), nil
	}
	if keyFile == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return [anon.KeySize]byte{}, cli.Usagef("no --key-file given and no user configuration directory: %v", err)
		}
		keyFile = filepath.Join(dir, "panoptes", "anon.key")
	}
	k, created, err := anon.LoadOrCreateKey(keyFile)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || !errors.Is(err, fs.ErrNotExist) {
			return k, &cli.UsageError{Err: fmt.Errorf("--key-file: %w", err)}
		}
		return k, err
	}
	if created {
		fmt.Fprintf(stderr, "panoptes anon: generated a new key in %s (keep it: the same key maps addresses the same way in other files)\n", keyFile)
	}
	return k, nil
}
