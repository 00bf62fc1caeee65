package argus

import (
	"fmt"

	"panoptes/record"
)

// DecodeRecord decodes one Argus record held on its own (a FAR or MAR, header
// included, as a database's record column holds it) into r. It checks the header as
// ReadRaw does, so a damaged value is an error naming name, not a panic.
func DecodeRecord(b []byte, name string, r *record.Record) error {
	if len(b) < RecordHeaderLen {
		return fmt.Errorf("%s: %w: record of %d bytes", name, ErrDamaged, len(b))
	}
	n := int(u16(b, 2)) * 4
	typ, vers := b[0]&TypeMask, b[0]&VersionMask
	switch {
	case vers != Version3 && vers != Version5:
		return fmt.Errorf("%s: %w: record version %d (want 3)", name, ErrDamaged, vers)
	case n != len(b) || n < RecordHeaderLen:
		return fmt.Errorf("%s: %w: record length %d in a value of %d bytes", name, ErrDamaged, n, len(b))
	case typ == TypeMAR && n < MARLen:
		return fmt.Errorf("%s: %w: management record of %d bytes (want %d)", name, ErrDamaged, n, MARLen)
	case typ != TypeFAR && typ != TypeNetflow && typ != TypeMAR:
		return fmt.Errorf("%s: %w: record type %#x is neither a flow nor a management record", name, ErrDamaged, typ)
	}
	rd := Reader{name: name}
	return rd.decode(b, 0, r, &rd.Skipped, &rd.lastLabel)
}
