package label

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// MMDB is a MaxMind-format database (GeoLite2/GeoIP2 Country or ASN, or another with
// the same fields): it gives an address's AS number and country, whichever it holds.
type MMDB struct {
	name string
	db   *maxminddb.Reader
}

// geo is the part of a MaxMind record Panoptes uses.
type geo struct {
	ASN     uint32 `maxminddb:"autonomous_system_number"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Registered struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
}

// OpenMMDB opens a MaxMind database file and checks its search tree and data section.
func OpenMMDB(path string) (*MMDB, error) {
	db, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable MaxMind database: %w", path, err)
	}
	if err := db.Verify(); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: damaged MaxMind database: %w", path, err)
	}
	return &MMDB{name: path, db: db}, nil
}

// Close releases the database.
func (m *MMDB) Close() error { return m.db.Close() }

// Lookup returns the country (zero if unknown) and AS number (0 if unknown) of a.
func (m *MMDB) Lookup(a netip.Addr) ([2]byte, uint32, error) {
	var g geo
	if err := m.db.Lookup(a).Decode(&g); err != nil {
		return [2]byte{}, 0, fmt.Errorf("%s: looking up %s: %w", m.name, a, err)
	}
	cc := g.Country.ISOCode
	if cc == "" {
		cc = g.Registered.ISOCode
	}
	var code [2]byte
	if len(cc) == 2 {
		code = [2]byte{cc[0], cc[1]}
	}
	return code, g.ASN, nil
}
