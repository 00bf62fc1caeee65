// Package sqlrepo writes flow records into MySQL/MariaDB and PostgreSQL tables: the
// database archive of Argus's rasqlinsert, named by URLs such as
// mysql://USER[:PASS]@HOST[:PORT]/DB/TABLE and postgres://USER@HOST/DB/TABLE.
package sqlrepo

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Kind is the database a URL names.
type Kind int

const (
	MySQL Kind = iota + 1
	Postgres
)

// Target is a parsed database URL.
type Target struct {
	Kind     Kind
	User     string
	Password string // from the URL, or MYSQL_PWD / PGPASSWORD; never printed
	Host     string // "" or "localhost" with MySQL: the server's Unix socket
	Port     string
	DB       string
	Table    string     // may hold %Y %m %d %H
	Params   url.Values // libpq-style parameters (postgres), or the driver's (mysql)
	redacted string
}

// IsURL reports whether s names a database (rather than a file or archive).
func IsURL(s string) bool {
	for _, p := range []string{"mysql://", "postgres://", "postgresql://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Parse parses a database URL. Errors name the URL with any password replaced by "xxx".
func Parse(s string) (*Target, error) {
	// %Y %m %d %H in the table name are conversions, not URL escapes.
	u, err := url.Parse(strings.NewReplacer("%Y", "%25Y", "%m", "%25m", "%d", "%25d", "%H", "%25H").Replace(s))
	if err != nil {
		// url's own error repeats the URL, password included.
		return nil, fmt.Errorf("%s: not a valid URL", redact(s))
	}
	t := &Target{Params: u.Query(), redacted: redact(s)}
	switch u.Scheme {
	case "mysql":
		t.Kind = MySQL
		t.Password = os.Getenv("MYSQL_PWD")
	case "postgres", "postgresql":
		t.Kind = Postgres
		t.Password = os.Getenv("PGPASSWORD")
	default:
		return nil, fmt.Errorf("%s: unknown scheme %q (have: mysql, postgres, postgresql)", t.redacted, u.Scheme)
	}
	if u.User != nil {
		t.User = u.User.Username()
		if p, ok := u.User.Password(); ok {
			t.Password = p
		}
	}
	t.Host, t.Port = u.Hostname(), u.Port()
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("%s: want %s://USER@HOST/DB/TABLE (database and table)", t.redacted, u.Scheme)
	}
	t.DB, t.Table = parts[0], parts[1]
	if err := checkIdent(t.DB); err != nil {
		return nil, fmt.Errorf("%s: database: %w", t.redacted, err)
	}
	if err := checkIdent(strings.NewReplacer("%Y", "", "%m", "", "%d", "", "%H", "").Replace(t.Table)); err != nil {
		return nil, fmt.Errorf("%s: table: %w", t.redacted, err)
	}
	return t, nil
}

// String is the URL with any password replaced by "xxx".
func (t *Target) String() string { return t.redacted }

// checkIdent allows the names a table or database may have unquoted: letters, digits,
// '_' and '$'. The names are put into SQL text, so nothing else is let through.
func checkIdent(s string) error {
	if s == "" {
		return fmt.Errorf("empty name")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Errorf("%q: only letters, digits, _ and $ (and %%Y %%m %%d %%H in a table name)", s)
		}
	}
	if len(s) > 60 {
		return fmt.Errorf("%q: longer than 60 characters", s)
	}
	return nil
}

// redact hides the password of a URL for printing: in the authority (from "//" to the
// next '/', '?' or '#'), what follows the first ':' of the user info (up to its last
// '@').
func redact(s string) string {
	i := strings.Index(s, "//")
	if i < 0 {
		return s
	}
	auth := s[i+2:]
	if end := strings.IndexAny(auth, "/?#"); end >= 0 {
		auth = auth[:end]
	}
	at := strings.LastIndex(auth, "@")
	if at < 0 {
		return s
	}
	c := strings.Index(auth[:at], ":")
	if c < 0 {
		return s
	}
	return s[:i+2] + auth[:c] + ":xxx" + s[i+2+at:]
}

// binSize is the span of one table: an hour if the name holds %H, a day if it holds %d,
// else 0 (one table, records not cut). A name with only %Y or %m is cut at days as
// well: a piece within a day lies within its month.
func (t *Target) binSize() time.Duration {
	switch {
	case strings.Contains(t.Table, "%H"):
		return time.Hour
	case strings.Contains(t.Table, "%d"), strings.Contains(t.Table, "%m"), strings.Contains(t.Table, "%Y"):
		return 24 * time.Hour
	}
	return 0
}

// tableName expands the table template for a bin starting at ns (local time, as split
// and rasqlinsert name their files and tables).
func (t *Target) tableName(b []byte, ns int64) []byte {
	tm := time.Unix(0, ns)
	s := t.Table
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			switch s[i+1] {
			case 'Y':
				b = tm.AppendFormat(b, "2006")
			case 'm':
				b = tm.AppendFormat(b, "01")
			case 'd':
				b = tm.AppendFormat(b, "02")
			case 'H':
				b = tm.AppendFormat(b, "15")
			default:
				b = append(b, s[i], s[i+1])
			}
			i++
			continue
		}
		b = append(b, s[i])
	}
	return b
}
