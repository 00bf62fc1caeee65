// Package dbtest starts real MariaDB and PostgreSQL servers for tests, each in its own
// temporary directory on a private socket, and stops them at the test's end. With CI
// set, a missing server program fails the test; elsewhere it skips it.
package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// need finds a server program, or fails (with CI set) or skips the test.
func need(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		if filepath.IsAbs(n) {
			if _, err := os.Stat(n); err == nil {
				return n
			}
		}
	}
	msg := fmt.Sprintf("%s not installed (apt-get install -y mariadb-server postgresql)", names[0])
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Server is a database server a test started in its own directory, on a private
// socket; Stop and Start restart it on the same data.
type Server struct {
	t       *testing.T
	dir     string
	Sock    string // MariaDB: the socket; PostgreSQL: the socket directory
	cmd     *exec.Cmd
	startFn func()
}

func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	// SIGTERM: MariaDB's normal shutdown; PostgreSQL's "smart" one waits for clients,
	// so it gets SIGINT ("fast": clients are cut off), as a restart by an operator does.
	sig := syscall.SIGTERM
	if s.isPG() {
		sig = syscall.SIGINT
	}
	_ = s.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

// Start starts a stopped server again on the same data.
func (s *Server) Start() { s.startFn() }

func (s *Server) isPG() bool {
	_, err := os.Stat(filepath.Join(s.dir, "data", "PG_VERSION"))
	return err == nil
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// StartMariaDB installs and starts a MariaDB server in a temporary directory, listening
// only on its own Unix socket, with root authenticated by socket as Debian's is.
func StartMariaDB(t *testing.T) *Server {
	install := need(t, "mariadb-install-db", "/usr/bin/mariadb-install-db")
	daemon := need(t, "mariadbd", "/usr/sbin/mariadbd")
	dir, err := os.MkdirTemp("", "q1my")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, dir: dir, Sock: filepath.Join(dir, "my.sock")}
	t.Cleanup(func() { s.Stop(); os.RemoveAll(dir) })
	run(t, install, "--no-defaults", "--user=root", "--datadir="+filepath.Join(dir, "data"), "--auth-root-authentication-method=socket", "--skip-test-db")
	s.startFn = func() {
		s.cmd = exec.Command(daemon, "--no-defaults", "--user=root", "--datadir="+filepath.Join(dir, "data"),
			"--socket="+s.Sock, "--skip-networking", "--pid-file="+filepath.Join(dir, "my.pid"),
			"--log-error="+filepath.Join(dir, "error.log"), "--innodb-buffer-pool-size=64M")
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c := mysql.NewConfig()
		c.User, c.Net, c.Addr = "root", "unix", s.Sock
		db, _ := sql.Open("mysql", c.FormatDSN())
		defer db.Close()
		for i := 0; ; i++ {
			if err := db.Ping(); err == nil {
				return
			} else if i > 300 {
				log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
				t.Fatalf("MariaDB did not start: %v\n%s", err, log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	s.startFn()
	return s
}

// StartPostgres initdb's and starts a PostgreSQL 15 server as user postgres (it refuses
// root), listening only on a socket in its own directory.
func StartPostgres(t *testing.T) *Server {
	bin := "/usr/lib/postgresql/15/bin"
	initdb := need(t, "initdb", filepath.Join(bin, "initdb"))
	daemon := need(t, "postgres", filepath.Join(bin, "postgres"))
	dir, err := os.MkdirTemp("", "q1pg")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, dir: dir, Sock: dir}
	t.Cleanup(func() { s.Stop(); os.RemoveAll(dir) })
	asPG := func(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal("running as root and no user postgres to run the server as:", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		asPG = func(name string, args ...string) *exec.Cmd {
			c := exec.Command(name, args...)
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
			return c
		}
	}
	if out, err := asPG(initdb, "-D", filepath.Join(dir, "data"), "-U", "postgres", "--auth=trust", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.startFn = func() {
		s.cmd = asPG(daemon, "-D", filepath.Join(dir, "data"), "-k", dir, "-c", "listen_addresses=", "-c", "fsync=off")
		if err := s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cfg, _ := pgx.ParseConfig("postgres://postgres@/postgres?host=" + dir)
		for i := 0; ; i++ {
			c, err := pgx.ConnectConfig(context.Background(), cfg)
			if err == nil {
				c.Close(context.Background())
				return
			} else if i > 300 {
				t.Fatalf("PostgreSQL did not start: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	s.startFn()
	return s
}
