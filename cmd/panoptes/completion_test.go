package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"panoptes/internal/binarytest"
	"panoptes/internal/peer"
)

// shellEnv puts the test's panoptes binary on PATH as "panoptes" (the name the scripts
// complete) and writes the three scripts, as `panoptes completion SHELL` prints them.
func shellEnv(t *testing.T) (dir string, env []string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.Symlink(binarytest.Build(t), filepath.Join(dir, "panoptes")); err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir)
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, errs, code := panoptes(t, nil, "completion", sh)
		if code != 0 || errs != "" {
			t.Fatalf("completion %s: exit %d: %s", sh, code, errs)
		}
		if err := os.WriteFile(filepath.Join(dir, "panoptes."+sh), []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, env
}

func shell(t *testing.T, dir string, env []string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// The queries every shell answers, and the candidates each must include (and, for an
// empty want, offer none: the shell then completes file names).
var completionCases = []struct {
	line string // the command line up to the cursor
	want []string
	not  []string
}{
	{"panoptes re", []string{"read", "relay"}, []string{"sort"}},
	{"panoptes read --js", []string{"--json"}, nil},
	{"panoptes read -s stime,sa", []string{"stime,saddr", "stime,sappbytes"}, []string{"stime,daddr"}},
	{"panoptes cluster -m sp", []string{"sport", "spkts"}, nil},
	{"panoptes help fi", []string{"filter"}, nil},
	{"panoptes completion z", []string{"zsh"}, nil},
	{"panoptes bench ", []string{"loss"}, nil},
}

// TestCompletionShells loads each script into the real shell, checks its syntax and asks
// it to complete: subcommands, flags, field names after -s and -m.
func TestCompletionShells(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		peer.Need(t, sh, sh)
	}
	dir, env := shellEnv(t)
	// Syntax.
	shell(t, dir, env, "bash", "-n", "panoptes.bash")
	shell(t, dir, env, "zsh", "-n", "panoptes.zsh")
	shell(t, dir, env, "fish", "-n", "panoptes.fish")

	check := func(t *testing.T, sh, line string, got []string, want, not []string) {
		t.Helper()
		for _, w := range want {
			if !hasWord(got, w) {
				t.Errorf("%s: %q: no %q among %q", sh, line, w, got)
			}
		}
		for _, n := range not {
			if hasWord(got, n) {
				t.Errorf("%s: %q: %q offered: %q", sh, line, n, got)
			}
		}
	}
	t.Run("bash", func(t *testing.T) {
		for _, tc := range completionCases {
			out := shell(t, dir, env, "bash", "-c", `source ./panoptes.bash; COMP_LINE="$1"; COMP_POINT=${#1}; _panoptes; printf '%s\n' "${COMPREPLY[@]}"`, "bash", tc.line)
			check(t, "bash", tc.line, shellLines(out), tc.want, tc.not)
		}
		// bash splits words at "=": it is offered what follows.
		out := shell(t, dir, env, "bash", "-c", `source ./panoptes.bash; COMP_LINE="panoptes read --fields=sa"; COMP_POINT=${#COMP_LINE}; _panoptes; printf '%s\n' "${COMPREPLY[@]}"`)
		check(t, "bash", "--fields=sa", shellLines(out), []string{"saddr"}, []string{"--fields=saddr"})
		// After -r: nothing of ours, so that -o default completes file names.
		out = shell(t, dir, env, "bash", "-c", `source ./panoptes.bash; COMP_LINE="panoptes read -r "; COMP_POINT=${#COMP_LINE}; _panoptes; echo "${#COMPREPLY[@]}"; complete -p panoptes`)
		if !strings.HasPrefix(out, "0\n") || !strings.Contains(out, "-o default") {
			t.Errorf("bash after -r: %q, want no candidates and file completion", out)
		}
	})
	t.Run("zsh", func(t *testing.T) {
		// compinit as a user's .zshrc runs it; compadd and _files are replaced by
		// functions that print what the completion function hands them.
		const prelude = `autoload -Uz compinit; compinit -u -D; source ./panoptes.zsh
compadd() { local -a opts d; zparseopts -D -E -a opts Q l d:=d a; print -rl -- "${(@P)1}" }
_files() { print _files }
words=(${(z)1}); [[ $1 == *' ' ]] && words+=(''); CURRENT=${#words}; _panoptes`
		for _, tc := range completionCases {
			out := shell(t, dir, env, "zsh", "-f", "-c", prelude, "zsh", tc.line)
			check(t, "zsh", tc.line, shellLines(out), tc.want, tc.not)
		}
		out := shell(t, dir, env, "zsh", "-f", "-c", prelude, "zsh", "panoptes read -r ")
		check(t, "zsh", "read -r", shellLines(out), []string{"_files"}, nil)
	})
	t.Run("zsh interactive", func(t *testing.T) {
		// A real interactive zsh on a pseudo-terminal (zsh/zpty), with compinit and the
		// script, given TAB twice: the list it draws holds the candidates and their
		// descriptions, and the second TAB inserts one.
		const driver = `zmodload zsh/zpty
zpty z 'TERM=dumb zsh -f -i'
zpty -w z 'PS1="> "; autoload -Uz compinit; compinit -u -D; source ./panoptes.zsh'
zpty -w -n z $'panoptes read -s stime,sa\t'
local out all
integer i
# Read until what is awaited came (not for a fixed time: on a loaded machine
# compinit alone took more than a second), at most 12 s a step.
for (( i = 0; i < 120; i++ )); do
  while zpty -r -t z out; do all+=$out; done
  [[ $all == *SrcAddr* && $all == *SAppBytes* ]] && break
  sleep 0.1
done
zpty -w -n z $'\t'
for (( i = 0; i < 120; i++ )); do
  while zpty -r -t z out; do all+=$out; done
  [[ ${all##*"> panoptes read -s stime,sa"} == *ddr* ]] && break
  sleep 0.1
done
print -r -- "$all"
zpty -d z`
		if err := os.WriteFile(filepath.Join(dir, "driver.zsh"), []byte(driver), 0o644); err != nil {
			t.Fatal(err)
		}
		out := shell(t, dir, env, "timeout", "30", "zsh", "-f", "driver.zsh")
		for _, want := range []string{"stime,saddr  -- SrcAddr", "stime,sappbytes  -- SAppBytes"} {
			if !strings.Contains(out, want) {
				t.Errorf("interactive zsh: no %q in:\n%q", want, out)
			}
		}
		// The line redrawn after the list, then the first candidate's rest inserted (a
		// bell may come between).
		if i := strings.LastIndex(out, "> panoptes read -s stime,sa"); i < 0 || !strings.Contains(out[i:], "ddr") {
			t.Errorf("interactive zsh: the second TAB inserted no candidate:\n%q", out)
		}
	})
	t.Run("fish", func(t *testing.T) {
		for _, tc := range completionCases {
			out := shell(t, dir, env, "fish", "--no-config", "-c", `source ./panoptes.fish; complete -C"$argv[1]"`, tc.line)
			var got []string
			for _, l := range shellLines(out) {
				v, _, _ := strings.Cut(l, "\t")
				got = append(got, v)
			}
			check(t, "fish", tc.line, got, tc.want, tc.not)
		}
	})
}

func shellLines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func hasWord(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}
