// Package labeltest builds small MaxMind databases for tests, so that no test
// downloads one. Only tests import it; the panoptes binary does not link it.
package labeltest

import (
	"net"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Entry is what a test database says about one network.
type Entry struct {
	Network string // CIDR
	Country string // ISO code, or ""
	ASN     uint32 // or 0
}

// WriteMMDB writes a MaxMind database holding entries to path.
func WriteMMDB(path string, entries []Entry) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "Panoptes-Test", RecordSize: 24, IncludeReservedNetworks: true,
		Description: map[string]string{"en": "Panoptes test database"}})
	if err != nil {
		return err
	}
	for _, e := range entries {
		_, n, err := net.ParseCIDR(e.Network)
		if err != nil {
			return err
		}
		m := mmdbtype.Map{}
		if e.ASN != 0 {
			m["autonomous_system_number"] = mmdbtype.Uint32(e.ASN)
			m["autonomous_system_organization"] = mmdbtype.String("test AS")
		}
		if e.Country != "" {
			m["country"] = mmdbtype.Map{"iso_code": mmdbtype.String(e.Country)}
		}
		if err := tree.Insert(n, m); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
